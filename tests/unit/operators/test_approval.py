"""A rejected or unanswered approval is recorded as "not approved" (with who and why), never a skipped run."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest


@pytest.fixture
def operator(tmp_path, monkeypatch):
    monkeypatch.setenv("PIPELINE_DATA_DIR", str(tmp_path))
    from pipeline_factory.operators.approval import PromotionApprovalOperator

    return PromotionApprovalOperator(task_id="approve", pipeline="p", stage="approve", metrics_from="evaluate",
                                     subject="Promote?", response_timeout=timedelta(hours=72))


def _recorded(run_id: str = "r1") -> dict:
    from pipeline_factory.workspace import run_dir

    return json.loads((run_dir("p", run_id) / "approve" / "result.json").read_text())


def test_a_timed_out_approval_without_a_default_is_recorded_not_failed(operator):
    returned = operator.execute_complete({"run_id": "r1"}, {"error": "no response", "error_type": "timeout"})
    record = _recorded()
    assert returned == record
    assert record["timed_out"] is True and record["approved"] is False
    assert record["summary"] == "no response within 3 days, 0:00:00"


def test_a_timed_out_approval_with_a_default_names_the_default(operator):
    from datetime import UTC, datetime

    operator.execute_complete({"run_id": "r1"}, {"chosen_options": ["Reject"], "params_input": {},
                                                 "responded_at": datetime.now(UTC), "responded_by_user": None})
    record = _recorded()
    assert record["timed_out"] is True and record["approved"] is False
    assert record["summary"] == "no response within 3 days, 0:00:00; the default 'Reject' was taken"


def test_a_rejection_keeps_who_and_why_and_skips_nothing(operator, monkeypatch):
    from datetime import UTC, datetime

    from airflow.providers.standard.operators.hitl import ApprovalOperator

    monkeypatch.setattr(ApprovalOperator, "skip", lambda *a, **k: pytest.fail("Reject must not skip downstream"))
    operator.execute_complete({"run_id": "r1"}, {"chosen_options": ["Reject"], "params_input": {"reason": " too slow "},
                                                 "responded_at": datetime.now(UTC),
                                                 "responded_by_user": {"id": "u1", "name": "alice"}})
    record = _recorded()
    assert record["approved"] is False and record["timed_out"] is False
    assert record["responded_by"] == "alice" and record["reason"] == "too slow"
    assert record["summary"] == "rejected by alice: too slow"


def test_promote_turns_a_missing_approval_into_a_clear_error_and_a_rejection_into_a_veto(tmp_path):
    from pipeline_factory.exceptions import StageError
    from pipeline_factory.stages.contracts import StageContext
    from pipeline_factory.stages.ml.params import PromoteParams
    from pipeline_factory.stages.ml.promote import approval_of

    ctx = StageContext(pipeline="p", stage="promote", run_id="r1", run_dir=tmp_path, data_dir=tmp_path,
                       inputs={"approval": "approve"})  # wired by the loader from the stage's ports
    params = PromoteParams(approval="required")
    with pytest.raises(StageError, match="recorded no response"):
        approval_of(ctx, params)
    (tmp_path / "approve").mkdir()
    (tmp_path / "approve" / "result.json").write_text(json.dumps(
        {"kind": "ml.approval", "chosen_options": [], "timed_out": True, "summary": "no response within 1:00:00"}))
    approval = approval_of(ctx, params)
    assert approval["approved"] is False and approval["summary"] == "no response within 1:00:00"
