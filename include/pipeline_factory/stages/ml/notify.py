"""notify: send the run's summary to people, whatever the outcome.

Promoted, kept as challenger, rejected by a reviewer or left unanswered: the
summary always goes out, saying what was decided, by which rule, on which rows
and (for an approval) by whom and why.  The mail is short HTML with a
plain-text part: the decision, a metrics table (candidate against champion on
the same rows, with the delta), the margin and the rule, links to the MLflow
run and model versions, every model trained, and the promotion's plots inline.
"""

from __future__ import annotations

import html
import logging
from pathlib import Path
from typing import Any

from pipeline_factory.notify import send
from pipeline_factory.stages.contracts import StageContext, StageResult
from pipeline_factory.stages.ml.params import NotifyParams
from pipeline_factory.tracking.promotion import HEADLINE_METRICS

log = logging.getLogger(__name__)

#: Most plots inlined in one mail; the rest are in MLflow and the Pipelines view.
MAX_INLINE_PLOTS = 12


def metrics_table(promoted: Any, evaluated: Any) -> list[dict[str, Any]]:
    """Rows ``{metric, candidate, champion, delta}``: on the same rows when promote compared them."""
    comparison = (promoted or {}).get("comparison") or {}
    candidate = comparison.get("candidate") or (evaluated or {}).get("metrics") or {}
    champion = comparison.get("champion") or {}
    order = [m for m in HEADLINE_METRICS if m in candidate] + sorted(m for m in candidate if m not in HEADLINE_METRICS)
    rows = []
    for metric in order:
        value = float(candidate[metric])
        base = champion.get(metric)
        rows.append({"metric": metric, "candidate": value, "champion": None if base is None else float(base),
                     "delta": None if base is None else value - float(base)})
    return rows


def rows_note(promoted: Any) -> str:
    comparison = (promoted or {}).get("comparison")
    if not promoted:
        return "test split (no promotion ran)"
    if not comparison:
        return "this run's test split; there was no champion to compare with"
    if comparison.get("unavailable"):
        return f"this run's test split; the champion could not be scored: {comparison['unavailable']}"
    return (f"candidate and champion v{comparison['champion_version']} on the same {comparison['rows']} held-out "
            f"rows (fingerprint {comparison['rows_fingerprint']}; {comparison['excluded_rows']} rows left out "
            "because a model trained on them)")


def rule_text(rule: Any) -> str:
    if not rule:
        return ""
    direction = "higher" if rule.get("higher_is_better", True) else "lower"
    parts = [f"{rule['metric']} ({direction} is better) must beat the champion by at least "
             f"{rule.get('min_improvement', 0):g}"]
    if rule.get("floor") is not None:
        parts.append(f"{'floor' if rule.get('higher_is_better', True) else 'ceiling'} {rule['floor']:g}")
    parts.extend(f"{metric} {expr}" for metric, expr in (rule.get("guardrails") or {}).items())
    parts.append(f"champion not scorable: {rule.get('baseline_unavailable', 'refuse')}")
    return "; ".join(parts)


def build_summary(ctx: StageContext) -> dict[str, Any]:
    """Everything the mail says, from whichever ml stages ran (missing ones are left out)."""
    from pipeline_factory.tracking import mlflow_config

    fetched = ctx.input("dataset", required=False)
    trained = ctx.input("models", required=False)
    evaluated = ctx.input("metrics", required=False)
    registered = ctx.input("registered", required=False)
    promoted = ctx.input("promotion", required=False)
    versions = (registered or {}).get("versions") or {}
    models = []
    for name, info in ((trained or {}).get("models") or {}).items():
        version = versions.get(name)
        models.append({
            "name": name,
            "what": f"{info['library']} {info['task']} on {info['target']}",
            "seconds": info.get("train_seconds"),
            "version": version and f"{version['name']} v{version['version']}",
            "url": version and mlflow_config.model_version_url(version["name"], version["version"]),
        })
    links = {}
    if registered:
        links["MLflow run"] = registered.get("run_url")
    if promoted and promoted.get("champion_version"):
        links[f"champion: {promoted['registered_model']} v{promoted['champion_version']}"] = (
            mlflow_config.model_version_url(promoted["registered_model"], promoted["champion_version"]))
    plots = []
    if promoted and promoted.get("plots"):
        folder = Path(promoted["plots_dir"])
        plots = [{"file": folder / name, "title": title, "cid": Path(name).stem}
                 for name, title in promoted["plots"].items() if (folder / name).exists()][:MAX_INLINE_PLOTS]
    approval = (promoted or {}).get("approval") or ctx.input("approval", required=False) or None
    return {
        "decision": promoted.get("outcome") if promoted else "no promotion",
        "reason": promoted.get("reason") if promoted else None,
        "margin": promoted.get("margin") if promoted else None,
        "rule": rule_text((promoted or {}).get("rule")),
        "approval": approval.get("summary") if approval else None,
        "rows_note": rows_note(promoted),
        "metrics": metrics_table(promoted, evaluated),
        "models": models,
        "data": {
            "rows added": fetched.get("rows_added"),
            "batches added": ", ".join(fetched.get("batches_added") or []) or "none",
            "total rows": fetched.get("total_rows"),
            "fingerprint": fetched.get("fingerprint"),
        } if fetched else {},
        "links": links,
        "plots": plots,
    }


