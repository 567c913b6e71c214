"""Control stage types: waiting on the ledger, waiting on a person."""

from __future__ import annotations

from pipeline_factory.stages.registry import StageType

STAGE_TYPES = [
    StageType(
        name="gate",
        family="control",
        params="pipeline_factory.stages.contracts:NoParams",
        impl=None,
        kind="gate",
        builder="pipeline_factory.sensors.ledger_gate:build_gate_task",
        description="Wait, deferred, until every job of the run has a ledger field set (see `condition`).",
    ),
    StageType(
        name="approval",
        optional=("metrics",),
        produces=("approval",),
        family="control",
        params="pipeline_factory.stages.control.params:ApprovalParams",
        impl=None,
        kind="approval",
        builder="pipeline_factory.operators.approval:build_approval_task",
        description="Wait for a person to approve in the Airflow UI (human-in-the-loop) before promote.",
    ),
]
