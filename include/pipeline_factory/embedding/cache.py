"""A content-addressed embedding cache: nothing is embedded twice by the same model.

The key is the model id (model name, weights fingerprint and backend variant,
see ``pipeline_factory.embedding``) plus the SHA-256 of the normalised text
(Unicode NFC, runs of whitespace as one space, trimmed; the tokenizers of
the shipped models see no difference either way).  A changed text or a
changed model is a miss; everything else is a hit and returns the exact
float32 vector stored the first time, so reruns and rebuilds write
identical vectors.

The cache is one SQLite file, ``<data dir>/embedding_cache.sqlite`` by
default (``PIPELINE_EMBEDDING_CACHE`` names another file, ``off`` disables
it), in WAL mode so that several workers can read while one writes.  Misses
are written in slices as they are embedded, so a crash half-way through a
stage keeps what was already computed and the retry embeds only the rest.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import sqlite3
import threading
import unicodedata
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

_SPACES = re.compile(r"\s+")
_SELECT_CHUNK = 500
#: misses are embedded and committed this many at a time (what a crash can lose)
WRITE_SLICE = 2048


def normalise(text: str) -> str:
    return _SPACES.sub(" ", unicodedata.normalize("NFC", text)).strip()


def text_key(text: str) -> bytes:
    return hashlib.sha256(normalise(text).encode("utf-8")).digest()


def default_path() -> Path | None:
    """The cache file from ``PIPELINE_EMBEDDING_CACHE`` (``off``: none), else in the data dir."""
    from pipeline_factory import settings

    value = (os.environ.get("PIPELINE_EMBEDDING_CACHE") or "").strip()
    if value.lower() in {"off", "none", "0", "false"}:
        return None
    return Path(value) if value else settings.data_dir() / "embedding_cache.sqlite"


class EmbeddingCache:
    """model id + text hash -> float32 vector, in one SQLite file."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        with self._connect() as db:
            db.execute(
                "CREATE TABLE IF NOT EXISTS embeddings ("
                " model TEXT NOT NULL, key BLOB NOT NULL, dim INTEGER NOT NULL, vector BLOB NOT NULL,"
                " PRIMARY KEY (model, key)) WITHOUT ROWID"
            )

    def _connect(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, timeout=60)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            self._local.db = db
        return db

    def get(self, model: str, keys: Sequence[bytes]) -> dict[bytes, np.ndarray]:
        db = self._connect()
        found: dict[bytes, np.ndarray] = {}
        unique = list(dict.fromkeys(keys))
        for start in range(0, len(unique), _SELECT_CHUNK):
            part = unique[start : start + _SELECT_CHUNK]
            marks = ",".join("?" * len(part))
            rows = db.execute(
                f"SELECT key, dim, vector FROM embeddings WHERE model = ? AND key IN ({marks})", (model, *part)
            )
            for key, dim, blob in rows:
                vector = np.frombuffer(blob, dtype=np.float32)
                if vector.shape[0] == dim:  # a torn row is a miss, not an error
                    found[bytes(key)] = vector
        return found

    def put(self, model: str, keys: Sequence[bytes], vectors: np.ndarray) -> None:
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        rows = [(model, key, int(v.shape[0]), v.tobytes()) for key, v in zip(keys, vectors, strict=True)]
        with self._connect() as db:
            db.executemany("INSERT OR REPLACE INTO embeddings (model, key, dim, vector) VALUES (?, ?, ?, ?)", rows)

    def count(self, model: str | None = None) -> int:
        db = self._connect()
        if model is None:
            return int(db.execute("SELECT count(*) FROM embeddings").fetchone()[0])
        return int(db.execute("SELECT count(*) FROM embeddings WHERE model = ?", (model,)).fetchone()[0])

    def close(self) -> None:
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None


class CachedEmbedder:
    """An embedder whose ``encode`` embeds only the texts the cache has not seen for this model.

    Same interface as the wrapped embedder (``name``, ``device``, ``backend``,
    ``dimension``, ``model_id``, ``encode``); ``hits`` and ``misses`` count
    texts since creation (a repeated text within one call counts once as a miss).
    """

    def __init__(self, inner: Any, cache: EmbeddingCache):
        self.inner = inner
        self.cache = cache
        self.hits = 0
        self.misses = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def encode(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        texts = list(texts)
        out = np.empty((len(texts), self.inner.dimension), dtype=np.float32)
        if not texts:
            return out
        model = self.inner.model_id
        keys = [text_key(t) for t in texts]
        found = self.cache.get(model, keys)
        todo: dict[bytes, str] = {}
        for key, text in zip(keys, texts, strict=True):
            if key not in found and key not in todo:
                todo[key] = text
        self.hits += len(texts) - sum(1 for k in keys if k not in found)
        self.misses += len(todo)
        missing = list(todo.items())
        for start in range(0, len(missing), WRITE_SLICE):
            part = missing[start : start + WRITE_SLICE]
            vectors = self.inner.encode([t for _, t in part], batch_size=batch_size)
            part_keys = [k for k, _ in part]
            self.cache.put(model, part_keys, vectors)
            found.update(zip(part_keys, vectors, strict=True))
        for row, key in enumerate(keys):
            out[row] = found[key]
        return out
