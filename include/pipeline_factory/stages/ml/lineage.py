"""The datasets of the training stages (light: names only; columns read from the Parquet footer).

The batch folder -> the consolidated training dataset (its columns as a schema
facet, the rows added as output statistics) -> MLflow registered models.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pipeline_factory.lineage.datasets import (
    LineageDataset,
    StageLineage,
    file_dataset,
    lineage,
    mlflow_model_dataset,
)
from pipeline_factory.stages.contracts import StageContext
from pipeline_factory.stages.ml.params import FetchDataParams, RegisterParams

log = logging.getLogger(__name__)


def _count(result: Mapping[str, Any] | None, key: str) -> int | None:
    value = (result or {}).get(key)
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _batch_source(ctx: StageContext, source: str) -> LineageDataset:
    if "://" in source and not source.startswith("file://"):
        parts = urlsplit(source)  # s3://bucket/prefix: OpenLineage's namespace s3://bucket, name the prefix
        return LineageDataset(f"{parts.scheme}://{parts.hostname or ''}", parts.path.lstrip("/") or "/")
    path = Path(source.removeprefix("file://"))
    return file_dataset(path if path.is_absolute() else ctx.data_dir / path)


def dataset_columns(path: str | Path) -> tuple[tuple[str, str], ...]:
    """``(column, type)`` of a Parquet file, from its footer alone (no rows are read)."""
    try:
        import pyarrow.parquet as pq

        schema = pq.read_schema(path)
    except Exception:  # lineage never fails a stage: no columns, then
        log.debug("no schema for %s", path, exc_info=True)
        return ()
    return tuple((field.name, str(field.type)) for field in schema)


def fetch_data(ctx: StageContext, params: FetchDataParams, result: Mapping[str, Any] | None) -> StageLineage:
    """New batch files -> the consolidated dataset (columns: the snapshot's schema; rows: those added)."""
    from pipeline_factory.stages.ml.fetch_data import dataset_dir

    written = (result or {}).get("dataset")
    snapshot = Path(str(written)) if written else ctx.run_dir / ctx.stage / "dataset.parquet"
    columns = dataset_columns(snapshot) if written else ()
    return lineage(
        inputs=[_batch_source(ctx, params.source)],
        outputs=[
            file_dataset(dataset_dir(ctx.data_dir, params.dataset), fields=columns,
                         row_count=_count(result, "rows_added")),
            file_dataset(snapshot, fields=columns, row_count=_count(result, "total_rows")),
        ],
    )


def preprocess(ctx: StageContext, params: Any, result: Mapping[str, Any] | None) -> StageLineage:
    """The dataset -> the train/validation/test splits (columns from their files, rows per split)."""
    folder = Path(str(result["folder"])) if result and result.get("folder") else ctx.run_dir / ctx.stage
    splits = (result or {}).get("splits") or {}
    outputs = []
    for name in ("train", "validation", "test"):
        path = folder / f"{name}.parquet"
        rows = (splits.get(name) or {}).get("rows")
        outputs.append(file_dataset(path, fields=dataset_columns(path) if result else (),
                                    row_count=rows if isinstance(rows, int) else None))
    return lineage(outputs=outputs)


def _tracking_uri(*, ran: bool) -> str | None:
    """The tracking URI the stage uses; before it ran, only when the environment names it.

    Before a stage runs, the OpenLineage listener asks from a forked process,
    where asking Airflow for the ``mlflow_default`` connection is not safe (it
    would talk over the task's channel to its supervisor); the runner, after
    the stage, resolves it fully (environment, connection, embedded store).
    """
    from pipeline_factory.tracking import mlflow_config

    if ran:
        return mlflow_config.tracking_uri()
    import os

    return os.environ.get("MLFLOW_TRACKING_URI") or mlflow_config._uri_from_env_connection(mlflow_config.conn_id())


def _models(names: list[str], *, ran: bool) -> list[LineageDataset]:
    uri = _tracking_uri(ran=ran)
    return [mlflow_model_dataset(uri, name) for name in names] if uri else []


def _version_names(versions: Mapping[str, Any]) -> list[str]:
    return [str(v["name"]) for v in versions.values() if isinstance(v, Mapping) and "name" in v]


def register(ctx: StageContext, params: RegisterParams, result: Mapping[str, Any] | None) -> StageLineage:
    """Trained models -> MLflow registered models: ``<prefix><model>`` for every model the train stage planned."""
    if result and result.get("versions"):
        return lineage(outputs=_models(_version_names(result["versions"]), ran=True))
    prefix = params.registered_model_prefix if params.registered_model_prefix is not None else f"{ctx.pipeline}."
    planned = ctx.input("models", required=False).get("planned") or [] if ctx.has_input("models") else []
    return lineage(outputs=_models([f"{prefix}{name}" for name in planned], ran=result is not None))


def promote(ctx: StageContext, params: Any, result: Mapping[str, Any] | None) -> StageLineage:
    """The registered versions are read, and the lead model's champion alias is moved."""
    registered = ctx.input("registered", required=False) if ctx.inputs else {}
    models = _models(_version_names(registered.get("versions") or {}), ran=result is not None)
    return lineage(inputs=models, outputs=models)
