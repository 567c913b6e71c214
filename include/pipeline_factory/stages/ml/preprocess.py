"""preprocess: schema checks, derived features and a time-based split.

The split is by time, never random: the model is evaluated on the newest
rows, which is how it will be used.  Schema problems fail the run with the
offending column named, before any model is trained on bad data.
"""

from __future__ import annotations

import json
import logging
import math
from typing import Any

from pipeline_factory.exceptions import StageError
from pipeline_factory.stages.contracts import StageContext, StageResult
from pipeline_factory.stages.ml.expressions import ExpressionError, evaluate
from pipeline_factory.stages.ml.params import PreprocessParams

log = logging.getLogger(__name__)

SPLITS = ("train", "validation", "test")
MIN_TRAIN_ROWS = 10


class SchemaError(StageError):
    """The dataset does not match what the spec declares; ``column`` names the culprit."""

    def __init__(self, column: str, problem: str):
        super().__init__(f"column {column!r}: {problem}")
        self.column = column
        self.problem = problem


def check_schema(frame: Any, params: PreprocessParams) -> None:
    """Raise :class:`SchemaError` for the first column that breaks the declared schema."""
    import pandas as pd

    declared = {params.time_column: "time column", params.label: "label"}
    declared.update({c: "features" for c in params.features})
    declared.update({c: "components" for c in params.components})
    for column, role in declared.items():
        if column not in frame.columns:
            raise SchemaError(column, f"missing from the dataset (declared in {role})")
    for column in [*params.features, *params.components]:
        if not pd.api.types.is_numeric_dtype(frame[column]) or pd.api.types.is_bool_dtype(frame[column]):
            raise SchemaError(column, f"must be numeric, found dtype {frame[column].dtype}")
    for column in declared:
        null_fraction = float(frame[column].isna().mean()) if len(frame) else 0.0
        if null_fraction > params.max_null_fraction:
            raise SchemaError(
                column, f"{null_fraction:.1%} of the values are null (max_null_fraction {params.max_null_fraction:.1%})"
            )
    if params.label_classes is not None:
        unexpected = sorted(set(frame[params.label].dropna().astype(str)) - set(params.label_classes))
        if unexpected:
            raise SchemaError(params.label, f"unexpected values {unexpected} (label_classes {params.label_classes})")
    if not pd.api.types.is_datetime64_any_dtype(frame[params.time_column]):
        try:
            frame[params.time_column] = pd.to_datetime(frame[params.time_column])
        except (ValueError, TypeError) as exc:
            raise SchemaError(params.time_column, f"cannot be read as timestamps: {exc}") from exc


def add_derived(frame: Any, params: PreprocessParams) -> list[str]:
    import numpy as np

    names = []
    for name, expression in params.derived.items():
        try:
            values = evaluate(expression, {c: frame[c] for c in frame.columns})
        except ExpressionError as exc:
            raise SchemaError(name, str(exc)) from exc
        values = np.asarray(values, dtype=float)
        if not np.all(np.isfinite(values)):
            bad = int((~np.isfinite(values)).sum())
            raise SchemaError(name, f"derived values are not finite in {bad} rows ({expression})")
        frame[name] = values
        names.append(name)
    return names


def split_by_time(frame: Any, time_column: str, validation_fraction: float, test_fraction: float) -> dict:
    ordered = frame.sort_values(time_column, kind="stable").reset_index(drop=True)
    n = len(ordered)
    n_test = math.ceil(n * test_fraction)
    n_val = math.ceil(n * validation_fraction) if validation_fraction > 0 else 0
    n_train = n - n_test - n_val
    if n_train < MIN_TRAIN_ROWS:
        raise StageError(f"only {n} rows: {n_train} left for training after the split (need {MIN_TRAIN_ROWS})")
    return {
        "train": ordered.iloc[:n_train],
        "validation": ordered.iloc[n_train : n_train + n_val],
        "test": ordered.iloc[n_train + n_val :],
    }


class Preprocess:
    def run(self, ctx: StageContext, params: PreprocessParams) -> StageResult:
        import pandas as pd

        fetched = ctx.input("dataset")
        frame = pd.read_parquet(fetched["dataset"])
        check_schema(frame, params)
        derived = add_derived(frame, params)
        features = [*params.features, *derived]
        classes = list(params.label_classes or sorted(frame[params.label].astype(str).unique()))
        if len(classes) < 2:
            raise SchemaError(params.label, f"needs at least two classes, found {classes}")

        splits = split_by_time(frame, params.time_column, params.validation_fraction, params.test_fraction)
        missing = sorted(set(classes) - set(splits["train"][params.label].astype(str)))
        if missing:
            raise SchemaError(params.label, f"classes {missing} never occur in the training split")

        keep = [*features, params.label, *params.components, params.time_column]
        summary: dict[str, Any] = {}
        for name, part in splits.items():
            path = ctx.stage_dir / f"{name}.parquet"
            part[keep].to_parquet(path, index=False)
            times = part[params.time_column]
            summary[name] = {
                "rows": len(part),
                "from": times.min().isoformat() if len(part) else None,
                "to": times.max().isoformat() if len(part) else None,
            }
        schema = {
            "features": features,
            "label": params.label,
            "classes": classes,
            "components": list(params.components),
            "time_column": params.time_column,
        }
        (ctx.stage_dir / "schema.json").write_text(json.dumps(schema, indent=2))
        log.info("preprocess: %d features; split %s", len(features), {k: v["rows"] for k, v in summary.items()})
        return {
            "kind": "ml.preprocess",
            "folder": str(ctx.stage_dir),
            "features": len(features),
            "derived": derived,
            "splits": summary,
            "fingerprint": fetched.get("fingerprint"),
        }
