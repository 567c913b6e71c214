"""The daily consistency check: the snapshot, Neo4j and Qdrant must hold the same ids.

The snapshot is the reference.  Findings: papers or genes in the snapshot but
missing from Neo4j, nodes in Neo4j the snapshot does not know, papers without
a vector, and points for papers the snapshot does not know.  With
``repair`` the missing ones are written from the snapshot and the unknown ones
removed, then everything is counted again so the report shows what is left.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from pipeline_factory.exceptions import StageError
from pipeline_factory.stages.contracts import StageContext, StageResult
from pipeline_factory.stages.graphrag import graph_model, vector_model
from pipeline_factory.stages.graphrag.params import ConsistencyCheckParams
from pipeline_factory.stages.graphrag.reports import write_stage_report
from pipeline_factory.stages.graphrag.snapshot import Snapshot


@dataclass
class Findings:
    papers_missing_in_graph: list[str] = field(default_factory=list)
    papers_extra_in_graph: list[str] = field(default_factory=list)
    genes_missing_in_graph: list[str] = field(default_factory=list)
    genes_extra_in_graph: list[str] = field(default_factory=list)
    papers_missing_in_vectors: list[str] = field(default_factory=list)
    points_extra_in_vectors: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(len(v) for v in self.__dict__.values())

    def as_dict(self) -> dict[str, list[str]]:
        return {k: sorted(v) for k, v in self.__dict__.items()}

    def counts(self) -> dict[str, int]:
        return {k: len(v) for k, v in self.__dict__.items()}


def compare(snapshot: Snapshot, graph: Any, vectors: Any, collection: str) -> Findings:
    papers = set(snapshot.papers())
    genes = set(snapshot.genes())
    graph_papers = graph_model.paper_ids(graph)
    graph_genes = graph_model.gene_ids(graph)
    points = vector_model.stored_pmids(vectors, collection) if vectors.collection_exists(collection) else {}
    expected_points = {vector_model.paper_point_id(p) for p in papers}
    return Findings(
        papers_missing_in_graph=sorted(papers - graph_papers),
        papers_extra_in_graph=sorted(graph_papers - papers),
        genes_missing_in_graph=sorted(genes - graph_genes),
        genes_extra_in_graph=sorted(graph_genes - genes),
        papers_missing_in_vectors=sorted(p for p in papers if vector_model.paper_point_id(p) not in points),
        points_extra_in_vectors=sorted(pid for pid in points if pid not in expected_points),
    )


def repair(
    findings: Findings, snapshot: Snapshot, graph: Any, vectors: Any, params: ConsistencyCheckParams
) -> dict[str, int]:
    papers = snapshot.papers()
    genes = snapshot.genes()
    done = {"graph_papers_written": 0, "graph_nodes_deleted": 0, "vectors_upserted": 0, "points_deleted": 0}
    graph_model.ensure_schema(graph)
    if findings.papers_extra_in_graph:
        done["graph_nodes_deleted"] += graph_model.delete_papers(graph, findings.papers_extra_in_graph)
    if findings.genes_extra_in_graph:
        done["graph_nodes_deleted"] += graph_model.delete_genes(graph, findings.genes_extra_in_graph)
    if findings.genes_missing_in_graph:
        graph_model.write_genes(graph, [genes[g] for g in findings.genes_missing_in_graph], params.batch_size)
    if findings.papers_missing_in_graph:
        rows = [papers[p] for p in findings.papers_missing_in_graph]
        done["graph_papers_written"] = graph_model.write_papers(graph, rows, params.batch_size)
    graph_model.delete_orphans(graph)
    if findings.points_extra_in_vectors:
        extra = findings.points_extra_in_vectors
        done["points_deleted"] = vector_model.delete_points(vectors, params.collection, extra)
    if findings.papers_missing_in_vectors:
        from pipeline_factory.embedding import get_embedder

        embedder = get_embedder()
        vectors.ensure_collection(params.collection, embedder.dimension)
        rows = [papers[p] for p in findings.papers_missing_in_vectors]
        done["vectors_upserted"] = vector_model.upsert_papers(
            vectors, params.collection, rows, embedder, batch_size=256, embed_batch_size=64
        )
    return done


class ConsistencyCheck:
    def run(self, ctx: StageContext, params: ConsistencyCheckParams) -> StageResult:
        from pipeline_factory.stores.graph import GraphStore
        from pipeline_factory.stores.vectors import VectorStore

        started = time.monotonic()
        snapshot = Snapshot(ctx.data_dir)
        repaired: dict[str, int] = {}
        with GraphStore.from_env() as graph, VectorStore.from_env() as vectors:
            found = compare(snapshot, graph, vectors, params.collection)
            remaining = found
            if params.repair and found.total:
                repaired = repair(found, snapshot, graph, vectors, params)
                remaining = compare(snapshot, graph, vectors, params.collection)
        for name, ids in found.as_dict().items():
            if ids:
                ctx.log.warning("inconsistency %s: %d (%s)", name, len(ids), ", ".join(ids[:10]))
        outcome = "consistent" if found.total == 0 else ("repaired" if remaining.total == 0 else "inconsistent")
        write_stage_report(
            ctx,
            {
                "outcome": {
                    "outcome": outcome,
                    "duration_seconds": round(time.monotonic() - started, 2),
                    "repair": params.repair,
                },
                "sizes": {"snapshot_papers": len(snapshot.papers()), "snapshot_genes": len(snapshot.genes())},
                "found": found.counts(),
                "found_ids": found.as_dict(),
                "repaired": repaired,
                "remaining": remaining.counts(),
            },
        )
        if params.fail_on_mismatch and remaining.total:
            raise StageError(f"{remaining.total} inconsistencies remain: {remaining.counts()}")
        return {
            "outcome": outcome,
            "found": found.total,
            "remaining": remaining.total,
            "found_by_kind": {k: v for k, v in found.counts().items() if v},
        }
