"""Train-stage benchmark: LightGBM and XGBoost on the shipped dataset and on 1,000,000 synthetic rows.

Uses the hyper-parameters of ``config/pipelines/model_training.yaml`` (early
stopping off, so every run does the same work) and the train stage's own
estimator builder, with threads = the cores this process may use.  The large
table has the shipped table's shape (same features, label balance, component
targets) drawn from a Gaussian fitted per class to the real rows, so its
correlations are the real ones.  Prints medians of several runs::

    python bench/train.py                       # both sizes, CPU
    python bench/train.py --device cuda         # XGBoost on the GPU (LightGBM stays on the CPU)
    python bench/train.py --sizes shipped --repeats 7 --json out.json
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]
# Runnable from a bare checkout (the GPU machine): the package without installing it.
sys.path.insert(0, str(ROOT / "include"))
SPEC = ROOT / "config" / "pipelines" / "model_training.yaml"
LARGE_ROWS = 1_000_000


def spec_stage(name: str) -> dict[str, Any]:
    spec = yaml.safe_load(SPEC.read_text())
    return next(s for s in spec["stages"] if s["name"] == name)["with"]


def shipped_table() -> pd.DataFrame:
    from pipeline_factory.stages.ml.sample_data import load_table

    return load_table().drop(columns="_batch_no")


def synthetic_table(real: pd.DataFrame, rows: int, numeric: list[str], label: str, seed: int = 0) -> pd.DataFrame:
    """``rows`` rows drawn per class from a Gaussian with the real class's mean and covariance, clipped to its range."""
    rng = np.random.default_rng(seed)
    shares = real[label].value_counts(normalize=True)
    parts = []
    for cls, share in shares.items():
        block = real.loc[real[label] == cls, numeric].to_numpy(dtype=float)
        n = round(rows * share)
        draws = rng.multivariate_normal(block.mean(axis=0), np.cov(block, rowvar=False), size=n,
                                        method="eigh")
        # Clip to the real range: sizes and errors stay positive, as in the real table.
        draws = np.clip(draws, block.min(axis=0), block.max(axis=0))
        part = pd.DataFrame(draws, columns=numeric)
        part[label] = cls
        parts.append(part)
    table = pd.concat(parts, ignore_index=True).sample(frac=1.0, random_state=seed).reset_index(drop=True)
    return table.head(rows)


def prepare(table: pd.DataFrame) -> tuple[pd.DataFrame, list[str], dict[str, Any]]:
    """The preprocess stage's features (derived ones included) on a table, without the split."""
    from pipeline_factory.stages.ml.expressions import evaluate

    pre = spec_stage("preprocess")
    for name, expression in (pre.get("derived") or {}).items():
        table[name] = np.asarray(evaluate(expression, {c: table[c] for c in table.columns}), dtype=float)
    features = [*pre["features"], *(pre.get("derived") or {})]
    return table, features, pre


def time_fit(library: str, task: str, params: dict, X: pd.DataFrame, y: pd.Series, threads: int,
             device: str, repeats: int) -> list[float]:
    from pipeline_factory.stages.ml import models

    seconds = []
    for _ in range(repeats):
        estimator = models.build_estimator(library, task, dict(params), threads=threads, seed=42, device=device)
        started = time.perf_counter()
        models.fit(estimator, library, X, y, None, None, None)
        seconds.append(time.perf_counter() - started)
    return seconds


def bench_size(name: str, table: pd.DataFrame, threads: int, device: str, repeats: int) -> list[dict[str, Any]]:
    table, features, pre = prepare(table)
    label = pre["label"]
    y_label = table[label].astype(str).map({c: i for i, c in enumerate(pre["label_classes"])}).astype(int)
    rows = []
    for model in spec_stage("train")["models"]:
        library, task = model["library"], model["task"]
        targets = [label] if task == "classify" else list(pre["components"])
        for target in targets:
            y = y_label if task == "classify" else table[target].astype(float)
            xgb_device = device if library == "xgboost" else "cpu"
            runs = time_fit(library, task, model.get("params") or {}, table[features], y, threads, xgb_device,
                            repeats)
            rows.append({
                "table": name, "rows": len(table), "features": len(features), "model": model["name"],
                "library": library, "task": task, "target": target, "device": xgb_device, "threads": threads,
                "repeats": repeats, "median_s": statistics.median(runs), "min_s": min(runs), "max_s": max(runs),
            })
            print(f"{name:>8} {len(table):>9,} rows  {library:<8} {task:<8} {target:<15} {xgb_device:<4} "
                  f"median {rows[-1]['median_s']:8.3f}s  (min {min(runs):.3f}, max {max(runs):.3f}, n={repeats})",
                  flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    from pipeline_factory.stages.ml.models import machine_threads

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", choices=["shipped", "large"], default=["shipped", "large"])
    parser.add_argument("--rows", type=int, default=LARGE_ROWS, help="Rows of the large synthetic table.")
    parser.add_argument("--repeats", type=int, default=5, help="Runs per model on the shipped table.")
    parser.add_argument("--large-repeats", type=int, default=3, help="Runs per model on the large table.")
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu", help="XGBoost's device.")
    parser.add_argument("--threads", type=int, default=None, help="Default: the cores this process may use.")
    parser.add_argument("--json", type=Path, default=None, help="Also write the figures here.")
    args = parser.parse_args(argv)

    threads = args.threads or machine_threads()
    real = shipped_table()
    pre = spec_stage("preprocess")
    numeric = [*pre["features"], *pre["components"]]
    print(f"python {platform.python_version()} on {platform.machine()}, {threads} threads, xgboost device "
          f"{args.device}", flush=True)
    results: list[dict[str, Any]] = []
    if "shipped" in args.sizes:
        results += bench_size("shipped", real.copy(), threads, args.device, args.repeats)
    if "large" in args.sizes:
        started = time.perf_counter()
        large = synthetic_table(real, args.rows, numeric, pre["label"])
        print(f"synthetic table: {len(large):,} rows in {time.perf_counter() - started:.1f}s", flush=True)
        results += bench_size("large", large, threads, args.device, args.large_repeats)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
