"""The stages against a real ``mlflow server`` process over HTTP, found through the ``mlflow_default`` connection."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import httpx
import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PIPELINE = "ml_test"
STAGES = ["fetch_data", "preprocess", "train", "validate_artifacts", "evaluate", "register", "promote"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def mlflow_server(ml_data_dir: Path):
    from pipeline_factory.devservers import mlflow as server

    port = _free_port()
    server.start(port)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        assert server.stop()


def test_register_and_promote_over_http(mlflow_server: str, ml_data_dir: Path, config_copy: Path,
                                        monkeypatch: pytest.MonkeyPatch, ml_spec, add_batches):
    from pipeline_factory.runner import run_stage
    from pipeline_factory.tracking.mlflow_config import tracking_uri

    host, port = mlflow_server.removeprefix("http://").split(":")
    monkeypatch.setenv("AIRFLOW_CONN_MLFLOW_DEFAULT",
                       json.dumps({"conn_type": "http", "host": host, "port": int(port)}))
    assert tracking_uri() == mlflow_server

    (config_copy / "pipelines" / f"{PIPELINE}.yaml").write_text(ml_spec())
    add_batches(ml_data_dir, "1-2")
    results = {stage: run_stage(PIPELINE, stage, run_id="http_run_1") for stage in STAGES}

    registered = results["register"]
    assert registered["run_url"].startswith(mlflow_server)
    assert results["promote"]["outcome"] == "champion"

    # Read back through the REST API, as any client of the server would.
    lead = f"{PIPELINE}.diagnosis_lgbm"
    alias = httpx.get(f"{mlflow_server}/api/2.0/mlflow/registered-models/alias",
                      params={"name": lead, "alias": "champion"}, timeout=10)
    alias.raise_for_status()
    version = alias.json()["model_version"]
    assert version["version"] == "1"
    tags = {t["key"]: t["value"] for t in version.get("tags", [])}
    assert tags["promotion.decision"] == "champion"
    run = httpx.get(f"{mlflow_server}/api/2.0/mlflow/runs/get",
                    params={"run_id": registered["mlflow_run_id"]}, timeout=10).json()["run"]
    metrics = {m["key"]: m["value"] for m in run["data"]["metrics"]}
    assert metrics["macro_f1"] == pytest.approx(results["evaluate"]["metrics"]["macro_f1"])
    params = {p["key"]: p["value"] for p in run["data"]["params"]}
    assert params["dataset.fingerprint"] == results["fetch_data"]["fingerprint"]

    # The server stored the artifacts (proxied): every model with its signature and input example.
    artifact_root = ml_data_dir / "mlflow" / "artifacts"
    mlmodels = list(artifact_root.rglob("MLmodel"))
    assert len(mlmodels) == len(results["train"]["planned"])
    assert all("signature:" in p.read_text() for p in mlmodels)
    assert list(artifact_root.rglob("feature_importance.json"))
    assert list(artifact_root.rglob("spec/ml_test.yaml"))

    # The plots, as the MLflow UI's artifact browser lists and fetches them.
    run_id = registered["mlflow_run_id"]
    listing = httpx.get(f"{mlflow_server}/api/2.0/mlflow/artifacts/list", params={"run_id": run_id, "path": "plots"},
                        timeout=10).json()
    plot_names = {Path(f["path"]).name for f in listing["files"]}
    assert {"confusion_diagnosis_lgbm.png", "roc_pr_diagnosis_lgbm.png", "history_macro_f1.png"} <= plot_names
    image = httpx.get(f"{mlflow_server}/get-artifact", params={"path": "plots/roc_pr_diagnosis_lgbm.png",
                                                               "run_uuid": run_id}, timeout=10)
    assert image.status_code == 200 and image.content.startswith(b"\x89PNG")

    # A second run: the champion is loaded back through the server (proxied artifacts) and scored on the new rows.
    add_batches(ml_data_dir, "3")
    second = {stage: run_stage(PIPELINE, stage, run_id="http_run_2") for stage in STAGES}
    comparison = second["promote"]["comparison"]
    assert comparison["unavailable"] is None, comparison["unavailable"]
    assert comparison["rows"] == second["evaluate"]["test_rows"] and comparison["champion_version"] == "1"
    assert second["promote"]["baseline"] == "same_rows"
