"""notify: send the run's summary (data, models, metrics, decision, MLflow link)."""

from __future__ import annotations

import logging
from typing import Any

from pipeline_factory.notify import send, summary_html
from pipeline_factory.stages.contracts import StageContext, StageResult
from pipeline_factory.stages.ml.params import NotifyParams

log = logging.getLogger(__name__)


def build_summary(ctx: StageContext) -> tuple[str, dict[str, Any]]:
    """The summary's sections, from whichever ml stages ran (missing ones are left out)."""
    fetched = ctx.input("dataset", required=False)
    trained = ctx.input("models", required=False)
    evaluated = ctx.input("metrics", required=False)
    registered = ctx.input("registered", required=False)
    promoted = ctx.input("promotion", required=False)
    sections: dict[str, Any] = {}
    if fetched:
        sections["Data"] = {
            "rows added": fetched.get("rows_added"),
            "batches added": ", ".join(fetched.get("batches_added") or []) or "none",
            "total rows": fetched.get("total_rows"),
            "fingerprint": fetched.get("fingerprint"),
        }
    if trained:
        sections["Models trained"] = {
            name: f"{m['library']} {m['task']} on {m['target']} ({m['train_seconds']}s)"
            for name, m in trained.get("models", {}).items()
        }
    if evaluated:
        sections["Metrics (test split)"] = dict(sorted(evaluated.get("metrics", {}).items()))
    if promoted:
        sections["Promotion"] = {
            "decision": promoted.get("outcome"),
            "reason": promoted.get("reason"),
            "registered model": promoted.get("registered_model"),
            "champion version": promoted.get("champion_version"),
        }
    if registered:
        sections["MLflow"] = {"run": registered.get("run_url")}
    decision = promoted.get("outcome") if promoted else "no promotion"
    return decision, sections


def as_text(title: str, sections: dict[str, Any]) -> str:
    lines = [title, ""]
    for heading, content in sections.items():
        lines.append(f"{heading}:")
        for key, value in content.items():
            shown = f"{value:.4f}" if isinstance(value, float) else value
            lines.append(f"  {key}: {shown}")
        lines.append("")
    return "\n".join(lines)


class Notify:
    def run(self, ctx: StageContext, params: NotifyParams) -> StageResult:
        decision, sections = build_summary(ctx)
        subject = params.subject or f"{ctx.pipeline} {ctx.run_id}: {decision}"
        title = f"Pipeline {ctx.pipeline}, run {ctx.run_id}"
        sent = send(
            params.notifiers, subject, as_text(title, sections),
            html_body=summary_html(title, sections), payload={"pipeline": ctx.pipeline, "run_id": ctx.run_id,
                                                               "decision": decision},
        )
        return {"kind": "ml.notify", "subject": subject, "sent": sent}
