"""preprocess: schema checks, derived features and a time-based split.

The split is by time, never random: the model is evaluated on the newest
rows, which is how it will be used.  Schema problems fail the run with the
offending column named, before any model is trained on bad data.

The split is also *stable* as the incremental dataset grows: its time bounds
are kept next to the dataset (``split_state.json``) and never move back, so a
row that one run trained on (or early-stopped on) never lands in a later
run's test split, even when a late batch brings older rows.  Every row carries
a content hash (``row_id``) so promotion can prove that the rows it compares a
candidate and a champion on were seen by neither.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline_factory.exceptions import StageError
from pipeline_factory.stages.contracts import StageContext, StageResult
from pipeline_factory.stages.ml.expressions import ExpressionError, evaluate
from pipeline_factory.stages.ml.params import PreprocessParams
from pipeline_factory.workspace import write_json_atomic

log = logging.getLogger(__name__)

SPLITS = ("train", "validation", "test")
MIN_TRAIN_ROWS = 10
ROW_ID = "row_id"
SPLIT_STATE = "split_state.json"


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


def row_ids(frame: Any) -> Any:
    """A content hash per row of the consolidated dataset (uint64), independent of column order."""
    import pandas as pd

    return pd.util.hash_pandas_object(frame[sorted(frame.columns)], index=False).astype("uint64")


@dataclass(frozen=True)
class SplitBounds:
    """Rows at or after ``test_from`` are test; from ``validation_from`` up to it, validation."""

    validation_from: Any
    test_from: Any

    def as_dict(self) -> dict[str, str]:
        return {"validation_from": self.validation_from.isoformat(), "test_from": self.test_from.isoformat()}

    @classmethod
    def from_dict(cls, data: dict[str, str]) -> SplitBounds:
        import pandas as pd

        return cls(pd.Timestamp(data["validation_from"]), pd.Timestamp(data["test_from"]))


def split_by_time(
    frame: Any,
    time_column: str,
    validation_fraction: float,
    test_fraction: float,
    *,
    previous: SplitBounds | None = None,
) -> tuple[dict[str, Any], SplitBounds]:
    """The newest ``test_fraction`` of the rows for test, the ``validation_fraction`` before them for validation.

    The bounds are timestamps, so rows with the same time always fall on the
    same side, and they only move forward: with ``previous`` (the last run's
    bounds) neither bound is earlier than before.  Rows ordered by time, ties by
    ``row_id`` when the frame has one, so the same rows always give the same split.
    """
    keys = [time_column, ROW_ID] if ROW_ID in frame.columns else [time_column]
    ordered = frame.sort_values(keys, kind="stable").reset_index(drop=True)
    n = len(ordered)
    if n == 0:
        raise StageError("the dataset is empty: nothing to split")
    times = ordered[time_column]
    n_test = max(1, math.ceil(n * test_fraction))
    n_val = math.ceil(n * validation_fraction) if validation_fraction > 0 else 0
    test_from = times.iloc[n - n_test]
    validation_from = times.iloc[n - n_test - n_val] if n_val and n - n_test - n_val >= 0 else test_from
    if previous is not None:
        test_from = max(test_from, previous.test_from)
        validation_from = max(validation_from, previous.validation_from)
    validation_from = min(validation_from, test_from)
    parts = {
        "train": ordered[times < validation_from],
        "validation": ordered[(times >= validation_from) & (times < test_from)],
        "test": ordered[times >= test_from],
    }
    n_train = len(parts["train"])
    if n_train < MIN_TRAIN_ROWS:
        raise StageError(f"only {n} rows: {n_train} left for training after the split (need {MIN_TRAIN_ROWS})")
    if not len(parts["test"]):
        raise StageError(f"no rows at or after the test bound {test_from}: the dataset lost its newest rows")
    return parts, SplitBounds(validation_from, test_from)


def load_split_state(folder: Path) -> SplitBounds | None:
    path = folder / SPLIT_STATE
    if not path.exists():
        return None
    return SplitBounds.from_dict(json.loads(path.read_text()))


class Preprocess:
    def run(self, ctx: StageContext, params: PreprocessParams) -> StageResult:
        import pandas as pd

        fetched = ctx.input("dataset")
        frame = pd.read_parquet(fetched["dataset"])
        ids = row_ids(frame)
        check_schema(frame, params)
        frame[ROW_ID] = ids
        derived = add_derived(frame, params)
        features = [*params.features, *derived]
        classes = list(params.label_classes or sorted(frame[params.label].astype(str).unique()))
        if len(classes) < 2:
            raise SchemaError(params.label, f"needs at least two classes, found {classes}")

        state_folder = Path(fetched["dataset"]).parent
        splits, bounds = split_by_time(frame, params.time_column, params.validation_fraction, params.test_fraction,
                                       previous=load_split_state(state_folder))
        missing = sorted(set(classes) - set(splits["train"][params.label].astype(str)))
        if missing:
            raise SchemaError(params.label, f"classes {missing} never occur in the training split")

        keep = [*features, params.label, *params.components, params.time_column, ROW_ID]
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
        write_json_atomic(state_folder / SPLIT_STATE, bounds.as_dict())
        log.info("preprocess: %d features; split %s", len(features), {k: v["rows"] for k, v in summary.items()})
        return {
            "kind": "ml.preprocess",
            "folder": str(ctx.stage_dir),
            "features": len(features),
            "derived": derived,
            "splits": summary,
            "bounds": bounds.as_dict(),
            "fingerprint": fetched.get("fingerprint"),
        }
