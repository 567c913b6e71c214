from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from airflow.sdk.exceptions import AirflowFailException, AirflowSensorTimeout, AirflowSkipException, TaskDeferred

from pipeline_factory.sensors.ledger_gate import LedgerGateSensor, build_gate_task
from pipeline_factory.triggers.ledger_gate import LedgerGateTrigger

RUN_ID = "manual__2026-11-22T10:00:00+00:00"
KEY = f"docs_pdf_two_phase/{RUN_ID}"


def context():
    return {"dag": SimpleNamespace(dag_id="docs_pdf_two_phase"), "run_id": RUN_ID}


def sensor(**kwargs) -> LedgerGateSensor:
    return LedgerGateSensor(task_id="wait_for_pdf_ir", poke_interval=5, timeout=600, **kwargs)


def test_defers_to_the_trigger_with_its_own_deadline(ledger, add_jobs):
    ids = add_jobs(ledger, KEY, 2, state="gated", pdf_downloaded=True)
    ledger.fail(ids[0], "download: truncated PDF")
    with pytest.raises(TaskDeferred) as deferred:
        sensor().execute(context())
    trigger = deferred.value.trigger
    assert isinstance(trigger, LedgerGateTrigger)
    _, kwargs = trigger.serialize()
    assert kwargs["dag_run_id"] == KEY
    assert (kwargs["field"], kwargs["equals"], kwargs["poll_interval"]) == ("pdf_ir_ready", True, 5.0)
    assert kwargs["exclude_jobs"] == [ids[0]]
    deadline = datetime.fromisoformat(kwargs["deadline"])
    assert timedelta(seconds=590) < deadline - datetime.now(UTC) <= timedelta(seconds=600)
    assert deferred.value.method_name == "execute_complete"
    assert deferred.value.timeout == timedelta(seconds=660)


def test_succeeds_without_deferring_when_the_run_is_already_ready(ledger, add_jobs):
    ids = add_jobs(ledger, KEY, 2, state="gated", pdf_ir_ready=True)
    result = sensor().execute(context())
    assert result["status"] == "success" and result["jobs"]["ready"] == sorted(ids)


def test_fails_at_once_when_a_job_fails_while_waiting_in_poke_mode(ledger, add_jobs):
    ids = add_jobs(ledger, KEY, 2, state="gated")
    gate = sensor(deferrable=False)
    assert gate.poke(context()) is False
    ledger.fail(ids[1], "embed: CUDA out of memory")
    with pytest.raises(AirflowFailException, match="CUDA out of memory"):
        gate.poke(context())


def test_poke_mode_returns_the_summary_when_ready(ledger, add_jobs):
    ids = add_jobs(ledger, KEY, 1, state="gated")
    gate = sensor(deferrable=False)
    assert gate.poke(context()) is False
    ledger.mark(ids[0], pdf_ir_ready=True)
    done = gate.poke(context())
    assert done.is_done and done.xcom_value["status"] == "success"


def test_a_run_without_jobs_is_skipped(ledger):
    with pytest.raises(AirflowSkipException, match="no jobs"):
        sensor().execute(context())


@pytest.mark.parametrize(
    ("event", "error"),
    [
        ({"status": "failed", "message": "1 of 2 job(s) failed: j: boom"}, AirflowFailException),
        ({"status": "timeout", "message": "gate timed out: still not pdf_ir_ready=True: j"}, AirflowSensorTimeout),
        ({"status": "error", "message": "OperationalError"}, AirflowFailException),
        (None, AirflowFailException),
    ],
)
def test_execute_complete_raises_unless_success(event, error):
    with pytest.raises(error):
        sensor().execute_complete(context(), event)


def test_execute_complete_returns_the_event_on_success():
    event = {"status": "success", "message": "all 2 job(s)", "jobs": {"ready": ["a", "b"]}}
    assert sensor().execute_complete(context(), event) == event


def test_build_gate_task_maps_the_stage_spec():
    stage = SimpleNamespace(
        name="wait_for_pdf_ir",
        condition=SimpleNamespace(ledger_field="pdf_ir_ready", equals=True),
        timeout=7200.0,
        poke_interval=15.0,
    )
    task_kwargs = {
        "task_id": "wait_for_pdf_ir",
        "retries": 0,
        "retry_delay": timedelta(seconds=30),
        "pool": "default_pool",
        "execution_timeout": timedelta(seconds=60),
    }
    gate = build_gate_task(stage, SimpleNamespace(name="docs_pdf_two_phase"), task_kwargs)
    assert isinstance(gate, LedgerGateSensor)
    assert (gate.task_id, gate.field, gate.equals) == ("wait_for_pdf_ir", "pdf_ir_ready", True)
    assert (gate.timeout, gate.poke_interval, gate.deferrable) == (7200.0, 15.0, True)
    assert gate.execution_timeout is None
    assert task_kwargs["execution_timeout"] == timedelta(seconds=60)


def test_the_ledger_url_comes_from_the_env_or_the_airflow_connection(monkeypatch):
    from pipeline_factory.hooks.ledger import LedgerHook

    monkeypatch.setenv("PIPELINE_LEDGER_URL", "sqlite:////tmp/x.sqlite")
    monkeypatch.setenv("AIRFLOW_CONN_PIPELINE_LEDGER", "postgresql://ledger:secret@db.example:5432/ledger")
    assert LedgerHook().get_url() == "sqlite:////tmp/x.sqlite"
    monkeypatch.delenv("PIPELINE_LEDGER_URL")
    assert LedgerHook().get_url() == "postgresql+psycopg2://ledger:secret@db.example:5432/ledger"
    # handed on explicitly: the environment of this process is left as it was
    import os

    assert "PIPELINE_LEDGER_URL" not in os.environ
    monkeypatch.delenv("AIRFLOW_CONN_PIPELINE_LEDGER")
    assert LedgerHook().get_url() is None


def test_the_gate_reports_the_ledger_jobs_table_as_its_lineage_input(tmp_path):
    from pipeline_factory.sensors.ledger_gate import LedgerGateSensor

    sensor = LedgerGateSensor(task_id="gate", ledger_url=f"sqlite:///{tmp_path}/ledger.sqlite")
    lineage = sensor.get_openlineage_facets_on_start()
    assert [(d.namespace, d.name) for d in lineage.inputs] == [(f"sqlite://{tmp_path}/ledger.sqlite", "jobs")]
    assert lineage.outputs == []
