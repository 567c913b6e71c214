"""The stage operator hands over why a task skipped, was refused or what it decided."""

from __future__ import annotations

import pytest
from airflow.sdk.exceptions import AirflowSkipException

from pipeline_factory.exceptions import CircuitOpenError, StageSkipped
from pipeline_factory.observability.notes import NOTE_XCOM_KEY
from pipeline_factory.operators.stage import StageOperator


class _TaskInstance:
    try_number = 1

    def __init__(self) -> None:
        self.pushed: dict[str, object] = {}

    def xcom_push(self, key: str, value: object) -> None:
        self.pushed[key] = value


def _run(monkeypatch, outcome):
    def run_stage(*args, **kwargs):
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    monkeypatch.setattr("pipeline_factory.runner.run_stage", run_stage)
    ti = _TaskInstance()
    operator = StageOperator(task_id="collect", pipeline="p", stage="collect", stage_type="collect_pubmed")
    return operator, {"run_id": "r1", "params": {}, "ti": ti}, ti


def test_a_breaker_refusal_becomes_the_note_and_the_task_still_fails(monkeypatch):
    operator, context, ti = _run(monkeypatch, CircuitOpenError("circuit breaker 'ncbi-eutils' is open",
                                                                service="ncbi-eutils"))
    with pytest.raises(CircuitOpenError):
        operator.execute(context)
    assert ti.pushed[NOTE_XCOM_KEY].startswith("refused by the circuit breaker (ncbi-eutils)")


def test_a_skip_becomes_the_note(monkeypatch):
    operator, context, ti = _run(monkeypatch, StageSkipped("no live chunk to embed"))
    with pytest.raises(AirflowSkipException):
        operator.execute(context)
    assert ti.pushed[NOTE_XCOM_KEY] == "skipped: no live chunk to embed"


def test_a_promotion_decision_becomes_the_note_and_an_ordinary_result_none(monkeypatch):
    operator, context, ti = _run(monkeypatch, {"kind": "ml.promote", "outcome": "champion", "reason": "better"})
    operator.execute(context)
    assert ti.pushed[NOTE_XCOM_KEY] == "promotion: champion: better"
    operator, context, ti = _run(monkeypatch, {"documents": 4})
    operator.execute(context)
    assert NOTE_XCOM_KEY not in ti.pushed
