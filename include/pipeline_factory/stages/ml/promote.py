"""promote: apply the spec's promotion rule and move the registry aliases.

The decision (champion or challenger), its reason and the numbers compared
are tagged on every model version of the run, on the MLflow run, and written
to the run report (``<run dir>/<stage>/report.md`` and
``<reports dir>/<pipeline>/<run id>.promotion.json``).
"""

from __future__ import annotations

import logging
from typing import Any

from pipeline_factory import settings
from pipeline_factory.exceptions import StageError
from pipeline_factory.stages.contracts import StageContext, StageResult
from pipeline_factory.stages.ml.params import PromoteParams
from pipeline_factory.tracking import mlflow_config
from pipeline_factory.tracking.promotion import promote
from pipeline_factory.tracking.registry import RegisteredVersion
from pipeline_factory.workspace import safe_run_id, write_json_atomic

log = logging.getLogger(__name__)

APPROVE = "Approve"


def approval_of(ctx: StageContext, params: PromoteParams) -> dict[str, Any]:
    """The approval stage's recorded response; refuses to go on without an 'Approve'."""
    result = ctx.input("approval", required=False)
    if not result:
        raise StageError("approval: required, but the approval stage recorded no response in this run "
                         "(is one upstream of this stage?)")
    chosen = list(result.get("chosen_options") or [])
    if APPROVE not in chosen:
        raise StageError(f"approval: required, but the approval stage answered {chosen or 'nothing'}")
    return dict(result)


def render_report(ctx: StageContext, outcome: dict[str, Any], registered: Any, approval: dict | None) -> str:
    lines = [
        f"# Promotion: {ctx.pipeline} run {ctx.run_id}",
        "",
        f"- decision: **{outcome['outcome']}**",
        f"- reason: {outcome['reason']}",
        f"- candidate value: {outcome['candidate_value']}",
        f"- champion value: {outcome['champion_value']}",
        f"- margin: {outcome['margin']}",
        f"- lead model: {outcome['lead_model']} (candidate v{outcome['candidate_version']}, "
        f"champion now v{outcome['champion_version']})",
        f"- MLflow run: {registered['run_url']}",
    ]
    if approval:
        lines.append(f"- approved by: {approval.get('responded_by') or 'unknown'}")
    return "\n".join(lines) + "\n"


class Promote:
    def run(self, ctx: StageContext, params: PromoteParams) -> StageResult:
        registered = ctx.input("registered")
        evaluated = ctx.input("metrics")
        approval = approval_of(ctx, params) if params.approval == "required" else None
        lead = params.lead_model or evaluated.get("lead_model") or next(iter(registered["versions"]))
        versions = {
            name: RegisteredVersion(v["name"], str(v["version"]), registered["mlflow_run_id"])
            for name, v in registered["versions"].items()
        }
        extra = {"promotion.airflow_run_id": ctx.run_id}
        if approval:
            extra["promotion.approved_by"] = str(approval.get("responded_by") or "unknown")
        client = mlflow_config.configure()
        result = promote(
            client, params.rule(), registered["mlflow_run_id"], versions, lead,
            extra_tags=extra, lock_timeout_seconds=params.lock_timeout_seconds,
        )
        outcome = result.as_dict()
        for key, value in result.decision.as_tags().items():
            client.set_tag(registered["mlflow_run_id"], key, value)

        report = render_report(ctx, outcome, registered, approval)
        (ctx.stage_dir / "report.md").write_text(report)
        payload = {**outcome, "pipeline": ctx.pipeline, "run_id": ctx.run_id,
                   "mlflow_run_id": registered["mlflow_run_id"], "run_url": registered["run_url"],
                   "registered_model": versions[lead].name}
        write_json_atomic(settings.reports_dir() / ctx.pipeline / f"{safe_run_id(ctx.run_id)}.promotion.json", payload)
        log.info("promote: %s", outcome["reason"])
        return {"kind": "ml.promote", **payload}
