"""The records document stages pass through the run workspace, and their JSONL files.

The document IR is what both PDF converters (pypdf here, MinerU on GPU
nodes) and the text parser write, so everything after them is the same::

    {"doc_id", "job_id", "title", "source", "engine", "pages",
     "sections": [{"heading", "text", "page"}], "text", "metadata"}
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from pipeline_factory import settings
from pipeline_factory.workspace import atomic_temp

DOCUMENTS_FILE = "documents.jsonl"
CHUNKS_FILE = "chunks.jsonl"


def write_jsonl(path: Path, records: Iterable[dict[str, Any]]) -> int:
    """Write all records or none: a crashed stage leaves the previous file, never half of one."""
    fd, tmp = atomic_temp(path)
    count = 0
    try:
        with os.fdopen(fd, "w") as handle:
            for record in records:
                handle.write(json.dumps(record, ensure_ascii=False, default=str))
                handle.write("\n")
                count += 1
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return count


def read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    with path.open() as handle:
        for line in handle:
            line = line.strip()
            if line:
                yield json.loads(line)


def make_ir(
    *,
    doc_id: str,
    job_id: str,
    title: str,
    sections: list[dict[str, Any]],
    source: str = "",
    engine: str,
    pages: int | None = None,
    metadata: dict[str, Any] | None = None,
) -> dict[str, Any]:
    text = "\n\n".join(s["text"] for s in sections if s.get("text"))
    return {
        "doc_id": doc_id,
        "job_id": job_id,
        "title": title,
        "source": source,
        "engine": engine,
        "pages": pages,
        "sections": sections,
        "text": text,
        "metadata": metadata or {},
    }


def data_relative(path: Path) -> str:
    """A path as stored in the ledger: relative to the data dir, which every runtime mounts somewhere else."""
    try:
        return str(path.resolve().relative_to(settings.data_dir()))
    except ValueError:
        return str(path.resolve())


def from_data_dir(stored: str) -> Path:
    path = Path(stored)
    return path if path.is_absolute() else settings.data_dir() / path


def project_path(value: str) -> Path:
    """A path from a spec: absolute, or relative to the project root."""
    path = Path(value)
    return path if path.is_absolute() else settings.PROJECT_ROOT / path
