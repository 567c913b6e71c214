"""train: fit every model the spec lists on the training split.

Classifiers learn the label; a ``regress`` model is fitted once per component
target (``<name>_<component>``).  The plan (every model name the spec implies)
is written before training so validate_artifacts can name a model that is
missing, not only one that is broken.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

from pipeline_factory.exceptions import StageError
from pipeline_factory.stages.contracts import StageContext, StageResult
from pipeline_factory.stages.ml import models
from pipeline_factory.stages.ml.params import ModelSpec, TrainParams
from pipeline_factory.workspace import write_json_atomic

log = logging.getLogger(__name__)


def plan(specs: list[ModelSpec], schema: dict[str, Any]) -> list[dict[str, Any]]:
    """Expand the spec's models into one entry per fitted model."""
    planned = []
    for spec in specs:
        if spec.task == "classify":
            planned.append({"name": spec.name, "spec": spec, "target": schema["label"]})
            continue
        if not schema["components"]:
            raise StageError(f"model {spec.name} regresses components, but preprocess declares none")
        for component in schema["components"]:
            planned.append({"name": f"{spec.name}_{component}", "spec": spec, "target": component})
    return planned


def resolve_device(requested: str, compute: str) -> str:
    if requested != "auto":
        return requested
    if compute == "gpu" and models.cuda_available():
        return "cuda"
    if compute == "gpu":
        log.warning("compute: gpu but no CUDA device is visible here: XGBoost trains on the CPU")
    return "cpu"


def load_splits(folder: Path, schema: dict[str, Any]):
    import pandas as pd

    return {name: pd.read_parquet(folder / f"{name}.parquet") for name in ("train", "validation", "test")}


def encode_label(series: Any, classes: list[str]) -> Any:
    codes = series.astype(str).map({c: i for i, c in enumerate(classes)})
    if codes.isna().any():
        raise StageError(f"label values outside {classes}: {sorted(set(series[codes.isna()].astype(str)))}")
    return codes.astype(int)


def train_models(
    planned: list[dict[str, Any]],
    splits: dict[str, Any],
    schema: dict[str, Any],
    out: Path,
    *,
    threads: int,
    seed: int,
    device: str,
    early_stopping_rounds: int | None = None,
) -> dict[str, dict[str, Any]]:
    """Fit and save each planned model; returns name -> summary."""
    features = schema["features"]
    train, val = splits["train"], splits["validation"]
    trained: dict[str, dict[str, Any]] = {}
    for item in planned:
        spec: ModelSpec = item["spec"]
        target = item["target"]
        if spec.task == "classify":
            y, y_val = encode_label(train[target], schema["classes"]), encode_label(val[target], schema["classes"])
        else:
            y, y_val = train[target].astype(float), val[target].astype(float)
        estimator = models.build_estimator(
            spec.library, spec.task, dict(spec.params), threads=threads, seed=seed, device=device,
            early_stopping_rounds=early_stopping_rounds,
        )
        started = time.perf_counter()
        models.fit(estimator, spec.library, train[features], y, val[features], y_val, early_stopping_rounds)
        seconds = time.perf_counter() - started
        meta = {
            "name": item["name"],
            "library": spec.library,
            "task": spec.task,
            "target": target,
            "features": features,
            "classes": schema["classes"] if spec.task == "classify" else [],
            "params": {**spec.params},
            "device": device if spec.library == "xgboost" else "cpu",
            "threads": threads,
            "train_rows": len(train),
            "train_seconds": round(seconds, 4),
        }
        path = models.save(estimator, spec.library, out / item["name"], meta)
        summary = {k: meta[k] for k in ("library", "task", "target", "train_seconds")}
        trained[item["name"]] = {**summary, "path": str(path)}
        log.info("trained %s (%s %s on %s) in %.2fs", item["name"], spec.library, spec.task, target, seconds)
    return trained


class Train:
    def run(self, ctx: StageContext, params: TrainParams) -> StageResult:
        prep = ctx.input("features")
        folder = Path(prep["folder"])
        schema = json.loads((folder / "schema.json").read_text())
        planned = plan(list(params.models), schema)
        out = ctx.stage_dir / "models"
        write_json_atomic(ctx.stage_dir / "planned.json", [{"name": p["name"], "library": p["spec"].library,
                                                     "task": p["spec"].task, "target": p["target"]} for p in planned])
        threads = params.threads or models.machine_threads()
        device = resolve_device(params.device, ctx.compute)
        trained = train_models(
            planned, load_splits(folder, schema), schema, out,
            threads=threads, seed=params.seed, device=device, early_stopping_rounds=params.early_stopping_rounds,
        )
        return {
            "kind": "ml.train",
            "folder": str(out),
            "planned": [p["name"] for p in planned],
            "models": trained,
            "threads": threads,
            "device": device,
            "params": {m.name: {"library": m.library, "task": m.task, **m.params} for m in params.models},
        }
