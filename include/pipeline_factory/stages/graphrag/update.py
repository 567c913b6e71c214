"""Store stages: the collected papers and genes into Neo4j and Qdrant.

Merge mode writes this run's papers; replace/recreate mode rebuilds the store
from the whole snapshot (the monthly full rebuild).  Both are idempotent, so a
task that dies half-way is simply run again.
"""

from __future__ import annotations

import time
from typing import Any

from pipeline_factory.stages.contracts import StageContext, StageResult
from pipeline_factory.stages.graphrag import graph_model, vector_model
from pipeline_factory.stages.graphrag.collect import run_papers
from pipeline_factory.stages.graphrag.params import UpdateGraphParams, UpdateVectorsParams
from pipeline_factory.stages.graphrag.reports import write_stage_report
from pipeline_factory.stages.graphrag.snapshot import Snapshot
from pipeline_factory.stages.graphrag.writers import WriterRegistry


def _selected_papers(snapshot: Snapshot, run_id: str, whole: bool) -> list[dict[str, Any]]:
    """This run's papers as the merged view has them (with gene links), or the whole view."""
    view = snapshot.papers()
    if whole:
        return [view[k] for k in sorted(view)]
    return [view.get(pmid, paper) for pmid, paper in sorted(run_papers(snapshot, run_id).items())]


class UpdateGraph:
    def run(self, ctx: StageContext, params: UpdateGraphParams) -> StageResult:
        from pipeline_factory.stores.graph import GraphStore

        started = time.monotonic()
        WriterRegistry(ctx.data_dir).begin(ctx.pipeline, ctx.run_id, ctx.stage)  # the consistency check waits
        snapshot = Snapshot(ctx.data_dir)
        replace = params.mode == "replace"
        papers = _selected_papers(snapshot, ctx.run_id, whole=replace)
        all_genes = snapshot.genes()
        wanted = {g for p in papers for g in p.get("gene_ids") or []}
        genes = [all_genes[g] for g in sorted(wanted) if g in all_genes]
        if replace:
            genes = [all_genes[g] for g in sorted(all_genes)]
        deleted = 0
        with GraphStore.from_env() as store:
            graph_model.ensure_schema(store)
            if replace:
                deleted = graph_model.delete_everything(store)
            genes_written = graph_model.write_genes(store, genes, params.batch_size)
            papers_written = graph_model.write_papers(store, papers, params.batch_size)
            if not replace:
                graph_model.delete_orphans(store)
            totals = graph_model.counts(store)
        duration = time.monotonic() - started
        write_stage_report(
            ctx,
            {
                "outcome": {"outcome": "success", "duration_seconds": round(duration, 2), "mode": params.mode},
                "written": {
                    "papers": papers_written,
                    "genes": genes_written,
                    "nodes_deleted_before_rebuild": deleted,
                    "rows_per_second": round((papers_written + genes_written) / duration, 1) if duration else None,
                },
                "graph_totals": totals,
            },
        )
        return {"papers_written": papers_written, "genes_written": genes_written, "graph": totals}


class UpdateVectors:
    def run(self, ctx: StageContext, params: UpdateVectorsParams) -> StageResult:
        from pipeline_factory.embedding import get_embedder
        from pipeline_factory.stores.vectors import VectorStore

        started = time.monotonic()
        WriterRegistry(ctx.data_dir).begin(ctx.pipeline, ctx.run_id, ctx.stage)  # the consistency check waits
        snapshot = Snapshot(ctx.data_dir)
        papers = _selected_papers(snapshot, ctx.run_id, whole=params.recreate)
        embedder = get_embedder(device="cuda" if ctx.compute == "gpu" else None)
        with VectorStore.from_env() as store:
            store.ensure_collection(params.collection, embedder.dimension, recreate=params.recreate)
            upserted = vector_model.upsert_papers(
                store,
                params.collection,
                papers,
                embedder,
                batch_size=params.batch_size,
                embed_batch_size=params.embed_batch_size,
            )
            total = store.count(params.collection)
        duration = time.monotonic() - started
        write_stage_report(
            ctx,
            {
                "outcome": {"outcome": "success", "duration_seconds": round(duration, 2)},
                "vectors": {
                    "collection": params.collection,
                    "recreated": params.recreate,
                    "upserted": upserted,
                    "collection_size": total,
                    "model": embedder.name,
                    "device": embedder.device,
                    "embedding_cache": {"hits": getattr(embedder, "hits", 0), "misses": getattr(embedder, "misses", 0)},
                    "points_per_second": round(upserted / duration, 1) if duration else None,
                },
            },
        )
        return {"vectors_upserted": upserted, "collection_size": total}
