"""Qdrant access for the pipelines: collections, batched upserts, id listings.

``QDRANT_URL`` selects a Qdrant server; otherwise Qdrant's local mode keeps
the collections in ``<data_dir>/qdrant``.  Local mode takes a file lock, so
only one process may open it at a time: stages that use it run in the 1-slot
Airflow pool ``qdrant_local``.  Point ids are uuid5 of a stable key, so
re-upserting the same record replaces it instead of adding a copy.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from pipeline_factory import settings

log = logging.getLogger(__name__)

_NAMESPACE = uuid.UUID("6f1f8e2c-5d1b-4f43-9a52-1c3f4f0e7a10")

Point = tuple[str, Sequence[float], dict[str, Any]]


def point_id(key: str) -> str:
    """The point id for a record key (for example ``pubmed:12345``): the same key, the same id."""
    return str(uuid.uuid5(_NAMESPACE, key))


class VectorStore:
    def __init__(self, *, url: str | None = None, path: Path | None = None, api_key: str | None = None):
        from qdrant_client import QdrantClient

        if url:
            self._client = QdrantClient(url=url, api_key=api_key)
            self.location = url
        else:
            path = Path(path or settings.data_dir() / "qdrant")
            path.mkdir(parents=True, exist_ok=True)
            self._client = QdrantClient(path=str(path))
            self.location = str(path)

    @classmethod
    def from_env(cls) -> VectorStore:
        """``QDRANT_URL`` (+ ``QDRANT_API_KEY``) for a server, else local mode in ``<data_dir>/qdrant``."""
        url = os.environ.get("QDRANT_URL") or None
        return cls(url=url, api_key=os.environ.get("QDRANT_API_KEY") or None)

    @property
    def client(self):
        return self._client

    def ensure_collection(self, name: str, dim: int, recreate: bool = False) -> None:
        from qdrant_client import models

        exists = self._client.collection_exists(name)
        if exists and recreate:
            self._client.delete_collection(name)
            exists = False
        if not exists:
            self._client.create_collection(
                name, vectors_config=models.VectorParams(size=dim, distance=models.Distance.COSINE)
            )

    def upsert(self, name: str, points: Sequence[Point], batch_size: int = 256) -> int:
        from qdrant_client import models

        written = 0
        for start in range(0, len(points), batch_size):
            batch = [
                models.PointStruct(id=pid, vector=list(vector), payload=payload)
                for pid, vector, payload in points[start : start + batch_size]
            ]
            self._client.upsert(name, points=batch, wait=True)
            written += len(batch)
        return written

    def ids(self, name: str) -> set[str]:
        found: set[str] = set()
        offset = None
        while True:
            records, offset = self._client.scroll(
                name, limit=1000, offset=offset, with_payload=False, with_vectors=False
            )
            found.update(str(r.id) for r in records)
            if offset is None:
                return found

    def payloads(self, name: str, fields: Sequence[str] | None = None) -> dict[str, dict[str, Any]]:
        """id -> payload (only ``fields`` when given), for consistency checks."""
        from qdrant_client import models

        selector: Any = models.PayloadSelectorInclude(include=list(fields)) if fields else True
        found: dict[str, dict[str, Any]] = {}
        offset = None
        while True:
            records, offset = self._client.scroll(
                name, limit=1000, offset=offset, with_payload=selector, with_vectors=False
            )
            found.update({str(r.id): dict(r.payload or {}) for r in records})
            if offset is None:
                return found

    def delete(self, name: str, ids: Iterable[str]) -> int:
        from qdrant_client import models

        ids = list(ids)
        if ids:
            self._client.delete(name, points_selector=models.PointIdsList(points=ids), wait=True)
        return len(ids)

    def count(self, name: str) -> int:
        if not self._client.collection_exists(name):
            return 0
        return int(self._client.count(name, exact=True).count)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> VectorStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
