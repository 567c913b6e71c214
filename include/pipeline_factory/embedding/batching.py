"""Tokenized, length-sorted batches, prepared on a worker thread ahead of the model.

A sentence model spends most of a naive ``encode`` waiting on tokenization
and Python conversions, not on the forward pass.  Two cheap changes remove
most of that wait: tokenize everything once with the Rust tokenizer (which
parallelises a batch itself), sort by token count so that each batch pads to
its own longest member instead of the longest overall, and hand batches
to the model through a small queue filled by a thread, so that the next
batch is ready (and, on CUDA, already copied) while the current one runs.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

T = TypeVar("T")

_DONE = object()


@dataclass(frozen=True)
class TokenBatch:
    """Rows ``rows`` of the caller's texts, padded to the longest of them (int64 arrays)."""

    rows: np.ndarray
    input_ids: np.ndarray
    attention_mask: np.ndarray
    token_type_ids: np.ndarray


def load_tokenizer(model_dir: str, max_length: int) -> Any:
    """The model's fast tokenizer (``tokenizer.json``), truncating to ``max_length`` tokens, no padding."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(f"{model_dir}/tokenizer.json")
    tokenizer.enable_truncation(max_length=max_length)
    tokenizer.no_padding()
    return tokenizer


def token_batches(
    tokenizer: Any, texts: Sequence[str], batch_size: int, offset: int = 0, max_tokens: int | None = None
) -> list[TokenBatch]:
    """Tokenize ``texts`` once and cut them into batches of similar length (longest first).

    ``rows`` count from ``offset``, so that windows of a longer list keep their place.
    With ``max_tokens``, a batch of long texts holds fewer than ``batch_size``
    rows: at most ``max_tokens`` padded tokens (and at least one row).
    """
    encodings = tokenizer.encode_batch(list(texts))
    lengths = np.fromiter((len(e.ids) for e in encodings), dtype=np.int64, count=len(encodings))
    order = np.argsort(-lengths, kind="stable")
    batches = []
    start = 0
    while start < len(order):
        width = int(lengths[order[start]])
        size = batch_size if max_tokens is None else max(1, min(batch_size, max_tokens // max(width, 1)))
        rows = order[start : start + size]
        start += size
        ids = np.zeros((len(rows), width), dtype=np.int64)
        mask = np.zeros((len(rows), width), dtype=np.int64)
        types = np.zeros((len(rows), width), dtype=np.int64)
        for i, row in enumerate(rows):
            enc = encodings[row]
            n = len(enc.ids)
            ids[i, :n] = enc.ids
            mask[i, :n] = 1
            types[i, :n] = enc.type_ids
        batches.append(TokenBatch(rows=rows + offset, input_ids=ids, attention_mask=mask, token_type_ids=types))
    return batches


def stream_batches(
    tokenizer: Any, texts: Sequence[str], batch_size: int, window: int, max_tokens: int | None = None
) -> Iterator[TokenBatch]:
    """``token_batches`` over windows of ``window`` texts: the first batch is ready long before the last
    text is tokenized, and a consumer on another thread overlaps the rest of the tokenization."""
    window = max(window, batch_size)
    for start in range(0, len(texts), window):
        yield from token_batches(tokenizer, texts[start : start + window], batch_size, start, max_tokens)


def prefetch(produce: Iterator[T], depth: int = 2, transform: Callable[[T], Any] | None = None) -> Iterator[Any]:
    """Run ``produce`` (and ``transform`` on each item) on a thread, ``depth`` items ahead of the consumer.

    Exceptions raised on the thread are re-raised in the consumer; a consumer
    that stops early releases the thread.
    """
    items: queue.Queue[Any] = queue.Queue(maxsize=max(1, depth))
    stop = threading.Event()

    def work() -> None:
        try:
            for item in produce:
                if stop.is_set():
                    return
                items.put(transform(item) if transform else item)
        except BaseException as exc:  # handed to the consumer
            items.put(_Failure(exc))
        finally:
            items.put(_DONE)

    thread = threading.Thread(target=work, name="embedding-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            item = items.get()
            if item is _DONE:
                return
            if isinstance(item, _Failure):
                raise item.exc
            yield item
    finally:
        stop.set()
        while thread.is_alive():  # unblock a producer waiting on a full queue
            with contextlib.suppress(queue.Empty):
                items.get(timeout=0.05)


@dataclass(frozen=True)
class _Failure:
    exc: BaseException


def mean_pool_normalize(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Mean of the token vectors under ``mask``, scaled to unit length (float32), as sentence-transformers does."""
    weights = mask[..., None].astype(np.float32)
    summed = (hidden.astype(np.float32, copy=False) * weights).sum(axis=1)
    pooled = summed / np.clip(weights.sum(axis=1), 1e-9, None)
    norms = np.linalg.norm(pooled, axis=1, keepdims=True)
    return pooled / np.clip(norms, 1e-12, None)
