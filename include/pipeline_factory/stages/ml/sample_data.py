"""The example dataset: scikit-learn's bundled breast-cancer data, split into dated batches.

Real data that needs no network: 569 tumour measurements with a diagnosis
(the class label) and three size measurements (mean radius, perimeter, area)
used as numeric component targets.  Rows are shuffled with a fixed seed and
cut into batches of 15 days each, so "a new batch arrives" can be replayed::

    python -m pipeline_factory.stages.ml.sample_data --out .data/ml/incoming/breast_cancer --batches 1-3
    python -m pipeline_factory.stages.ml.sample_data --out .data/ml/incoming/breast_cancer --batches 4

``--label-noise`` flips that fraction of the written batches' labels: a batch
that really makes the model worse.
"""

from __future__ import annotations

import argparse
import logging
from datetime import date, datetime, timedelta
from pathlib import Path

log = logging.getLogger(__name__)

N_BATCHES = 6
FIRST_DAY = date(2026, 1, 1)
BATCH_DAYS = 15
SEED = 7
LABEL = "diagnosis"
TIME_COLUMN = "measured_at"
COMPONENTS = ["mean_radius", "mean_perimeter", "mean_area"]


def _snake(name: str) -> str:
    return name.strip().replace(" ", "_").lower()


def load_table():
    """The whole dataset as one DataFrame, shuffled, with a timestamp per row."""
    import numpy as np
    from sklearn.datasets import load_breast_cancer

    bunch = load_breast_cancer(as_frame=True)
    frame = bunch.frame.rename(columns=_snake)
    frame[LABEL] = frame.pop("target").map(dict(enumerate(bunch.target_names)))
    rng = np.random.default_rng(SEED)
    frame = frame.iloc[rng.permutation(len(frame))].reset_index(drop=True)
    batch = np.arange(len(frame)) * N_BATCHES // len(frame)
    offsets = rng.uniform(0, BATCH_DAYS * 86400, size=len(frame))
    start = datetime(FIRST_DAY.year, FIRST_DAY.month, FIRST_DAY.day)
    frame[TIME_COLUMN] = [
        start + timedelta(days=int(b) * BATCH_DAYS, seconds=float(o)) for b, o in zip(batch, offsets, strict=True)
    ]
    frame["_batch_no"] = batch + 1
    return frame.sort_values(TIME_COLUMN, kind="stable").reset_index(drop=True)


def feature_columns() -> list[str]:
    """Inputs for every model: everything except the label, the time and the component targets."""
    frame = load_table()
    excluded = {LABEL, TIME_COLUMN, "_batch_no", *COMPONENTS}
    return [c for c in frame.columns if c not in excluded]


def batch_file_name(number: int, fmt: str = "csv") -> str:
    day = FIRST_DAY + timedelta(days=(number - 1) * BATCH_DAYS)
    return f"batch_{day.isoformat()}.{fmt}"


def parse_batches(text: str) -> list[int]:
    """``"1-3"``, ``"4"``, ``"1,3,5"`` -> batch numbers."""
    numbers: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if "-" in part:
            lo, hi = (int(x) for x in part.split("-", 1))
            numbers.extend(range(lo, hi + 1))
        elif part:
            numbers.append(int(part))
    bad = [n for n in numbers if not 1 <= n <= N_BATCHES]
    if bad:
        raise ValueError(f"batches must be between 1 and {N_BATCHES}: {bad}")
    return numbers


def write_batches(
    out: Path, batches: list[int], *, fmt: str = "csv", label_noise: float = 0.0, seed: int = SEED
) -> list[Path]:
    """Write the chosen batches into ``out``; returns the files written."""
    import numpy as np

    out.mkdir(parents=True, exist_ok=True)
    frame = load_table()
    rng = np.random.default_rng(seed + 1000)
    written: list[Path] = []
    for number in batches:
        part = frame[frame["_batch_no"] == number].drop(columns="_batch_no").copy()
        if label_noise > 0:
            flip = rng.random(len(part)) < label_noise
            part.loc[flip, LABEL] = part.loc[flip, LABEL].map({"malignant": "benign", "benign": "malignant"})
        path = out / batch_file_name(number, fmt)
        tmp = path.with_name(f".{path.name}.tmp")
        if fmt == "csv":
            part.to_csv(tmp, index=False, date_format="%Y-%m-%dT%H:%M:%S")
        else:
            part.to_parquet(tmp, index=False)
        tmp.replace(path)
        written.append(path)
        log.info("wrote %s (%d rows)", path, len(part))
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="The source folder fetch_data reads.")
    parser.add_argument("--batches", default=f"1-{N_BATCHES}", help="e.g. 1-3, 4 or 1,3,5")
    parser.add_argument("--format", choices=["csv", "parquet"], default="csv")
    parser.add_argument("--label-noise", type=float, default=0.0, help="Fraction of labels to flip.")
    parser.add_argument("--if-empty", action="store_true", help="Do nothing when the folder holds batches already.")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.if_empty and args.out.is_dir() and any(args.out.glob("batch_*")):
        log.info("%s already holds batches; nothing written", args.out)
        return 0
    write_batches(args.out, parse_batches(args.batches), fmt=args.format, label_noise=args.label_noise)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
