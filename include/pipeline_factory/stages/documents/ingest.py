"""``ingest``: read documents from a source and record one job per document in the ledger.

The source is a run param, so it is checked before anything is read: a
folder must lie under the configured source roots, a URL must pass the URL
policy (:mod:`pipeline_factory.boundaries`); a refusal fails the stage with
the reason and no retry.  A record whose doc id could escape a folder is
recorded as a failed job with the reason; the other documents go on.
"""

from __future__ import annotations

import hashlib
from typing import Any

from pipeline_factory.boundaries.names import check_doc_id
from pipeline_factory.boundaries.roots import confined
from pipeline_factory.exceptions import InputRefused, StageError, StageSkipped
from pipeline_factory.resilience.retry import call_with_retry
from pipeline_factory.stages.contracts import StageContext, StageResult
from pipeline_factory.stages.documents import jobs
from pipeline_factory.stages.documents.params import IngestParams
from pipeline_factory.stages.documents.records import DOCUMENTS_FILE, write_jsonl
from pipeline_factory.stages.documents.sources import read_folder, read_http_json

#: The ledger's ``source`` column, where a job's pdf_url is kept.
MAX_SOURCE = 2000


def refused_doc_id(raw: Any) -> str:
    """A stable stand-in id for a record whose own id was refused (so its failure has a row)."""
    return "refused-" + hashlib.sha256(repr(raw).encode("utf-8", "backslashreplace")).hexdigest()[:16]


class Ingest:
    def run(self, ctx: StageContext, params: IngestParams) -> StageResult:
        from pipeline_factory.stores.ledger import job_key

        records = self._read(ctx, params)
        seen: dict[str, dict[str, Any]] = {}
        rejected = []
        refused: dict[str, str] = {}
        for record in records:
            try:
                check_doc_id(record["doc_id"])
                if len(record.get("pdf_url") or "") > MAX_SOURCE:
                    raise InputRefused(f"pdf_url of {record['doc_id']!r} refused: longer than {MAX_SOURCE} characters",
                                       what="pdf_url", reason="too long")
            except InputRefused as exc:
                refused[refused_doc_id(record["doc_id"])] = str(exc)
                continue
            if params.require_pdf_url and not record.get("pdf_url"):
                rejected.append(record["doc_id"])
                continue
            seen.setdefault(record["doc_id"], record)  # the first copy of a duplicate id wins
            if params.limit and len(seen) >= params.limit:
                break
        if rejected:
            ctx.log.warning("%d record(s) without pdf_url skipped: %s", len(rejected), ", ".join(rejected[:20]))
        key = jobs.run_key(ctx)
        rows = [
            {
                "job_id": job_key(ctx.pipeline, doc_id, params.tenant),
                "doc_id": doc_id,
                "pipeline": ctx.pipeline,
                "tenant": params.tenant,
                "source": params.source,
                "dag_run_id": key,
                "state": "failed",
                "current_stage": ctx.stage,
                "error": f"{ctx.stage}: {reason}",
            }
            for doc_id, reason in refused.items()
        ]
        for reason in refused.values():
            ctx.log.warning("record refused: %s", reason)
        if not seen:
            if rows:
                jobs.ledger().upsert_jobs(rows)
                raise StageError(f"every record was refused: {'; '.join(sorted(refused.values())[:5])}")
            raise StageSkipped(f"source {params.source} gave no documents")
        documents = []
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
        return {
            "documents": len(documents),
            "rejected": len(rejected),
            "refused": len(refused),
            "documents_path": str(path),
        }

    @staticmethod
    def _read(ctx: StageContext, params: IngestParams) -> list[dict[str, Any]]:
        if params.source == "folder":
            assert params.path is not None
            return list(read_folder(confined(params.path, what="source_path"), params.pattern))
        url = params.url
        assert url is not None
        if ctx.policy is None:
            return read_http_json(url)
        return call_with_retry(ctx.policy, lambda: read_http_json(url), what="GET source_url")
