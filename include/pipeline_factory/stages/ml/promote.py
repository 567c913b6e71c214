"""promote: apply the spec's promotion rule and move the registry aliases.

The champion is scored on this run's held-out rows (minus any row either
model trained on) and the rule compares the two on those same rows.  The
decision (champion or challenger), its reason, both models' metrics, the
rows' count and fingerprint are tagged on every model version of the run, on
the MLflow run (with ``comparison.json`` in MLflow's validation shape), and
written to the run report (``<run dir>/<stage>/report.md`` and
``<reports dir>/<pipeline>/<run id>.promotion.json``).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
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
    """The approval stage's recorded response; fails when the run has none at all (a DAG without it)."""
    result = ctx.input("approval", required=False)
    if not result:
        raise StageError("approval: required, but the approval stage recorded no response in this run "
                         "(is one upstream of this stage?)")
    result = dict(result)
    result["approved"] = APPROVE in list(result.get("chosen_options") or [])
    result.setdefault("summary", f"{'approved' if result['approved'] else 'rejected'} by "
                                 f"{result.get('responded_by') or 'unknown'}")
    return result


def make_compare(ctx: StageContext, registered: Any, lead: str):
    """The ``compare`` hook for :func:`~pipeline_factory.tracking.promotion.promote`: this run's rows."""
    import pandas as pd

    from pipeline_factory.stages.ml.compare import compare_on_rows, load_candidate
    from pipeline_factory.stages.ml.preprocess import ROW_ID

    prep = ctx.input("features")
    trained = ctx.input("models")
    evaluated = ctx.input("metrics")
    folder = Path(prep["folder"])
    schema = json.loads((folder / "schema.json").read_text())
    rows = pd.read_parquet(folder / "test.parquet")
    seen = set()
    for name in ("train", "validation"):
        part = pd.read_parquet(folder / f"{name}.parquet")
        if ROW_ID in part.columns:
            seen.update(part[ROW_ID].tolist())
    candidate = load_candidate(Path(trained["folder"]), list(trained["planned"]))

    def compare(champion: Any):
        return compare_on_rows(
            mlflow_config.configure(), champion, candidate, rows, lead_model=lead,
            prefix=registered["registered_model_prefix"], time_column=schema["time_column"],
            classes=schema["classes"], candidate_seen=seen, candidate_metrics=evaluated.get("metrics"),
        )

    return compare


def validation_record(rule: Any, outcome: dict[str, Any]) -> dict[str, Any]:
    """The comparison in the shape of MLflow's ``validate_evaluation_results`` (metric -> threshold, values)."""
    comparison = outcome.get("comparison") or {}
    candidate = comparison.get("candidate") or {}
    champion = comparison.get("champion") or {}
    record: dict[str, Any] = {"rows": comparison.get("rows"), "rows_fingerprint": comparison.get("rows_fingerprint"),
                              "excluded_rows": comparison.get("excluded_rows"),
                              "baseline": outcome.get("baseline"), "unavailable": comparison.get("unavailable"),
                              "metrics": {}}
    record["metrics"][rule.metric] = {
        "candidate": candidate.get(rule.metric, outcome.get("candidate_value")),
        "baseline": champion.get(rule.metric, outcome.get("champion_value")),
        "threshold": {"threshold": rule.floor, "min_absolute_change": rule.min_improvement,
                      "greater_is_better": rule.higher_is_better},
        "margin": outcome.get("margin"),
        "passed": outcome.get("outcome") == "champion",
    }
    for guardrail in rule.parsed_guardrails():
        record["metrics"][guardrail.metric] = {
            "candidate": candidate.get(guardrail.metric), "baseline": champion.get(guardrail.metric),
            "threshold": {"threshold": guardrail.threshold, "operator": guardrail.op},
            "passed": not any(str(guardrail) in check for check in outcome.get("failed_checks") or []),
        }
    return record


def log_comparison(client: Any, run_id: str, rule: Any, outcome: dict[str, Any]) -> dict[str, Any]:
    """Both models' metrics on the same rows, the margin and the rule, on the candidate's MLflow run."""

    record = validation_record(rule, outcome)
    comparison = outcome.get("comparison") or {}
    for whose in ("candidate", "champion"):
        for name, value in (comparison.get(whose) or {}).items():
            client.log_metric(run_id, f"compare.{whose}.{name}", float(value))
    if outcome.get("margin") is not None:
        client.log_metric(run_id, "compare.margin", float(outcome["margin"]))
    client.log_dict(run_id, record, "promotion/comparison.json")
    return record


PLOTS_DIR = "plots"


def history_points(client: Any, lead: RegisteredVersion, metric: str) -> list[dict[str, Any]]:
    """The lead metric of every registered version of the lead model (each on its own test split)."""
    from pipeline_factory.tracking.promotion_rule import CHAMPION
    from pipeline_factory.tracking.registry import version_by_alias

    champion = version_by_alias(client, lead.name, CHAMPION)
    points = []
    for version in client.search_model_versions(f"name='{lead.name}'"):
        value = client.get_run(version.run_id).data.metrics.get(metric) if version.run_id else None
        if value is None:
            continue
        points.append({"version": str(version.version), "value": float(value),
                       "champion": champion is not None and str(champion.version) == str(version.version),
                       "candidate": str(version.version) == str(lead.version)})
    return sorted(points, key=lambda p: int(p["version"]))


