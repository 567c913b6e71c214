"""Reasons as notes, read back through Airflow's own REST API (the core FastAPI app, real database)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

PIPELINE = "ml_test"
SOURCE = "ml/incoming/breast_cancer"  # the test spec's source folder (conftest)


@pytest.fixture
def rest_api(airflow_db: Path, monkeypatch: pytest.MonkeyPatch):
    """Airflow's public REST API (``/api/v2``) in-process, on the tests' metadata database."""
    from fastapi.testclient import TestClient

    monkeypatch.setenv("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS", "True")
    from airflow.api_fastapi.app import create_app, purge_cached_app

    purge_cached_app()
    with TestClient(create_app(apps="core"), base_url="http://localhost/api/v2") as client:
        yield client
    purge_cached_app()


def _dag(config: Path, spec: str):
    from airflow.dag_processing.dagbag import DagBag

    (config / "pipelines" / f"{PIPELINE}.yaml").write_text(spec)
    bag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    assert PIPELINE in bag.dag_ids, bag.import_errors
    return bag.get_dag(PIPELINE)


def test_a_training_run_with_no_new_batch_says_why_in_its_notes(dag_runner, config_copy, ml_data_dir, ml_spec,
                                                                 rest_api):

    (ml_data_dir / SOURCE).mkdir(parents=True)
    dag = _dag(config_copy, ml_spec())
    run = dag_runner.run(dag)
    assert set(dag_runner.states(run).values()) == {"skipped"}

    response = rest_api.get(f"/dags/{PIPELINE}/dagRuns/{run.run_id}")
    assert response.status_code == 200, response.text
    run_note = response.json()["note"]
    assert run_note.startswith("fetch_data: skipped: no new batches in ml/incoming/breast_cancer")
    assert "8 skipped" in run_note

    tis = rest_api.get(f"/dags/{PIPELINE}/dagRuns/{run.run_id}/taskInstances").json()["task_instances"]
    notes = {ti["task_id"]: ti["note"] for ti in tis}
    assert notes["fetch_data"].startswith("skipped: no new batches")
    assert "force_full_retrain" in notes["fetch_data"]
    assert notes["train"] is None  # skipped because its upstream was: the run's note says so

    # The Pipelines view's "Latest runs" section shows the same reasons, to readers of the pipeline only.
    from pipeline_factory.ui.runs import runs_overview

    [shown] = [r for r in runs_overview({PIPELINE})["runs"] if r["run_id"] == run.run_id]
    assert shown["note"] == run_note and shown["state"] == "success"
    assert shown["task_notes"] == {"fetch_data": notes["fetch_data"]}
    assert runs_overview({"another_pipeline"})["runs"] == []

    # While a run is still going, the view shows the reasons handed over so far (a waiting gate, say).
    from airflow.models.dagrun import DagRun
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    from pipeline_factory.observability.notes import NOTE_XCOM_KEY

    with create_session() as session:
        session.query(DagRun).filter(DagRun.dag_id == PIPELINE, DagRun.run_id == run.run_id).update(
            {"state": "running"})
        XComModel.set(NOTE_XCOM_KEY, "waiting at the gate: 2 of 3 job(s) still waiting", dag_id=PIPELINE,
                      task_id="train", run_id=run.run_id, session=session)
    [live] = [r for r in runs_overview({PIPELINE})["runs"] if r["run_id"] == run.run_id]
    assert live["task_notes"]["train"] == "waiting at the gate: 2 of 3 job(s) still waiting"
    assert live["task_notes"]["fetch_data"] == notes["fetch_data"]  # a written note wins over a handed-over one
