"""Qdrant access for the pipelines: collections, batched upserts, id listings, search.

``QDRANT_URL`` selects a Qdrant server (through qdrant-client).  Otherwise
the collections live in ``<data_dir>/qdrant`` in an embedded engine chosen by
``PIPELINE_VECTOR_ENGINE``:

* ``edge`` (default) - Qdrant Edge, Qdrant's own engine in-process
  (``stores/qdrant_edge.py``), shards under ``<data_dir>/qdrant/edge/``;
* ``local`` - qdrant-client's local mode, a pure-Python stand-in (the
  collections directly under ``<data_dir>/qdrant``).

The two embedded engines keep separate folders, so switching engines starts
from empty collections (the consistency check's repair, or a full rebuild,
fills them).  Both take a lock, so only one process writes at a time: stages
that use them run in the 1-slot Airflow pool ``qdrant_local``.  Point ids
are uuid5 of a stable key, so re-upserting the same record replaces it
instead of adding a copy.
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


ENGINES = ("edge", "local")


def embedded_engine() -> str:
    """``PIPELINE_VECTOR_ENGINE`` (``edge`` or ``local``), default ``edge``."""
    engine = (os.environ.get("PIPELINE_VECTOR_ENGINE") or "edge").strip().lower()
    if engine not in ENGINES:
        from pipeline_factory.exceptions import ConfigError

        raise ConfigError(f"PIPELINE_VECTOR_ENGINE={engine!r} is not a vector engine; expected one of edge, local")
    return engine


class VectorStore:
    """One interface over a Qdrant server, Qdrant Edge and qdrant-client's local mode."""

    def __init__(
        self,
        *,
        url: str | None = None,
        path: Path | None = None,
        api_key: str | None = None,
        engine: str | None = None,
    ):
        self._edge: Any = None
        self._client: Any = None
        if url:
            from qdrant_client import QdrantClient

            self._client = QdrantClient(url=url, api_key=api_key)
            self.engine = "server"
            self.location = url
            return
        path = Path(path or settings.data_dir() / "qdrant")
        path.mkdir(parents=True, exist_ok=True)
        self.engine = engine or embedded_engine()
        if self.engine == "edge":
            from pipeline_factory.stores.qdrant_edge import EdgeEngine

            self._edge = EdgeEngine(path)
            self.location = self._edge.location
        else:
            from qdrant_client import QdrantClient

            self._client = QdrantClient(path=str(path))
            self.location = str(path)

    @classmethod
    def from_env(cls) -> VectorStore:
        """``QDRANT_URL`` (+ ``QDRANT_API_KEY``) for a server, else local mode in ``<data_dir>/qdrant``."""
        url = os.environ.get("QDRANT_URL") or None
        return cls(url=url, api_key=os.environ.get("QDRANT_API_KEY") or None)

    @property
    def client(self):
        """The qdrant-client (server and local mode only)."""
        if self._client is None:
            raise AttributeError("the Qdrant Edge engine has no qdrant-client")
        return self._client

    def collection_exists(self, name: str) -> bool:
        if self._edge is not None:
            return self._edge.collection_exists(name)
        return bool(self._client.collection_exists(name))

    def ensure_collection(self, name: str, dim: int, recreate: bool = False) -> None:
        if self._edge is not None:
            return self._edge.ensure_collection(name, dim, recreate)
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
        """Write ``points`` (id, vector: a list or a numpy row, payload); returns how many."""
        if self._edge is not None:
            return self._edge.upsert(name, points, batch_size)
        import numpy as np
        from qdrant_client import models

        written = 0
        for start in range(0, len(points), batch_size):
            part = points[start : start + batch_size]
            vectors = np.asarray([p[1] for p in part], dtype=np.float32).tolist()  # one conversion per batch
            batch = [
                models.PointStruct(id=pid, vector=vector, payload=payload)
                for (pid, _, payload), vector in zip(part, vectors, strict=True)
            ]
            self._client.upsert(name, points=batch, wait=True)
            written += len(batch)
        return written

    def ids(self, name: str) -> set[str]:
        if self._edge is not None:
            return self._edge.ids(name)
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
        if self._edge is not None:
            return self._edge.payloads(name, fields)
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
        if ids and self._edge is not None:
            self._edge.delete(name, ids)
        elif ids:
            self._client.delete(name, points_selector=models.PointIdsList(points=list(ids)), wait=True)
        return len(ids)

    def count(self, name: str) -> int:
        if self._edge is not None:
            return self._edge.count(name)
        if not self._client.collection_exists(name):
            return 0
        return int(self._client.count(name, exact=True).count)

    def search(self, name: str, vector: Sequence[float], limit: int = 10) -> list[tuple[str, float, dict[str, Any]]]:
        """The ``limit`` nearest points by cosine: (id, score, payload), best first."""
        if self._edge is not None:
            return self._edge.search(name, vector, limit)
        hits = self._client.query_points(name, query=[float(x) for x in vector], limit=limit, with_payload=True)
        return [(str(p.id), float(p.score), dict(p.payload or {})) for p in hits.points]

    def vectors(self, name: str, ids: Sequence[str]) -> dict[str, list[float]]:
        """id -> stored vector for those of ``ids`` the collection holds (missing ids are left out)."""
        if self._edge is not None:
            return self._edge.vectors(name, ids)
        if not ids or not self._client.collection_exists(name):
            return {}
        records = self._client.retrieve(name, ids=list(ids), with_vectors=True)
        return {str(r.id): [float(x) for x in r.vector] for r in records if isinstance(r.vector, list)}

    def close(self) -> None:
        if self._edge is not None:
            self._edge.close()
        else:
            self._client.close()

    def __enter__(self) -> VectorStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
