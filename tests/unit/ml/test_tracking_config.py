"""Where MLflow is found: environment, Airflow connection, embedded default."""

from __future__ import annotations

import json

import pytest

from pipeline_factory.tracking import mlflow_config


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path):
    for name in ("MLFLOW_TRACKING_URI", "AIRFLOW_CONN_MLFLOW_DEFAULT", "PIPELINE_MLFLOW_CONN_ID",
                 "AIRFLOW_CONN_TRACKING", "PIPELINE_MLFLOW_UI_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PIPELINE_DATA_DIR", str(tmp_path))


def test_embedded_default_is_sqlite_in_the_data_dir(tmp_path):
    assert mlflow_config.tracking_uri() == f"sqlite:///{tmp_path.resolve()}/mlflow/mlflow.db"
    assert mlflow_config.embedded_artifact_root() == tmp_path.resolve() / "mlflow" / "artifacts"
    assert mlflow_config.ui_base_url() == "http://localhost:5000"


def test_the_environment_variable_wins(monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://tracking:5000")
    monkeypatch.setenv("AIRFLOW_CONN_MLFLOW_DEFAULT", json.dumps({"conn_type": "http", "host": "other"}))
    assert mlflow_config.tracking_uri() == "http://tracking:5000"


@pytest.mark.parametrize(
    ("conn", "expected"),
    [
        (json.dumps({"conn_type": "http", "host": "mlflow", "port": 5000}), "http://mlflow:5000"),
        (json.dumps({"conn_type": "https", "host": "ml.example.org"}), "https://ml.example.org"),
        (json.dumps({"conn_type": "http", "host": "proxy", "schema": "mlflow"}), "http://proxy/mlflow"),
        (json.dumps({"conn_type": "generic", "extra": {"tracking_uri": "databricks"}}), "databricks"),
        ("http://mlflow.internal:8080", "http://mlflow.internal:8080"),
    ],
)
def test_the_airflow_connection_is_read_from_its_environment_variable(monkeypatch, conn, expected):
    monkeypatch.setenv("AIRFLOW_CONN_MLFLOW_DEFAULT", conn)
    assert mlflow_config.tracking_uri() == expected


def test_the_connection_id_can_be_renamed(monkeypatch):
    monkeypatch.setenv("PIPELINE_MLFLOW_CONN_ID", "tracking")
    monkeypatch.setenv("AIRFLOW_CONN_TRACKING", json.dumps({"conn_type": "http", "host": "t", "port": 1}))
    assert mlflow_config.tracking_uri() == "http://t:1"


def test_links_point_at_the_ui(monkeypatch):
    monkeypatch.setenv("PIPELINE_MLFLOW_UI_URL", "https://mlflow.example.org/")
    assert mlflow_config.run_url("3", "abc") == "https://mlflow.example.org/#/experiments/3/runs/abc"
    assert mlflow_config.model_version_url("p.m", 2) == "https://mlflow.example.org/#/models/p.m/versions/2"
