"""Embeddings through PyTorch: the path for CUDA (and the reference fp32 output on the CPU).

For the models whose sentence-transformers modules are a transformer, mean
pooling and normalisation (the shipped MiniLM and its family), ``encode``
skips ``SentenceTransformer.encode`` and keeps the device busy:

* texts are tokenized on a worker thread, a window at a time, in
  length-sorted batches (``batching.stream_batches``), while the device runs
  the previous batch;
* on CUDA the worker pins each batch's host memory and starts a
  non-blocking copy, so the transfer overlaps the running kernels;
* on CUDA the weights run in fp16 (``PIPELINE_EMBEDDING_DTYPE`` overrides);
* pooled vectors stay on the device in one preallocated tensor and come
  back as one array at the end: no per-vector Python lists.

Any other model falls back to ``SentenceTransformer.encode``.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pipeline_factory.embedding import batching

log = logging.getLogger(__name__)


def mean_pooling_model(model_dir: Path) -> bool:
    """True when the model folder declares Transformer -> mean Pooling -> Normalize and nothing else."""
    try:
        modules = json.loads((model_dir / "modules.json").read_text())
        types = [m["type"].rsplit(".", 1)[-1] for m in modules]
        pooling = next(m for m in modules if m["type"].endswith("Pooling"))
        config = json.loads((model_dir / pooling["path"] / "config.json").read_text())
    except (OSError, ValueError, KeyError, StopIteration):
        return False
    modes = {k for k, v in config.items() if k.startswith("pooling_mode") and v}
    return types == ["Transformer", "Pooling", "Normalize"] and modes == {"pooling_mode_mean_tokens"}


@dataclass
class _Prepared:
    rows: np.ndarray
    tensors: dict[str, Any]
    ready: Any  # a CUDA event when the copy runs on a side stream


class TorchEncoder:
    """A SentenceTransformer on ``device``; ``dtype`` ``float16``/``bfloat16``/``float32``."""

    def __init__(self, model: Any, model_dir: Path | None, device: str, dtype: str):
        import torch

        self.model = model
        self.device = device
        self.torch_dtype = getattr(torch, dtype)
        if self.torch_dtype != torch.float32:
            model.to(self.torch_dtype)
        self._copy_stream: Any = None
        self.fast = model_dir is not None and mean_pooling_model(model_dir)
        self.transformer: Any = model[0].auto_model if self.fast else None
        self.tokenizer = batching.load_tokenizer(str(model_dir), int(model.max_seq_length)) if self.fast else None
        dim = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        self.dimension = int(dim())

    def pretokenize(self, texts: list[str], batch_size: int) -> list[_Prepared]:
        """Batches already on the device (for measuring the forward pass alone)."""
        return [self._to_device(b) for b in batching.token_batches(self.tokenizer, texts, batch_size)]

    def _to_device(self, batch: batching.TokenBatch) -> _Prepared:
        """Copy a batch to the device; on CUDA from pinned memory on a side stream (overlaps the kernels)."""
        import torch

        names = ("input_ids", "attention_mask", "token_type_ids")
        if not self.device.startswith("cuda"):
            return _Prepared(batch.rows, {n: torch.from_numpy(getattr(batch, n)) for n in names}, None)
        if self._copy_stream is None:
            self._copy_stream = torch.cuda.Stream(device=self.device)
        with torch.cuda.stream(self._copy_stream):
            tensors = {
                n: torch.from_numpy(getattr(batch, n)).pin_memory().to(self.device, non_blocking=True) for n in names
            }
            ready = torch.cuda.Event()
            ready.record()
        return _Prepared(batch.rows, tensors, ready)

    def forward(self, prepared: _Prepared) -> Any:
        """Pooled, normalised vectors (a device tensor, float32) for one prepared batch."""
        import torch

        tensors = prepared.tensors
        if prepared.ready is not None:
            current = torch.cuda.current_stream()
            current.wait_event(prepared.ready)
            for tensor in tensors.values():
                tensor.record_stream(current)  # the copy stream's allocation is used on this stream
        with torch.inference_mode():
            hidden = self.transformer(**tensors).last_hidden_state
            mask = tensors["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            summed = (hidden * mask).sum(dim=1, dtype=torch.float32)
            pooled = summed / mask.sum(dim=1, dtype=torch.float32).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2, dim=1)

    def encode(self, texts: list[str], batch_size: int) -> np.ndarray:
        if not self.fast:
            return np.asarray(
                self.model.encode(
                    list(texts),
                    batch_size=batch_size,
                    normalize_embeddings=True,
                    convert_to_numpy=True,
                    show_progress_bar=False,
                ),
                dtype=np.float32,
            )
        import torch

        out = torch.empty((len(texts), self.dimension), dtype=torch.float32, device=self.device)
        stream = batching.stream_batches(self.tokenizer, texts, batch_size, window=max(batch_size * 8, 4096))
        for prepared in batching.prefetch(stream, depth=3, transform=self._to_device):
            out[torch.from_numpy(prepared.rows).to(self.device)] = self.forward(prepared)
        return out.cpu().numpy()
