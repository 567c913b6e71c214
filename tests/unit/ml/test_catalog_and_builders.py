"""The ml family in the registry, light parse-time imports, the approval builder and notifier specs."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from types import SimpleNamespace

import pytest
from pydantic import ValidationError

from pipeline_factory.stages.registry import default_registry

HEAVY = ("mlflow", "lightgbm", "xgboost", "torch", "pandas", "sklearn", "pyarrow", "numpy")


def test_every_ml_stage_type_is_registered_and_loads():
    registry = default_registry()
    names = {"fetch_data", "preprocess", "train", "validate_artifacts", "evaluate", "register", "promote", "notify"}
    for name in names:
        stage_type = registry.get(name)
        assert stage_type.family == "ml"
        stage_type.params_model()
        assert hasattr(stage_type.load(), "run")
    approval = registry.get("approval")
    assert approval.kind == "approval" and approval.impl is None


def test_parse_time_modules_import_no_heavy_library():
    code = (
        "import sys\n"
        "import pipeline_factory.stages.ml.catalog, pipeline_factory.stages.ml.params\n"
        "import pipeline_factory.operators.approval, pipeline_factory.notify\n"
        "import pipeline_factory.tracking.mlflow_config, pipeline_factory.tracking.promotion_rule\n"
        f"print([m for m in {HEAVY!r} if m in sys.modules])\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env=os.environ.copy())
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "[]"


def test_approval_builder_renders_airflows_approval_operator():
    from airflow.providers.standard.operators.hitl import ApprovalOperator

    from pipeline_factory.operators.approval import build_approval_task, metrics_markdown

    stage = SimpleNamespace(name="approve_promotion", timeout=None,
                            params={"response_timeout_seconds": 3600, "default_option": "Reject",
                                    "assigned_users": ["alice"]})
    pipeline = SimpleNamespace(name="model_training")
    task = build_approval_task(stage, pipeline, {"task_id": "approve_promotion", "retries": 0,
                                                 "execution_timeout": timedelta(hours=2), "pool": "default_pool"})
    assert isinstance(task, ApprovalOperator)
    assert task.task_id == "approve_promotion"
    assert task.options == ["Approve", "Reject"] and task.defaults == ["Reject"]
    assert task.response_timeout == timedelta(hours=1)
    assert task.execution_timeout is None
    assert task.assigned_users == [{"id": "alice", "name": "alice"}]
    assert "model_training" in task.subject and "{{ run_id }}" in task.subject
    assert "| macro_f1 | 0.9123 |" in metrics_markdown({"macro_f1": 0.91234, "x.r2": 0.5})


def test_approval_params_reject_unknown_keys():
    from pipeline_factory.operators.approval import build_approval_task

    stage = SimpleNamespace(name="a", timeout=None, params={"timeout": 5})
    with pytest.raises(ValidationError, match="timeout"):
        build_approval_task(stage, SimpleNamespace(name="p"), {"task_id": "a"})


def test_notifier_specs_are_validated_up_front():
    from pipeline_factory.notify import build_callbacks, parse_notifiers

    [smtp, log] = parse_notifiers([{"type": "smtp", "to": ["a@example.org"]}, {"type": "log"}])
    assert smtp.conn_id == "smtp_default" and log.level == "info"
    with pytest.raises(ValidationError, match="pager"):
        parse_notifiers([{"type": "pager"}])
    with pytest.raises(ValidationError, match="recipients"):
        parse_notifiers([{"type": "smtp", "recipients": ["x"]}])
    callbacks = build_callbacks([{"type": "log"}, {"type": "smtp", "to": ["a@example.org"]}])
    assert [c.__name__ for c in callbacks] == ["notify_log", "notify_smtp"]


def test_promote_requires_a_recorded_approval(tmp_path):
    from pipeline_factory.exceptions import StageError
    from pipeline_factory.stages.contracts import StageContext
    from pipeline_factory.stages.ml.params import PromoteParams
    from pipeline_factory.stages.ml.promote import approval_of

    ctx = StageContext(pipeline="p", stage="promote", run_id="r", run_dir=tmp_path, data_dir=tmp_path)
    params = PromoteParams(approval="required")
    with pytest.raises(StageError, match="recorded no response"):
        approval_of(ctx, params)
    ctx.inputs = {"approval": "approve_promotion"}  # wired by the loader from the stage's ports
    with pytest.raises(StageError, match="recorded no response"):
        approval_of(ctx, params)
    # A Reject is a recorded answer: promote goes on, records it as a veto and moves no alias.
    ctx.upstream = {"approve_promotion": {"chosen_options": ["Reject"], "responded_by": "ann"}}
    rejected = approval_of(ctx, params)
    assert rejected["approved"] is False and rejected["summary"] == "rejected by ann"
    ctx.upstream = {"approve_promotion": {"chosen_options": ["Approve"], "responded_by": "bob"}}
    assert approval_of(ctx, params)["responded_by"] == "bob"


def test_the_answer_is_recorded_in_the_workspace_for_promote(tmp_path, monkeypatch):
    import json
    from datetime import UTC, datetime

    from pipeline_factory.operators.approval import build_approval_task
    from pipeline_factory.workspace import run_dir

    monkeypatch.setenv("PIPELINE_DATA_DIR", str(tmp_path))
    task = build_approval_task(SimpleNamespace(name="approve_promotion", timeout=None, params={}),
                               SimpleNamespace(name="model_training"), {"task_id": "approve_promotion"})
    event = {"chosen_options": ["Approve"], "params_input": {}, "responded_at": datetime(2026, 1, 2, tzinfo=UTC),
             "responded_by_user": {"id": "u1", "name": "alice"}}
    task.execute_complete({"run_id": "manual__2026-01-02T00:00:00+00:00"}, event)
    record = json.loads((run_dir("model_training", "manual__2026-01-02T00:00:00+00:00") / "approve_promotion"
                         / "result.json").read_text())
    assert record == {"kind": "ml.approval", "chosen_options": ["Approve"], "approved": True,
                      "responded_by": "alice", "responded_at": "2026-01-02 00:00:00+00:00", "reason": None,
                      "timed_out": False, "summary": "approved by alice"}
