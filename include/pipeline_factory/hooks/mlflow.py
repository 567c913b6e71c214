"""The MLflow tracking server as an Airflow connection (``mlflow_default``).

Its ``extra.tracking_uri``, or ``http(s)://host:port/schema``; see
:mod:`pipeline_factory.tracking.mlflow_config` for where it ranks among the
other ways to name the server.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import BaseHook


class MlflowHook(BaseHook):
    """Turns the connection into a tracking URI."""

    conn_name_attr = "mlflow_conn_id"
    default_conn_name = "mlflow_default"
    conn_type = "http"
    hook_name = "MLflow"

    def __init__(self, mlflow_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.mlflow_conn_id = mlflow_conn_id

    def get_tracking_uri(self) -> str | None:
        """The tracking URI the connection names, or None when it names no host."""
        from pipeline_factory.tracking.mlflow_config import uri_from_connection

        conn = self.get_connection(self.mlflow_conn_id)
        return uri_from_connection(
            conn.conn_type or "http", conn.host or "", conn.port, conn.schema or "", conn.extra_dejson or {}
        )
