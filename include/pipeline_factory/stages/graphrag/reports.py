"""Readable per-stage reports and the run summary, kept in ``<data_dir>/reports/<dag_id>/<run_id>/``.

Each report is written twice: Markdown for people (linked from the task log)
and JSON for machines (the UI view and the run summary read it).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from pipeline_factory import settings
from pipeline_factory.stages.contracts import StageContext
from pipeline_factory.workspace import safe_run_id, write_json_atomic

log = logging.getLogger(__name__)


def report_dir(ctx: StageContext) -> Path:
    path = settings.reports_dir() / ctx.pipeline / safe_run_id(ctx.run_id)
    path.mkdir(parents=True, exist_ok=True)
    return path


def _markdown_value(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k}={_markdown_value(v)}" for k, v in value.items()) or "-"
    if isinstance(value, list):
        shown = ", ".join(str(v) for v in value[:20])
        return shown + (f" (+{len(value) - 20} more)" if len(value) > 20 else "") if value else "-"
    return str(value)


def render_markdown(title: str, sections: dict[str, dict[str, Any]]) -> str:
    lines = [f"# {title}", ""]
    for heading, values in sections.items():
        lines += [f"## {heading}", "", "| item | value |", "|---|---|"]
        for key, value in values.items():
            lines.append(f"| {key} | {_markdown_value(value).replace('|', '/')} |")
        lines.append("")
    return "\n".join(lines)


def write_stage_report(ctx: StageContext, sections: dict[str, dict[str, Any]]) -> Path:
    """Write ``<stage>.md`` and ``<stage>.json``; log where they are and return the Markdown path."""
    directory = report_dir(ctx)
    payload = {"pipeline": ctx.pipeline, "run_id": ctx.run_id, "stage": ctx.stage, **sections}
    write_json_atomic(directory / f"{ctx.stage}.json", payload)
    md = directory / f"{ctx.stage}.md"
    md.write_text(render_markdown(f"{ctx.pipeline} / {ctx.stage} / {ctx.run_id}", sections))
    ctx.log.info("report: %s", md)
    return md


def read_stage_reports(directory: Path) -> dict[str, dict[str, Any]]:
    out = {}
    for path in sorted(directory.glob("*.json")):
        if path.stem != "summary":
            out[path.stem] = json.loads(path.read_text())
    return out