def draw_plots(ctx: StageContext, client: Any, result: Any, registered: Any, lead: RegisteredVersion,
               rule: Any) -> dict[str, str]:
    """Draw the promotion's plots into ``<stage>/plots`` and log them to the MLflow run under ``plots/``."""
    import pandas as pd

    from pipeline_factory.stages.ml import plots
    from pipeline_factory.stages.ml.compare import load_candidate
    from pipeline_factory.stages.ml.evaluate import score_models

    evaluated = ctx.input("metrics")
    comparison = result.comparison
    if comparison is not None and comparison.candidate_predictions:
        candidate, champion = comparison.candidate_predictions, comparison.champion_predictions
    else:
        prep, trained = ctx.input("features"), ctx.input("models")
        rows = pd.read_parquet(Path(prep["folder"]) / "test.parquet")
        loaded = load_candidate(Path(trained["folder"]), list(trained["planned"]))
        candidate, champion = score_models(loaded, rows, result.lead_model)["predictions"], None
    importance_file = Path(evaluated["folder"]) / "feature_importance.json"
    importances = json.loads(importance_file.read_text()) if importance_file.exists() else {}
    out = ctx.stage_dir / PLOTS_DIR
    drawn = plots.render_all(out, candidate, champion, lead_model=result.lead_model, importances=importances,
                             metric=rule.metric, history_points=history_points(client, lead, rule.metric))
    if drawn:
        client.log_artifacts(registered["mlflow_run_id"], str(out), PLOTS_DIR)
    return drawn


def render_report(ctx: StageContext, outcome: dict[str, Any], registered: Any, approval: dict | None) -> str:
    lines = [
        f"# Promotion: {ctx.pipeline} run {ctx.run_id}",
        "",
        f"- decision: **{outcome['outcome']}**",
        f"- reason: {outcome['reason']}",
        f"- candidate value: {outcome['candidate_value']}",
        f"- champion value: {outcome['champion_value']}",
        f"- margin: {outcome['margin']}",
        f"- compared on: {_rows_line(outcome)}",
        f"- lead model: {outcome['lead_model']} (candidate v{outcome['candidate_version']}, "
        f"champion now v{outcome['champion_version']})",
        f"- MLflow run: {registered['run_url']}",
    ]
    if approval:
        lines.append(f"- approval: {approval['summary']}")
    return "\n".join(lines) + "\n"


def _rows_line(outcome: dict[str, Any]) -> str:
    comparison = outcome.get("comparison")
    if not comparison:
        return "no champion to compare with" if outcome.get("baseline") == "none" else "each run's own test split"
    if comparison.get("unavailable"):
        return f"nothing: the champion could not be scored ({comparison['unavailable']})"
    return (f"the same {comparison['rows']} held-out rows (fingerprint {comparison['rows_fingerprint']}, "
            f"{comparison['excluded_rows']} rows left out because a model trained on them)")


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
        veto = None
        if approval and approval["approved"]:
            extra["promotion.approved_by"] = str(approval.get("responded_by") or "unknown")
        elif approval:
            veto = f"not approved: {approval['summary']}"
            extra["promotion.approval"] = approval["summary"]
        client = mlflow_config.configure()
        rule = params.rule()
        result = promote(
            client, rule, registered["mlflow_run_id"], versions, lead,
            extra_tags=extra, lock_timeout_seconds=params.lock_timeout_seconds,
            compare=make_compare(ctx, registered, lead), veto=veto,
        )
        outcome = result.as_dict()
        for key, value in result.decision.as_tags().items():
            client.set_tag(registered["mlflow_run_id"], key, value)
        outcome["validation"] = log_comparison(client, registered["mlflow_run_id"], rule, outcome)
        plots = draw_plots(ctx, client, result, registered, versions[lead], rule)

        report = render_report(ctx, outcome, registered, approval)
        (ctx.stage_dir / "report.md").write_text(report)
        payload = {**outcome, "approval": approval, "pipeline": ctx.pipeline, "run_id": ctx.run_id,
                   "mlflow_run_id": registered["mlflow_run_id"], "run_url": registered["run_url"],
                   "registered_model": versions[lead].name,
                   "model_versions": {name: {"name": v.name, "version": v.version} for name, v in versions.items()},
                   "rule": rule.model_dump(), "plots_dir": str(ctx.stage_dir / PLOTS_DIR), "plots": plots}
        write_json_atomic(settings.reports_dir() / ctx.pipeline / f"{safe_run_id(ctx.run_id)}.promotion.json", payload)
        log.info("promote: %s", outcome["reason"])
        return {"kind": "ml.promote", **payload}
