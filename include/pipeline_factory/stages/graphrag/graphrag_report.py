"""The last stage of a GraphRAG run: the run summary, and the watermarks once everything succeeded.

It runs only when every stage before it succeeded (Airflow's default trigger
rule), which is what makes moving the per-term watermarks safe: a failed run
leaves them where they were, so the next run covers its window again.  It
also ends the run's writer mark (:mod:`.writers`), which lets the consistency
check compare the stores again.
"""

from __future__ import annotations

import json
from typing import Any

from pipeline_factory.stages.contracts import StageContext, StageResult
from pipeline_factory.stages.graphrag.params import GraphragReportParams
from pipeline_factory.stages.graphrag.reports import read_stage_reports, render_markdown, report_dir
from pipeline_factory.stages.graphrag.snapshot import Snapshot
from pipeline_factory.stages.graphrag.writers import WriterRegistry
from pipeline_factory.workspace import write_json_atomic


class WriteRunSummary:
    def run(self, ctx: StageContext, params: GraphragReportParams) -> StageResult:
        snapshot = Snapshot(ctx.data_dir)
        committed: dict[str, str] = {}
        if ctx.has_input("papers"):
            pending = ctx.input("papers", required=False).get("pending_watermarks") or {}
            if pending:
                snapshot.commit_watermarks(pending)
                committed = dict(pending)
        directory = report_dir(ctx)
        stages = read_stage_reports(directory)
        sections: dict[str, dict[str, Any]] = {
            "run": {
                "pipeline": ctx.pipeline,
                "run_id": ctx.run_id,
                "params": json.dumps(dict(ctx.params), default=str),
                "snapshot_papers": len(snapshot.papers()),
                "snapshot_genes": len(snapshot.genes()),
                "watermarks_committed": committed,
            }
        }
        for name, report in stages.items():
            outcome = report.get("outcome", {})
            sections[f"stage {name}"] = {
                "outcome": outcome.get("outcome"),
                "duration_seconds": outcome.get("duration_seconds"),
                "report": str(directory / f"{name}.md"),
            }
        write_json_atomic(directory / "summary.json", {"sections": sections, "stages": stages})
        # Every stage before this one succeeded: the run's writes are complete, the stores agree again.
        WriterRegistry(ctx.data_dir).end(ctx.pipeline, ctx.run_id)
        md = directory / "summary.md"
        md.write_text(render_markdown(f"{ctx.pipeline} run {ctx.run_id}", sections))
        ctx.log.info("run summary: %s", md)
        return {"summary": str(md), "watermarks_committed": committed, "stages": sorted(stages)}
