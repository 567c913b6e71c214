"""Promotion that waits for a person: Airflow's human-in-the-loop approval under ``dag.test()``.

The response is recorded through the Core API's own handler (the function
behind the UI's Required Actions page and ``PATCH .../hitlDetails``), called
with a session on the same metadata database, while ``dag.test()`` waits.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PIPELINE = "ml_test"
APPROVAL_TASK = "approve_promotion"


class Reviewer:
    """The user the auth manager would hand the route."""

    def get_id(self) -> str:
        return "reviewer-1"

    def get_name(self) -> str:
        return "reviewer"


def _dag(config: Path, spec: str):
    from airflow.dag_processing.dagbag import DagBag

    (config / "pipelines" / f"{PIPELINE}.yaml").write_text(spec)
    bag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    assert PIPELINE in bag.dag_ids, bag.import_errors
    return bag.get_dag(PIPELINE)


def _awaiting_input(timeout: float) -> tuple[str, str]:
    """(run_id, body) of the approval task once it waits for a person."""
    from airflow.models.hitl import HITLDetail
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from airflow.utils.state import TaskInstanceState
    from sqlalchemy import select

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with create_session() as session:
            row = session.execute(
                select(TaskInstance.run_id, HITLDetail.body)
                .join(HITLDetail, HITLDetail.ti_id == TaskInstance.id)
                .where(
                    TaskInstance.dag_id == PIPELINE,
                    TaskInstance.task_id == APPROVAL_TASK,
                    TaskInstance.state == TaskInstanceState.AWAITING_INPUT,
                )
            ).first()
        if row:
            return row[0], row[1] or ""
        time.sleep(0.5)
    raise AssertionError(f"{APPROVAL_TASK} never reached awaiting_input")


def _respond(run_id: str, option: str, reason: str | None = None) -> None:
    from airflow.api_fastapi.core_api.datamodels.hitl import UpdateHITLDetailPayload
    from airflow.api_fastapi.core_api.routes.public.hitl import update_hitl_detail
    from airflow.utils.session import create_session

    with create_session() as session:
        update_hitl_detail(
            dag_id=PIPELINE,
            dag_run_id=run_id,
            task_id=APPROVAL_TASK,
            update_hitl_detail_payload=UpdateHITLDetailPayload(
                chosen_options=[option], params_input={"reason": reason} if reason is not None else {}),
            user=Reviewer(),
            session=session,
        )


def _reviewer(seen: dict, option: str = "Approve", reason: str | None = None) -> None:
    """Waits for the request, notes what the person would see, then answers (in a thread)."""
    from pipeline_factory.tracking.mlflow_config import configure
    from pipeline_factory.tracking.registry import version_by_alias

    try:
        run_id, body = _awaiting_input(timeout=240)
        seen["body"] = body
        client = configure()
        lead = f"{PIPELINE}.diagnosis_lgbm"
        seen["versions_while_waiting"] = len(client.search_model_versions(f"name='{lead}'"))
        seen["champion_while_waiting"] = version_by_alias(client, lead, "champion")
        time.sleep(2)
        seen["still_waiting"] = _awaiting_input(timeout=1)[0] == run_id
        _respond(run_id, option, reason)
        seen["answered"] = True
    except BaseException as exc:
        seen["error"] = exc


@pytest.mark.timeout(400)
def test_promotion_waits_for_an_approval_in_the_ui(dag_runner, airflow_db, config_copy, ml_data_dir, mailbox,
                                                   ml_spec, add_batches):
    from pipeline_factory.tracking.mlflow_config import configure

    # compute: gpu: in the local profile train runs in its own runner process, as in a pod.
    dag = _dag(config_copy, ml_spec(approval=True, compute="gpu"))
    add_batches(ml_data_dir, "1-2")
    seen: dict = {}
    reviewer = threading.Thread(target=_reviewer, args=(seen,), daemon=True)
    reviewer.start()
    # dag.test() must own the main thread (signal handlers); it waits while the task awaits input.
    run = dag_runner.run(dag)
    reviewer.join(timeout=30)
    assert "error" not in seen, seen.get("error")

    # While waiting: the request showed the candidate's metrics, and nothing was promoted.
    assert "| macro_f1 |" in seen["body"] and "| component_avg_r2 |" in seen["body"]
    assert seen["versions_while_waiting"] == 1
    assert seen["champion_while_waiting"] is None
    assert seen["still_waiting"]

    states = dag_runner.states(run)
    assert run.state == "success", states
    assert states[APPROVAL_TASK] == "success" and states["promote"] == "success"
    assert type(dag.get_task("train")).__name__ == "LocalProcessStageOperator"
    client = configure()
    champion = client.get_model_version_by_alias(f"{PIPELINE}.diagnosis_lgbm", "champion")
    assert str(champion.version) == "1"
    assert champion.tags["promotion.approved_by"] == "reviewer"
    assert "champion" in mailbox.wait_for(1)[0]["Subject"]


@pytest.mark.timeout(400)
def test_a_rejected_promotion_still_sends_the_summary_saying_who_and_why(
        dag_runner, airflow_db, config_copy, ml_data_dir, mailbox, ml_spec, add_batches):
    from pipeline_factory.tracking.mlflow_config import configure
    from pipeline_factory.tracking.registry import version_by_alias

    dag = _dag(config_copy, ml_spec(approval=True))
    add_batches(ml_data_dir, "1-2")
    seen: dict = {}
    reviewer = threading.Thread(target=_reviewer, args=(seen, "Reject", "radius regressor drifts on new clinics"),
                                daemon=True)
    reviewer.start()
    run = dag_runner.run(dag)
    reviewer.join(timeout=30)
    assert "error" not in seen, seen.get("error")

    states = dag_runner.states(run)
    assert run.state == "success", states
    # Reject no longer skips promote and notify: promote records the refusal, notify reports it.
    assert states[APPROVAL_TASK] == "success" and states["promote"] == "success" and states["notify"] == "success"
    client = configure()
    lead = f"{PIPELINE}.diagnosis_lgbm"
    assert version_by_alias(client, lead, "champion") is None
    assert version_by_alias(client, lead, "challenger") is None
    tags = client.get_model_version(lead, "1").tags
    assert tags["promotion.decision"] == "rejected"
    assert tags["promotion.approval"] == "rejected by reviewer: radius regressor drifts on new clinics"
    [mail] = mailbox.wait_for(1)
    assert "rejected" in mail["Subject"]
    body = mailbox.text(mail)
    assert "rejected by reviewer: radius regressor drifts on new clinics" in body
    assert "the rule alone: no champion yet" in body  # what the rule would have done, for the record


def _sweep_after_deadline(seen: dict) -> None:
    """Waits for the request and its deadline, then runs the scheduler's own timeout sweep (in a thread)."""
    from airflow.jobs.job import Job
    from airflow.jobs.scheduler_job_runner import SchedulerJobRunner

    try:
        run_id, _ = _awaiting_input(timeout=240)
        time.sleep(3)  # past the 2-second response timeout
        SchedulerJobRunner(job=Job()).check_awaiting_input_timeouts()
        seen["swept"] = run_id
    except BaseException as exc:
        seen["error"] = exc


