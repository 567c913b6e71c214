"""Source adapters for ``ingest``: where documents come from.

Each adapter yields plain records ``{"doc_id", "title", "text", "sections"?,
"pdf_url"?, "source", "metadata"}``; ``ingest`` does the rest.  A record
without a usable id gets one from its content, so re-reading the same source
gives the same ids (and the same job ids, chunk ids and point ids).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pipeline_factory.exceptions import InputRefused, StageError

log = logging.getLogger(__name__)

ID_KEYS = ("doc_id", "id", "pmid", "doi")
TEXT_KEYS = ("text", "abstract", "body", "content")
TEXT_SUFFIXES = (".txt", ".md")


def normalise(raw: dict[str, Any], *, source: str) -> dict[str, Any]:
    """One record in the shape ``ingest`` writes, whatever the source called its fields."""
    doc_id = next((str(raw[k]) for k in ID_KEYS if raw.get(k) not in (None, "")), None)
    text = next((str(raw[k]) for k in TEXT_KEYS if raw.get(k)), "")
    title = str(raw.get("title") or "").strip()
    if doc_id is None:
        digest = hashlib.sha256(f"{title}\n{text}\n{raw.get('pdf_url', '')}".encode()).hexdigest()[:16]
        doc_id = f"doc-{digest}"
    known = {*ID_KEYS, *TEXT_KEYS, "title", "sections", "pdf_url", "pdf_sha256"}
    record = {
        "doc_id": doc_id,
        "title": title,
        "text": text,
        "source": source,
        "metadata": {k: v for k, v in raw.items() if k not in known},
    }
    if isinstance(raw.get("sections"), list):
        record["sections"] = raw["sections"]
    for key in ("pdf_url", "pdf_sha256"):
        if raw.get(key):
            record[key] = str(raw[key])
    return record


def read_folder(folder: Path, pattern: str = "*") -> Iterator[dict[str, Any]]:
    """``.json`` (one object or a list), ``.jsonl`` (one object a line), ``.txt``/``.md`` (title = first line)."""
    if not folder.is_dir():
        raise StageError(f"source folder {folder} does not exist")
    if Path(pattern).is_absolute() or ".." in Path(pattern).parts:
        raise InputRefused(f"pattern {pattern!r} refused: it reaches out of the source folder", what="pattern",
                           reason="outside roots")
    root = folder.resolve()
    for path in sorted(folder.glob(pattern)):
        if not path.is_file():
            continue
        if not path.resolve().is_relative_to(root):
            log.warning("skipping %s: a link to outside the source folder", path.name)
            continue
        source = f"file:{path.name}"
        suffix = path.suffix.lower()
        if suffix == ".jsonl":
            for number, line in enumerate(path.read_text().splitlines(), 1):
                if line.strip():
                    yield normalise(_object(json.loads(line), f"{path}:{number}"), source=f"{source}:{number}")
        elif suffix == ".json":
            payload = json.loads(path.read_text())
            items = payload if isinstance(payload, list) else payload.get("documents", [payload])
            for item in items:
                yield normalise(_object(item, str(path)), source=source)
        elif suffix in TEXT_SUFFIXES:
            text = path.read_text().strip()
            title, _, body = text.partition("\n")
            yield normalise(
                {"doc_id": path.stem, "title": title.lstrip("# ").strip(), "text": body.strip()}, source=source
            )
        else:
            log.info("skipping %s: not .json, .jsonl, .txt or .md", path.name)


#: The service name of HTTP JSON sources; their guards (breakers, limiters) are per host: ``http-json:<host>``.
HTTP_JSON_SERVICE = "http-json"


def read_http_json(url: str, *, timeout: float = 30.0) -> list[dict[str, Any]]:
    """A JSON list of documents (or ``{"documents": [...]}``) from an HTTP endpoint."""
    import httpx

    from pipeline_factory.boundaries.urls import guarded_client
    from pipeline_factory.sources.http import check_status, transport_failure

    try:
        with guarded_client(timeout=timeout, follow_redirects=True, headers={"Accept": "application/json"}) as client:
            response = client.get(url)
    except httpx.TransportError as exc:
        raise transport_failure(exc, service="http_json", what=url) from exc
    check_status(response.status_code, response.headers, service="http_json", what=url)
    payload = response.json()
    items = payload if isinstance(payload, list) else payload.get("documents", [])
    return [normalise(_object(item, url), source=url) for item in items]


def _object(item: Any, where: str) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise StageError(f"{where}: a document must be a JSON object, not {type(item).__name__}")
    return item
