"""The datasets of the GraphRAG stages (light: names only, no store clients).

NCBI E-utilities queries -> the JSON snapshot -> Neo4j labels and the Qdrant
collection; see ``docs/lineage.md`` for the names.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pipeline_factory.lineage.datasets import (
    LineageDataset,
    StageLineage,
    eutils_dataset,
    file_dataset,
    lineage,
    neo4j_dataset,
    qdrant_dataset,
)
from pipeline_factory.stages.contracts import StageContext
from pipeline_factory.stages.graphrag.params import (
    CollectGenesParams,
    CollectPubmedParams,
    ConsistencyCheckParams,
    UpdateGraphParams,
    UpdateVectorsParams,
)

#: The node labels the GraphRAG graph writes (``graph_model.LABELS``, kept here without its neo4j import).
GRAPH_LABELS = ("Paper", "Author", "Journal", "MeshTerm", "Gene")


def _eutils_url(*, ran: bool) -> str:
    """The E-utilities base URL the stage uses.

    After the stage ran (in the runner) as the client resolves it, the
    ``ncbi_default`` connection included; before, from the listener's forked
    process, from the environment only (no Airflow connection lookups there).
    """
    from pipeline_factory.sources.ncbi_settings import DEFAULT_EUTILS_URL, load_ncbi_settings

    if ran:
        try:
            return load_ncbi_settings().base_url
        except Exception:  # e.g. the real NCBI without a contact address: the stage itself said so
            pass
    return os.environ.get("NCBI_EUTILS_URL") or DEFAULT_EUTILS_URL


def _snapshot(ctx: StageContext, name: str, **facts: Any) -> LineageDataset:
    return file_dataset(ctx.data_dir / "graphrag" / "current" / name, **facts)


def _neo4j(label: str, **facts: Any) -> LineageDataset:
    return neo4j_dataset(os.environ.get("NEO4J_URI") or "bolt://localhost:7687", os.environ.get("NEO4J_DATABASE"),
                         label, **facts)


def _qdrant(ctx: StageContext, collection: str, **facts: Any) -> LineageDataset:
    return qdrant_dataset(os.environ.get("QDRANT_URL"), ctx.data_dir / "qdrant", collection, **facts)


def _count(result: Mapping[str, Any] | None, key: str) -> int | None:
    value = (result or {}).get(key)
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def collect_pubmed(ctx: StageContext, params: CollectPubmedParams, result: Mapping[str, Any] | None) -> StageLineage:
    """One ``esearch`` query per search term -> the snapshot's papers."""
    url = _eutils_url(ran=result is not None)
    return lineage(
        inputs=[eutils_dataset(url, "esearch.fcgi", {"db": "pubmed", "term": term}) for term in params.search_terms],
        outputs=[_snapshot(ctx, "papers.json", row_count=_count(result, "papers_collected"))],
    )


def collect_genes(ctx: StageContext, params: CollectGenesParams, result: Mapping[str, Any] | None) -> StageLineage:
    """The snapshot's papers, linked through ``elink`` and summarised by ``esummary`` -> the snapshot's genes."""
    url = _eutils_url(ran=result is not None)
    return lineage(
        inputs=[
            _snapshot(ctx, "papers.json"),
            eutils_dataset(url, "elink.fcgi", {"dbfrom": "pubmed", "db": "gene"}),
            eutils_dataset(url, "esummary.fcgi", {"db": "gene"}),
        ],
        outputs=[_snapshot(ctx, "genes.json", row_count=_count(result, "genes_collected"))],
    )


def update_graph(ctx: StageContext, params: UpdateGraphParams, result: Mapping[str, Any] | None) -> StageLineage:
    """The snapshot -> one Neo4j dataset per label (rows: the papers and genes this run wrote)."""
    written = {"Paper": _count(result, "papers_written"), "Gene": _count(result, "genes_written")}
    return lineage(
        inputs=[_snapshot(ctx, "papers.json"), _snapshot(ctx, "genes.json")],
        outputs=[_neo4j(label, row_count=written.get(label)) for label in GRAPH_LABELS],
    )


def update_vectors(ctx: StageContext, params: UpdateVectorsParams, result: Mapping[str, Any] | None) -> StageLineage:
    """The snapshot's papers -> the Qdrant collection (rows: the points this run upserted)."""
    return lineage(
        inputs=[_snapshot(ctx, "papers.json")],
        outputs=[_qdrant(ctx, params.collection, row_count=_count(result, "vectors_upserted"))],
    )


def consistency_check(
    ctx: StageContext, params: ConsistencyCheckParams, result: Mapping[str, Any] | None
) -> StageLineage:
    """Snapshot, Neo4j and Qdrant are read; with ``repair`` the stores are written as well."""
    stores = [_neo4j("Paper"), _neo4j("Gene"), _qdrant(ctx, params.collection)]
    return lineage(
        inputs=[_snapshot(ctx, "papers.json"), _snapshot(ctx, "genes.json"), *stores],
        outputs=stores if params.repair else [],
    )


def graphrag_report(ctx: StageContext, params: Any, result: Mapping[str, Any] | None) -> StageLineage:
    """The run summary among the pipeline's reports, and the per-term watermarks after a collection."""
    outputs = [file_dataset(Path(ctx.data_dir) / "reports" / ctx.pipeline)]
    if ctx.has_input("papers"):
        outputs.append(file_dataset(ctx.data_dir / "graphrag" / "watermarks.json"))
    return lineage(outputs=outputs)
