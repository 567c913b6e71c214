"""``ingest``: read documents from a source and record one job per document in the ledger."""

from __future__ import annotations

from typing import Any

from pipeline_factory.exceptions import StageSkipped
from pipeline_factory.resilience.retry import call_with_retry
from pipeline_factory.stages.contracts import StageContext, StageResult
from pipeline_factory.stages.documents import jobs
from pipeline_factory.stages.documents.params import IngestParams
from pipeline_factory.stages.documents.records import DOCUMENTS_FILE, project_path, write_jsonl
from pipeline_factory.stages.documents.sources import read_folder, read_http_json


class Ingest:
    def run(self, ctx: StageContext, params: IngestParams) -> StageResult:
        from pipeline_factory.stores.ledger import job_key

        records = self._read(ctx, params)
        seen: dict[str, dict[str, Any]] = {}
        rejected = []
        for record in records:
            if params.require_pdf_url and not record.get("pdf_url"):
                rejected.append(record["doc_id"])
                continue
            seen.setdefault(record["doc_id"], record)  # the first copy of a duplicate id wins
            if params.limit and len(seen) >= params.limit:
                break
        if rejected:
            ctx.log.warning("%d record(s) without pdf_url skipped: %s", len(rejected), ", ".join(rejected[:20]))
        if not seen:
            raise StageSkipped(f"source {params.source} gave no documents")
        key = jobs.run_key(ctx)
        documents = []
        rows = []
        for doc_id, record in seen.items():
            job_id = job_key(ctx.pipeline, doc_id, params.tenant)
            documents.append({**record, "job_id": job_id})
            rows.append(
                {
                    "job_id": job_id,
                    "doc_id": doc_id,
                    "pipeline": ctx.pipeline,
                    "tenant": params.tenant,
                    "source": record.get("pdf_url") or record["source"],
                    "dag_run_id": key,
                    "state": "running",
                    "current_stage": ctx.stage,
                }
            )
        jobs.ledger().upsert_jobs(rows)
        path = ctx.stage_dir / DOCUMENTS_FILE
        write_jsonl(path, documents)
        return {"documents": len(documents), "rejected": len(rejected), "documents_path": str(path)}

    @staticmethod
    def _read(ctx: StageContext, params: IngestParams) -> list[dict[str, Any]]:
        if params.source == "folder":
            assert params.path is not None
            return list(read_folder(project_path(params.path), params.pattern))
        assert params.url is not None
        if ctx.policy is None:
            return read_http_json(params.url)
        return call_with_retry(ctx.policy, lambda: read_http_json(params.url), what=f"GET {params.url}")
