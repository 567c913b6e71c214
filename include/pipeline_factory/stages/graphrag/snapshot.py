"""The JSON snapshot of everything collected: the source of truth the stores are rebuilt from.

``<data_dir>/graphrag/``::

    current/papers.json       pmid -> paper (merged view, every run)
    current/genes.json        gene id -> gene
    runs/<run id>/papers.json this run's new papers (and genes.json)
    watermarks.json           term -> the window end of its last successful run

Updates take an exclusive file lock and replace files atomically, so a killed
task leaves the previous view intact and two writers never interleave.
"""

from __future__ import annotations

import fcntl
import json
import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pipeline_factory.workspace import safe_run_id, write_json_atomic

log = logging.getLogger(__name__)


def _read(path: Path, default: Any) -> Any:
    if not path.exists():
        return default
    return json.loads(path.read_text())


class Snapshot:
    def __init__(self, data_dir: Path):
        self.root = data_dir / "graphrag"
        self.current = self.root / "current"
        self.current.mkdir(parents=True, exist_ok=True)

    @contextmanager
    def locked(self) -> Iterator[None]:
        with open(self.root / ".lock", "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            yield

    # -- current view ----------------------------------------------------------------

    def papers(self) -> dict[str, dict[str, Any]]:
        return _read(self.current / "papers.json", {})

    def genes(self) -> dict[str, dict[str, Any]]:
        return _read(self.current / "genes.json", {})

    def merge_papers(self, papers: Mapping[str, dict[str, Any]]) -> int:
        """Add or replace papers in the current view; returns the view's size."""
        with self.locked():
            view = self.papers()
            for pmid, paper in papers.items():
                # Gene links found earlier survive a re-fetch of the paper itself.
                old = view.get(pmid)
                if old and "gene_ids" in old and "gene_ids" not in paper:
                    paper = {**paper, "gene_ids": old["gene_ids"]}
                view[pmid] = paper
            write_json_atomic(self.current / "papers.json", view)
            return len(view)

    def merge_genes(self, genes: Mapping[str, dict[str, Any]], links: Mapping[str, list[str]]) -> int:
        """Add genes and record each paper's gene ids (only genes kept by the organism filter)."""
        with self.locked():
            view = self.genes()
            view.update(genes)
            write_json_atomic(self.current / "genes.json", view)
            papers = self.papers()
            for pmid, gene_ids in links.items():
                if pmid in papers:
                    papers[pmid]["gene_ids"] = sorted({g for g in gene_ids if g in view})
            write_json_atomic(self.current / "papers.json", papers)
            return len(view)

    # -- per run ---------------------------------------------------------------------

    def run_dir(self, run_id: str) -> Path:
        path = self.root / "runs" / safe_run_id(run_id)
        path.mkdir(parents=True, exist_ok=True)
        return path

    def write_run(self, run_id: str, name: str, payload: Any) -> Path:
        path = self.run_dir(run_id) / name
        write_json_atomic(path, payload)
        return path

    def merge_run(self, run_id: str, name: str, entries: Mapping[str, Any]) -> Path:
        """Add entries to a run's file under the lock: the tasks of a fan-out (one per term) share the file."""
        path = self.run_dir(run_id) / name
        with self.locked():
            write_json_atomic(path, {**_read(path, {}), **entries})
        return path

    # -- watermarks ------------------------------------------------------------------

    def watermarks(self) -> dict[str, str]:
        return _read(self.root / "watermarks.json", {})

    def commit_watermarks(self, marks: Mapping[str, str]) -> dict[str, str]:
        with self.locked():
            current = self.watermarks()
            current.update(marks)
            write_json_atomic(self.root / "watermarks.json", current)
            return current
