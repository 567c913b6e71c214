"""Where MLflow lives: the tracking URI and the artifact folder.

Resolution order, first hit wins:

1. ``MLFLOW_TRACKING_URI`` (MLflow's own variable, so MLflow tools agree);
2. the Airflow connection ``mlflow_default`` (``PIPELINE_MLFLOW_CONN_ID`` to
   rename it): its ``extra.tracking_uri``, or ``http(s)://host:port/schema``;
3. the embedded default: a SQLite backend ``<data_dir>/mlflow/mlflow.db`` with
   artifacts under ``<data_dir>/mlflow/artifacts``.

Nothing here imports mlflow at module level: the factory imports stage
catalogs at parse time.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote, urlsplit

from pipeline_factory import settings

if TYPE_CHECKING:
    from mlflow import MlflowClient

log = logging.getLogger(__name__)

DEFAULT_CONN_ID = "mlflow_default"


def mlflow_home() -> Path:
    return settings.data_dir() / "mlflow"


def embedded_tracking_uri() -> str:
    return f"sqlite:///{mlflow_home() / 'mlflow.db'}"


def embedded_artifact_root() -> Path:
    return mlflow_home() / "artifacts"


def conn_id() -> str:
    return os.environ.get("PIPELINE_MLFLOW_CONN_ID", DEFAULT_CONN_ID)


def uri_from_connection(conn_type: str, host: str, port: int | None, schema: str, extra: dict) -> str | None:
    if extra.get("tracking_uri"):
        return str(extra["tracking_uri"])
    if not host:
        return None
    if "://" in host:
        base = host.rstrip("/")
    else:
        scheme = "https" if conn_type in ("https",) or extra.get("https") else "http"
        base = f"{scheme}://{host}"
        if port:
            base += f":{port}"
    return f"{base}/{schema.strip('/')}" if schema else base


def _uri_from_env_connection(name: str) -> str | None:
    """Read ``AIRFLOW_CONN_<ID>`` without importing Airflow (works in pods and subprocesses)."""
    raw = os.environ.get(f"AIRFLOW_CONN_{name.upper()}")
    if not raw:
        return None
    raw = raw.strip()
    if raw.startswith("{"):
        data = json.loads(raw)
        return uri_from_connection(
            str(data.get("conn_type", "http")),
            str(data.get("host") or ""),
            data.get("port"),
            str(data.get("schema") or ""),
            dict(data.get("extra") or {}),
        )
    parts = urlsplit(raw)
    conn_type = parts.scheme.replace("-", "_")
    return uri_from_connection(conn_type, parts.hostname or "", parts.port, parts.path.lstrip("/"), {})


def _uri_from_airflow_connection(name: str) -> str | None:
    """Ask Airflow for the connection, but only inside a running task (never at parse time)."""
    try:
        from airflow.sdk.execution_time import task_runner
    except ImportError:
        return None
    if getattr(task_runner, "SUPERVISOR_COMMS", None) is None:
        return None
    try:
        from pipeline_factory.hooks.mlflow import MlflowHook

        return MlflowHook(mlflow_conn_id=name).get_tracking_uri()
    except Exception:
        log.debug("no Airflow connection %r", name, exc_info=True)
        return None


def tracking_uri() -> str:
    """The MLflow tracking (and registry) URI this process should use."""
    if uri := os.environ.get("MLFLOW_TRACKING_URI"):
        return uri
    name = conn_id()
    if uri := _uri_from_env_connection(name) or _uri_from_airflow_connection(name):
        return uri
    return embedded_tracking_uri()


def configure() -> MlflowClient:
    """Point mlflow at :func:`tracking_uri` and return a client for it."""
    import mlflow
    from mlflow import MlflowClient

    uri = tracking_uri()
    if uri.startswith("sqlite:"):
        mlflow_home().mkdir(parents=True, exist_ok=True)
        embedded_artifact_root().mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def ensure_experiment(client: MlflowClient, name: str) -> str:
    """The experiment's id, created on first use.

    With a SQLite backend MLflow would put artifacts under ``./mlruns`` of
    whatever directory the worker runs in; the embedded default pins them to
    the data dir instead.  A server chooses its own artifact root.
    """
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    artifact_location = None
    if client.tracking_uri.startswith("sqlite:"):
        artifact_location = (embedded_artifact_root() / quote(name, safe="")).as_uri()
    try:
        return client.create_experiment(name, artifact_location=artifact_location)
    except Exception:
        # Another run created it between our read and our write.
        experiment = client.get_experiment_by_name(name)
        if experiment is None:
            raise
        return experiment.experiment_id


def ui_base_url() -> str:
    """Where people open the MLflow UI: ``PIPELINE_MLFLOW_UI_URL``, else the server, else :5000."""
    if url := os.environ.get("PIPELINE_MLFLOW_UI_URL"):
        return url.rstrip("/")
    uri = tracking_uri()
    if uri.startswith("http://") or uri.startswith("https://"):
        return uri.rstrip("/")
    return "http://localhost:5000"


def run_url(experiment_id: str, run_id: str) -> str:
    return f"{ui_base_url()}/#/experiments/{experiment_id}/runs/{run_id}"


def model_version_url(name: str, version: str | int) -> str:
    return f"{ui_base_url()}/#/models/{quote(name, safe='')}/versions/{version}"
