"""The ``approval`` control stage: a person approves the promotion in the Airflow UI.

Rendered as Airflow's human-in-the-loop ``ApprovalOperator`` (the task waits
in *awaiting input*; the Required Actions page shows the candidate's metrics
and asks for an optional reason).  The response (who, when, why) is written
to the run workspace, where ``promote`` with ``approval: required`` reads it:
the alias never moves on an unapproved run, whatever the DAG's shape.

Unlike the stock operator, "Reject" does not skip the stages downstream, and
a response timeout without a ``default_option`` does not fail the task: both
are recorded as "not approved", ``promote`` records the refusal (no alias
moves) and ``notify`` still sends the summary saying who rejected and why, or
that nobody answered in time.

Imported when DAGs are parsed: Airflow and pydantic only.
"""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.providers.standard.operators.hitl import ApprovalOperator

from pipeline_factory.stages.control.params import ApprovalParams

if TYPE_CHECKING:
    from airflow.sdk import Context

log = logging.getLogger(__name__)

HEADLINE_METRICS = ("macro_f1", "accuracy", "component_avg_r2", "component_avg_rmse")


def metrics_markdown(metrics: dict[str, Any]) -> str:
    shown = [k for k in HEADLINE_METRICS if k in metrics] + sorted(k for k in metrics if k not in HEADLINE_METRICS)
    rows = "\n".join(f"| {k} | {float(metrics[k]):.4f} |" for k in shown)
    return f"| metric | candidate |\n|---|---|\n{rows}\n"


REASON_PARAM = "reason"


def approval_record(chosen: list[str], by: str | None, at: Any, reason: str | None, *, timed_out: bool,
                    timeout: timedelta | None) -> dict[str, Any]:
    """What ``promote`` and ``notify`` read: the answer, who gave it, when and why."""
    approved = ApprovalOperator.APPROVE in chosen
    if timed_out:
        waited = f" within {timeout}" if timeout else ""
        taken = f"; the default {chosen[0]!r} was taken" if chosen else ""
        summary = f"no response{waited}{taken}"
    else:
        summary = f"{'approved' if approved else 'rejected'} by {by or 'unknown'}"
        if reason:
            summary += f": {reason}"
    return {
        "kind": "ml.approval",
        "chosen_options": list(chosen),
        "approved": approved,
        "responded_by": by,
        "responded_at": str(at) if at else None,
        "reason": reason,
        "timed_out": timed_out,
        "summary": summary,
    }


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
        from airflow.providers.standard.exceptions import HITLTimeoutError
        from airflow.providers.standard.operators.hitl import HITLOperator

        from pipeline_factory.workspace import write_json_atomic

        try:
            # HITLOperator's, not ApprovalOperator's: a "Reject" must not skip promote and notify.
            ret = HITLOperator.execute_complete(self, context=context, event=event)
        except HITLTimeoutError:
            record = approval_record([], None, None, None, timed_out=True, timeout=self.response_timeout)
            write_json_atomic(self._run_dir(context) / self.stage / "result.json", record)
            self.log.warning("approval %s: no response within %s; not approved", self.stage, self.response_timeout)
            return record
        chosen = list(ret["chosen_options"])
        user = ret.get("responded_by_user") or {}
        reason = str((ret.get("params_input") or {}).get(REASON_PARAM) or "").strip() or None
        record = approval_record(chosen, user.get("name") or user.get("id"), ret.get("responded_at"), reason,
                                 timed_out=not user, timeout=self.response_timeout)
        self.hitl_summary_extra["approved"] = record["approved"]
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
    from airflow.sdk import Param

    return PromotionApprovalOperator(
        pipeline=pipeline.name,
        params={REASON_PARAM: Param("", type="string", title="Reason",
                                    description="Why (optional): shown in the summary notification.")},
        stage=stage.name,
        metrics_from=getattr(stage, "inputs", {}).get("metrics"),  # the ``metrics`` producer, as wired
        subject=params.subject or f"Promote {pipeline.name} run {{{{ run_id }}}}?",
        body=body,
        defaults=params.default_option,
        response_timeout=response_timeout,
        assigned_users=[{"id": u, "name": u} for u in params.assigned_users] or None,
        **kwargs,
    )
