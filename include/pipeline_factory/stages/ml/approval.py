"""The ``approval`` control stage: a person approves the promotion in the Airflow UI.

Rendered as Airflow's human-in-the-loop ``ApprovalOperator`` (the task waits
in *awaiting input*; the Required Actions page shows the candidate's metrics).
"Reject" skips the stages downstream, so the aliases do not move.  The
response is also written to the run workspace, where ``promote`` with
``approval: required`` checks it: the alias never moves on an unapproved run,
whatever the DAG's shape.

Imported when DAGs are parsed: Airflow and pydantic only.
"""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.providers.standard.operators.hitl import ApprovalOperator

from pipeline_factory.stages.ml.params import ApprovalParams

if TYPE_CHECKING:
    from airflow.sdk import Context

log = logging.getLogger(__name__)

HEADLINE_METRICS = ("macro_f1", "accuracy", "component_avg_r2", "component_avg_rmse")


def metrics_markdown(metrics: dict[str, Any]) -> str:
    shown = [k for k in HEADLINE_METRICS if k in metrics] + sorted(k for k in metrics if k not in HEADLINE_METRICS)
    rows = "\n".join(f"| {k} | {float(metrics[k]):.4f} |" for k in shown)
    return f"| metric | candidate |\n|---|---|\n{rows}\n"


class PromotionApprovalOperator(ApprovalOperator):
    """ApprovalOperator that shows the candidate's metrics and records the answer in the workspace."""

    def __init__(self, *, pipeline: str, stage: str, metrics_from: str | None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.pipeline = pipeline
        self.stage = stage
        self.metrics_from = metrics_from

    def _run_dir(self, context: Context):
        from pipeline_factory.workspace import run_dir

        return run_dir(self.pipeline, context["run_id"])

    def execute(self, context: Context) -> Any:
        metrics: dict[str, Any] = {}
        result_file = self._run_dir(context) / (self.metrics_from or "") / "result.json"
        if self.metrics_from and result_file.exists():
            metrics = dict(json.loads(result_file.read_text()).get("metrics") or {})
        if metrics:
            self.body = f"{self.body or ''}\n\n{metrics_markdown(metrics)}".strip()
        return super().execute(context)

    def execute_complete(self, context: Context, event: dict[str, Any]) -> Any:
        from pipeline_factory.workspace import write_json_atomic

        ret = super().execute_complete(context=context, event=event)
        chosen = list(ret["chosen_options"])
        user = ret.get("responded_by_user") or {}
        record = {
            "kind": "ml.approval",
            "chosen_options": chosen,
            "approved": self.APPROVE in chosen,
            "responded_by": user.get("name") or user.get("id"),
            "responded_at": str(ret.get("responded_at")),
        }
        write_json_atomic(self._run_dir(context) / self.stage / "result.json", record)
        self.log.info("approval %s: %s by %s", self.stage, chosen, record["responded_by"])
        return ret


def build_approval_task(stage: Any, pipeline: Any, task_kwargs: dict[str, Any]) -> PromotionApprovalOperator:
    """The factory's builder hook for ``type: approval`` stages."""
    params = ApprovalParams.model_validate(stage.params)
    kwargs = dict(task_kwargs)
    execution_timeout = kwargs.pop("execution_timeout", None)
    seconds = params.response_timeout_seconds or getattr(stage, "timeout", None)
    response_timeout = timedelta(seconds=seconds) if seconds else execution_timeout
    body = params.body or (
        f"A training run of **{pipeline.name}** produced a candidate model. "
        "Approve to let `promote` apply the promotion rule; Reject to leave the registry as it is."
    )
    return PromotionApprovalOperator(
        pipeline=pipeline.name,
        stage=stage.name,
        metrics_from=getattr(stage, "inputs", {}).get("metrics"),  # the ``metrics`` producer, as wired
        subject=params.subject or f"Promote {pipeline.name} run {{{{ run_id }}}}?",
        body=body,
        defaults=params.default_option,
        response_timeout=response_timeout,
        assigned_users=[{"id": u, "name": u} for u in params.assigned_users] or None,
        **kwargs,
    )
