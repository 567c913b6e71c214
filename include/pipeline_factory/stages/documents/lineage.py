"""The datasets of the document stages (light: names only).

The source folder or URL -> the job ledger's ``jobs`` table, which every
document stage reads and advances -> PDFs and IR files -> the Qdrant
collection and the Neo4j ``Document``/``Chunk``/``Entity`` labels.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pipeline_factory import settings
from pipeline_factory.lineage.datasets import (
    LineageDataset,
    StageLineage,
    file_dataset,
    http_dataset,
    lineage,
    neo4j_dataset,
    qdrant_dataset,
    sql_table_dataset,
)
from pipeline_factory.stages.contracts import StageContext
from pipeline_factory.stages.documents.params import IndexParams, IngestParams, KgParams

KG_LABELS = ("Document", "Chunk", "Entity")


def _count(result: Mapping[str, Any] | None, key: str) -> int | None:
    value = (result or {}).get(key)
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def jobs_table(**facts: Any) -> LineageDataset:
    """The job ledger's ``jobs`` table."""
    from pipeline_factory.stores.ledger_db import database_url

    return sql_table_dataset(database_url(), "jobs", **facts)


def _source(params: IngestParams) -> LineageDataset:
    if params.source == "http_json" and params.url:
        return http_dataset(params.url)
    path = Path(params.path or ".")
    if not path.is_absolute():  # relative to the project root, as boundaries.roots.confined resolves it
        path = settings.PROJECT_ROOT / path
    return file_dataset(path.resolve())


def ingest(ctx: StageContext, params: IngestParams, result: Mapping[str, Any] | None) -> StageLineage:
    """The source folder or URL -> one job per document in the ledger."""
    return lineage(inputs=[_source(params)], outputs=[jobs_table(row_count=_count(result, "documents"))])


def job_stage(ctx: StageContext, params: Any, result: Mapping[str, Any] | None) -> StageLineage:
    """parse, chunk, embed, extract: the run's live jobs are read and advanced in the ledger."""
    return lineage(inputs=[jobs_table()], outputs=[jobs_table()])


def download_pdf(ctx: StageContext, params: Any, result: Mapping[str, Any] | None) -> StageLineage:
    """The jobs' PDF URLs -> the PDF folder, recorded on the jobs."""
    pdfs = file_dataset(ctx.data_dir / "documents" / "pdfs", row_count=_count(result, "downloaded"))
    return lineage(inputs=[jobs_table()], outputs=[pdfs, jobs_table()])


def pdf_to_ir(ctx: StageContext, params: Any, result: Mapping[str, Any] | None) -> StageLineage:
    """Gated jobs' PDFs -> their IR files, released in the ledger."""
    return lineage(
        inputs=[jobs_table(), file_dataset(ctx.data_dir / "documents" / "pdfs")],
        outputs=[file_dataset(ctx.data_dir / "documents" / "ir", row_count=_count(result, "converted")), jobs_table()],
    )


def index(ctx: StageContext, params: IndexParams, result: Mapping[str, Any] | None) -> StageLineage:
    """Chunks and their vectors -> the Qdrant collection (rows: points upserted)."""
    collection = qdrant_dataset(os.environ.get("QDRANT_URL"), ctx.data_dir / "qdrant", params.collection,
                                row_count=_count(result, "points"))
    return lineage(outputs=[collection])


def kg(ctx: StageContext, params: KgParams, result: Mapping[str, Any] | None) -> StageLineage:
    """Documents, chunks and mentions -> Neo4j labels; the jobs are completed in the ledger."""
    uri = os.environ.get("NEO4J_URI") or "bolt://localhost:7687"
    database = params.database or os.environ.get("NEO4J_DATABASE")
    return lineage(
        inputs=[jobs_table()],
        outputs=[*(neo4j_dataset(uri, database, label) for label in KG_LABELS), jobs_table()],
    )
