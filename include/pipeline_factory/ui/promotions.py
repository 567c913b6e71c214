"""The Pipelines view's promotion evidence: the latest decision per training pipeline, as a table and plots.

Read from the promotion reports ``promote`` writes
(``<reports dir>/<pipeline>/<run id>.promotion.json``): the decision, the
metrics of candidate and champion on the same rows (per model: metric,
candidate, champion, delta) and the plots.  A plot is served only when the
report lists it and its file lies in the run workspace of the data dir, so
the route cannot be turned into a file reader.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Collection
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from pipeline_factory import settings

log = logging.getLogger(__name__)

SUFFIX = ".promotion.json"
HEADLINE = ("macro_f1", "accuracy", "component_avg_r2", "component_avg_rmse")


def _latest_reports(folder: Path) -> dict[str, Path]:
    latest: dict[str, Path] = {}
    if not folder.is_dir():
        return latest
    for pipeline_dir in sorted(p for p in folder.iterdir() if p.is_dir()):
        reports = sorted(pipeline_dir.glob(f"*{SUFFIX}"), key=lambda p: p.stat().st_mtime, reverse=True)
        if reports:
            latest[pipeline_dir.name] = reports[0]
    return latest


def _rows(candidate: dict[str, float], champion: dict[str, float], names: list[str]) -> list[dict[str, Any]]:
    rows = []
    for metric in names:
        value, base = candidate.get(metric), champion.get(metric)
        rows.append({"metric": metric.rsplit(".", 1)[-1] if "." in metric else metric,
                     "candidate": value, "champion": base,
                     "delta": None if value is None or base is None else float(value) - float(base)})
    return rows


def summarize(report: dict[str, Any], report_name: str) -> dict[str, Any]:
    """One report as the view shows it: headline and per-model tables, plot URLs relative to the page."""
    comparison = report.get("comparison") or {}
    candidate = comparison.get("candidate") or {}
    champion = comparison.get("champion") or {}
    per_model: dict[str, list[str]] = {}
    for key in sorted(candidate):
        if "." in key:
            per_model.setdefault(key.split(".", 1)[0], []).append(key)
    pipeline = report.get("pipeline")
    return {
        "pipeline": pipeline,
        "run_id": report.get("run_id"),
        "report": report_name,
        "decision": report.get("outcome"),
        "reason": report.get("reason"),
        "margin": report.get("margin"),
        "baseline": report.get("baseline"),
        "approval": (report.get("approval") or {}).get("summary"),
        "rows": comparison.get("rows"),
        "rows_fingerprint": comparison.get("rows_fingerprint"),
        "champion_version": report.get("champion_version"),
        "compared_to_version": comparison.get("champion_version"),
        "run_url": report.get("run_url"),
        "headline": _rows(candidate, champion, [m for m in HEADLINE if m in candidate]),
        "models": {name: _rows(candidate, champion, keys) for name, keys in per_model.items()},
        "plots": [
            {"name": name, "title": title,
             "url": "api/promotions/plot?" + urlencode({"pipeline": pipeline, "report": report_name, "name": name})}
            for name, title in (report.get("plots") or {}).items()
        ],
    }


def promotions_overview(folder: Path | None = None, *, allowed: Collection[str] | None = None) -> dict[str, Any]:
    """The newest promotion report of every pipeline in ``allowed`` (None: every pipeline)."""
    folder = folder or settings.reports_dir()
    promotions = []
    for pipeline, path in _latest_reports(folder).items():
        if allowed is not None and pipeline not in allowed:
            continue
        try:
            report = json.loads(path.read_text())
        except (OSError, ValueError):
            log.warning("unreadable promotion report %s", path)
            continue
        report.setdefault("pipeline", pipeline)
        promotions.append(summarize(report, path.name))
    return {"promotions": promotions}


def plot_file(pipeline: str, report: str, name: str, *, folder: Path | None = None,
              data_dir: Path | None = None) -> Path:
    """The PNG a report lists; FileNotFoundError for anything else (unknown names, other folders)."""
    folder = (folder or settings.reports_dir()).resolve()
    runs = ((data_dir or settings.data_dir()) / "runs").resolve()
    report_path = (folder / pipeline / report).resolve()
    if not report.endswith(SUFFIX) or not report_path.is_relative_to(folder) or not report_path.is_file():
        raise FileNotFoundError(report)
    data = json.loads(report_path.read_text())
    if name not in (data.get("plots") or {}) or not name.endswith(".png") or "/" in name or "\\" in name:
        raise FileNotFoundError(name)
    path = (Path(data.get("plots_dir") or "") / name).resolve()
    if not path.is_relative_to(runs) or not path.is_file():
        raise FileNotFoundError(name)
    return path
