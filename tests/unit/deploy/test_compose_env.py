"""Every environment variable the package reads is set where its stages run.

The scan is a source grep on purpose: it catches a variable added in any
module, imported or not, the day it is added.
"""

from __future__ import annotations

import re
from typing import Any

from .conftest import ROOT

READS = re.compile(
    r"""(?:os\.environ\.get|os\.getenv|os\.environ\.setdefault|environ\.get)\(\s*["']([A-Z][A-Z0-9_]*)["']"""
    r"""|os\.environ\[\s*["']([A-Z][A-Z0-9_]*)["']\s*\]"""
)

#: Read by the package but meaningless in the deployed stack, with the reason.
NOT_DEPLOYMENT_SETTINGS = {
    "PIPELINE_RUN_DIR": "set by the generic command stage for its own child process",
    "MAVEN": "the embedded Neo4j launcher (local runs only) looks for Maven here",
    "NEO4J_LAUNCHER_PORT": "the embedded Neo4j launcher (local runs only)",
    "NEO4J_HEAP": "the embedded Neo4j launcher; the server's heap is set on the neo4j service",
    "NEO4J_PAGECACHE": "the embedded Neo4j launcher; the server's page cache is set on the neo4j service",
    "CUDA_VISIBLE_DEVICES": "set per container by the NVIDIA runtime or the Kubernetes device plugin",
    "MLFLOW_HOST": "the local MLflow launcher (devservers/mlflow.py); compose runs its own mlflow service",
    "MLFLOW_PORT": "the local MLflow launcher (devservers/mlflow.py); compose runs its own mlflow service",
    "PIPELINE_VECTOR_ENGINE": "the embedded vector engine; compose sets QDRANT_URL (the Qdrant server)",
    "PIPELINE_VECTOR_LOCK_TIMEOUT": "the embedded Qdrant Edge engine's shard lock; compose uses the Qdrant server",
    "PIPELINE_UMASK": "set by the factory on stage containers and pods (002); workers keep the image's umask",
    "PIPELINE_WORKER_NAME": "one per Celery worker where several share a host (make run EXECUTOR=celery); "
                            "unset, the worker reports its host name",
}


#: Sub-packages that never run in a deployment (local stand-ins for external APIs).
NOT_DEPLOYED = ("devservers",)


def variables_read_by_the_package() -> dict[str, str]:
    found: dict[str, str] = {}
    package = ROOT / "include/pipeline_factory"
    for path in sorted(package.rglob("*.py")):
        if path.relative_to(package).parts[0] in NOT_DEPLOYED:
            continue
        for match in READS.finditer(path.read_text()):
            name = match.group(1) or match.group(2)
            found.setdefault(name, str(path.relative_to(ROOT)))
    return found


def test_the_scan_finds_the_settings_module_variables() -> None:
    found = variables_read_by_the_package()
    assert {"PIPELINE_FACTORY_CONFIG", "PIPELINE_DATA_DIR", "PIPELINE_RUNTIME", "PIPELINE_LEDGER_URL"} <= set(found)


def test_every_variable_the_code_reads_is_set_for_the_workers(compose: dict[str, Any]) -> None:
    worker_env = compose["services"]["airflow-worker"]["environment"]
    missing = {
        name: where
        for name, where in variables_read_by_the_package().items()
        if name not in worker_env and name not in NOT_DEPLOYMENT_SETTINGS
    }
    assert not missing, f"add these to x-project-env in docker-compose.yaml: {missing}"


def test_gpu_stage_runner_and_every_airflow_service_share_the_project_environment(compose: dict[str, Any]) -> None:
    reference = {k: v for k, v in compose["services"]["airflow-worker"]["environment"].items()
                 if not k.startswith(("AIRFLOW", "DUMB_INIT"))}
    for name in ("airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer",
                 "stage-runner"):
        env = compose["services"][name]["environment"]
        assert {k: env.get(k) for k in reference} == reference, name


def test_the_mlflow_connection_resolves_to_the_compose_server(compose: dict[str, Any], monkeypatch) -> None:
    """The connection alone (no MLFLOW_TRACKING_URI) must reach the same server."""
    from pipeline_factory.tracking import mlflow_config

    env = compose["services"]["airflow-worker"]["environment"]
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("PIPELINE_MLFLOW_CONN_ID", env["PIPELINE_MLFLOW_CONN_ID"])
    monkeypatch.setenv("AIRFLOW_CONN_MLFLOW_DEFAULT", env["AIRFLOW_CONN_MLFLOW_DEFAULT"])
    assert mlflow_config.tracking_uri() == env["MLFLOW_TRACKING_URI"]