def _num(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def _delta(value: float | None) -> str:
    return "-" if value is None else f"{value:+.4f}"


def as_text(title: str, summary: dict[str, Any]) -> str:
    lines = [title, "", f"Decision: {summary['decision']}"]
    for label, key in (("Reason", "reason"), ("Approval", "approval"), ("Rule", "rule")):
        if summary.get(key):
            lines.append(f"{label}: {summary[key]}")
    if summary.get("margin") is not None:
        lines.append(f"Margin: {summary['margin']:.4f}")
    if summary["metrics"]:
        lines += ["", f"Metrics ({summary['rows_note']}):", f"  {'metric':34} {'candidate':>10} {'champion':>10} "
                  f"{'delta':>10}"]
        lines += [f"  {r['metric']:34} {_num(r['candidate']):>10} {_num(r['champion']):>10} {_delta(r['delta']):>10}"
                  for r in summary["metrics"]]
    if summary["models"]:
        lines += ["", f"Models trained ({len(summary['models'])}):"]
        lines += [f"  {m['name']}: {m['what']} ({m['seconds']}s){' -> ' + m['version'] if m['version'] else ''}"
                  for m in summary["models"]]
    if summary["data"]:
        lines += ["", "Data:"] + [f"  {k}: {v}" for k, v in summary["data"].items()]
    if summary["links"]:
        lines += ["", "Links:"] + [f"  {k}: {v}" for k, v in summary["links"].items()]
    if summary["plots"]:
        lines += ["", "Plots (in the HTML part, in MLflow under plots/ and in the Pipelines view):"]
        lines += [f"  {p['title']}" for p in summary["plots"]]
    return "\n".join(lines) + "\n"


def as_html(title: str, summary: dict[str, Any]) -> str:
    e = html.escape
    colour = {"champion": "#1a7f37", "challenger": "#9a6700", "rejected": "#cf222e"}.get(summary["decision"], "#555")
    parts = [f"<h2 style='font-family:sans-serif'>{e(title)}</h2>",
             f"<p style='font-family:sans-serif'><b>Decision:</b> "
             f"<span style='color:{colour};font-weight:bold'>{e(str(summary['decision']))}</span></p>"]
    facts = [(label, summary.get(key)) for label, key in (("Reason", "reason"), ("Approval", "approval"),
                                                          ("Rule", "rule"))]
    if summary.get("margin") is not None:
        facts.append(("Margin", f"{summary['margin']:.4f}"))
    parts.append("<ul style='font-family:sans-serif'>" + "".join(
        f"<li><b>{e(label)}:</b> {e(str(value))}</li>" for label, value in facts if value) + "</ul>")
    if summary["metrics"]:
        head = "".join(f"<th style='text-align:left;padding:2px 8px'>{h}</th>"
                       for h in ("metric", "candidate", "champion", "delta"))
        body = "".join(
            f"<tr><td style='padding:2px 8px'>{e(r['metric'])}</td><td align='right'>{_num(r['candidate'])}</td>"
            f"<td align='right'>{_num(r['champion'])}</td><td align='right'>{_delta(r['delta'])}</td></tr>"
            for r in summary["metrics"])
        parts.append(f"<h3 style='font-family:sans-serif'>Metrics</h3><p style='font-family:sans-serif'>"
                     f"{e(summary['rows_note'])}</p><table border='1' cellspacing='0' cellpadding='3' "
                     f"style='border-collapse:collapse;font-family:monospace'><tr>{head}</tr>{body}</table>")
    if summary["models"]:
        rows = "".join(
            f"<tr><td>{e(m['name'])}</td><td>{e(m['what'])}</td><td>"
            + (f"<a href='{e(m['url'])}'>{e(m['version'])}</a>" if m["url"] else "-") + "</td></tr>"
            for m in summary["models"])
        parts.append(f"<h3 style='font-family:sans-serif'>Models trained ({len(summary['models'])})</h3>"
                     f"<table border='1' cellspacing='0' cellpadding='3' style='border-collapse:collapse'>"
                     f"<tr><th>model</th><th>what</th><th>registered</th></tr>{rows}</table>")
    if summary["data"]:
        rows = "".join(f"<tr><td>{e(k)}</td><td>{e(str(v))}</td></tr>" for k, v in summary["data"].items())
        parts.append(f"<h3 style='font-family:sans-serif'>Data</h3><table cellpadding='2'>{rows}</table>")
    if summary["links"]:
        parts.append("<h3 style='font-family:sans-serif'>Links</h3><ul>" + "".join(
            f"<li><a href='{e(str(url))}'>{e(label)}</a>: {e(str(url))}</li>"
            for label, url in summary["links"].items()) + "</ul>")
    if summary["plots"]:
        parts.append("<h3 style='font-family:sans-serif'>Plots</h3>" + "".join(
            f"<figure style='margin:8px 0'><img src='cid:{e(p['cid'])}' alt='{e(p['title'])}' "
            f"style='max-width:640px'><figcaption style='font-family:sans-serif;font-size:12px'>{e(p['title'])}"
            "</figcaption></figure>" for p in summary["plots"]))
    return "\n".join(parts)


class Notify:
    def run(self, ctx: StageContext, params: NotifyParams) -> StageResult:
        summary = build_summary(ctx)
        decision = summary["decision"]
        subject = params.subject or f"{ctx.pipeline} {ctx.run_id}: {decision}"
        title = f"Pipeline {ctx.pipeline}, run {ctx.run_id}"
        images = {p["cid"]: Path(p["file"]).read_bytes() for p in summary["plots"]}
        sent = send(
            params.notifiers, subject, as_text(title, summary), html_body=as_html(title, summary), images=images,
            payload={"pipeline": ctx.pipeline, "run_id": ctx.run_id, "decision": decision,
                     "approval": summary["approval"], "models": [m["name"] for m in summary["models"]]},
        )
        return {"kind": "ml.notify", "subject": subject, "sent": sent, "models": [m["name"] for m in summary["models"]],
                "plots": len(images)}