@pytest.mark.timeout(400)
def test_an_unanswered_approval_still_sends_the_summary(dag_runner, airflow_db, config_copy, ml_data_dir, mailbox,
                                                        ml_spec, add_batches):
    from pipeline_factory.tracking.mlflow_config import configure
    from pipeline_factory.tracking.registry import version_by_alias

    asked = 'with: {subject: "Promote the diagnosis model?"'
    spec = ml_spec(approval=True).replace(asked, asked + ", response_timeout_seconds: 2")
    dag = _dag(config_copy, spec)
    add_batches(ml_data_dir, "1-2")
    seen: dict = {}
    sweeper = threading.Thread(target=_sweep_after_deadline, args=(seen,), daemon=True)
    sweeper.start()
    run = dag_runner.run(dag)
    sweeper.join(timeout=30)
    assert "error" not in seen, seen.get("error")

    states = dag_runner.states(run)
    assert run.state == "success", states
    assert states[APPROVAL_TASK] == "success" and states["promote"] == "success" and states["notify"] == "success"
    client = configure()
    lead = f"{PIPELINE}.diagnosis_lgbm"
    assert version_by_alias(client, lead, "champion") is None
    assert client.get_model_version(lead, "1").tags["promotion.decision"] == "rejected"
    [mail] = mailbox.wait_for(1)
    assert "rejected" in mail["Subject"]
    assert "no response within 0:00:02" in mailbox.text(mail)
