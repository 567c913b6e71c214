"""The daily consistency check: the snapshot, Neo4j and Qdrant must hold the same ids.

The snapshot is the reference.  Findings: papers or genes in the snapshot but
missing from Neo4j, nodes in Neo4j the snapshot does not know, papers without
a vector, and points for papers the snapshot does not know.  With
``repair`` the missing ones are written from the snapshot and the unknown ones
removed, then everything is counted again so the report shows what is left.

It never reports half-written state as data loss:

* it compares only while no run is writing the same stores (the runs mark
  themselves in :mod:`.writers`); it waits for them, up to
  ``wait_for_writers_seconds``, and otherwise reports ``skipped`` (not a
  mismatch) naming the runs it waited for;
* a mismatch counts only when it is still there when compared again
  ``recheck_delay_seconds`` later with still no writer in between: what
  resolved itself is listed as transient, never as found;
* if a writer came and went during a comparison, the comparison is repeated.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pipeline_factory.exceptions import StageError
from pipeline_factory.stages.contracts import StageContext, StageResult
from pipeline_factory.stages.graphrag import graph_model, vector_model
from pipeline_factory.stages.graphrag.params import AwaitStoreWritersParams, ConsistencyCheckParams
from pipeline_factory.stages.graphrag.reports import write_stage_report
from pipeline_factory.stages.graphrag.snapshot import Snapshot
from pipeline_factory.stages.graphrag.writers import WriterRegistry


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

    def __and__(self, other: Findings) -> Findings:
        """What both comparisons found: a mismatch that persisted."""
        return Findings(**{k: sorted(set(v) & set(getattr(other, k))) for k, v in self.__dict__.items()})

    def __sub__(self, other: Findings) -> Findings:
        return Findings(**{k: sorted(set(v) - set(getattr(other, k))) for k, v in self.__dict__.items()})


@dataclass
class Verdict:
    """The outcome of :func:`settled_compare`."""

    status: str  # "checked" | "skipped"
    findings: Findings = field(default_factory=Findings)
    transient: Findings = field(default_factory=Findings)
    waited_seconds: float = 0.0
    writers: list[dict[str, Any]] = field(default_factory=list)  # the runs waited for (or still writing)
    comparisons: int = 0


def settled_compare(
    compare: Callable[[], Findings],
    writers: WriterRegistry,
    *,
    wait_seconds: float,
    poll_seconds: float,
    recheck_seconds: float,
    attempts: int = 3,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> Verdict:
    """Compare only while no writer is in flight, and keep only the mismatches a second look confirms."""
    started = clock()
    waited_for: dict[str, dict[str, Any]] = {}
    comparisons = 0

    def quiet() -> bool:
        """Wait until no writer holds the stores; False when ``wait_seconds`` ran out first."""
        while True:
            active = writers.active()
            if not active:
                return True
            waited_for.update({f"{m['pipeline']}/{m['run_id']}": m for m in active})
            if clock() - started >= wait_seconds:
                return False
            sleep(poll_seconds)

    def skipped() -> Verdict:
        return Verdict("skipped", waited_seconds=clock() - started, writers=writers.active(), comparisons=comparisons)

    for _ in range(attempts):
        if not quiet():
            return skipped()
        generation = writers.generation()
        first = compare()
        comparisons += 1
        if writers.generation() != generation:
            continue  # a writer came (or went) while comparing: look again
        if not first.total:
            return Verdict("checked", waited_seconds=clock() - started, writers=list(waited_for.values()),
                           comparisons=comparisons)
        sleep(recheck_seconds)
        if not quiet():
            return skipped()
        generation = writers.generation()
        second = compare()
        comparisons += 1
        if writers.generation() != generation:
            continue
        confirmed = first & second
        return Verdict("checked", findings=confirmed, transient=first - confirmed,
                       waited_seconds=clock() - started, writers=list(waited_for.values()), comparisons=comparisons)
    return skipped()


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


class AwaitStoreWriters:
    """Wait until no run writes the stores, holding no pool slot.

    The check itself runs in the 1-slot pool ``qdrant_local`` (Qdrant's local
    mode lets one process in); waiting there would keep a writing run's
    ``update_vectors`` out of the same pool until the wait ran out.  So the
    pipeline waits here first, and the check re-checks (briefly) in its slot.
    """

    def _sleep(self, seconds: float) -> None:
        time.sleep(seconds)

    def run(self, ctx: StageContext, params: AwaitStoreWritersParams) -> StageResult:
        writers = WriterRegistry(ctx.data_dir)
        started = time.monotonic()
        seen: dict[str, dict[str, Any]] = {}
        while active := writers.active():
            seen.update({f"{m['pipeline']}/{m['run_id']}": m for m in active})
            if time.monotonic() - started >= params.wait_for_writers_seconds:
                ctx.log.warning("still writing after %.0fs: %s", time.monotonic() - started, ", ".join(seen))
                return {"settled": False, "waited_seconds": round(time.monotonic() - started, 2),
                        "waited_for": sorted(seen)}
            self._sleep(params.poll_seconds)
        if seen:
            ctx.log.info("waited %.0fs for %s", time.monotonic() - started, ", ".join(sorted(seen)))
        return {"settled": True, "waited_seconds": round(time.monotonic() - started, 2), "waited_for": sorted(seen)}


class ConsistencyCheck:
    def _sleep(self, seconds: float) -> None:
        time.sleep(seconds)

    def run(self, ctx: StageContext, params: ConsistencyCheckParams) -> StageResult:
        from pipeline_factory.stores.graph import GraphStore
        from pipeline_factory.stores.vectors import VectorStore

        started = time.monotonic()
        snapshot = Snapshot(ctx.data_dir)
        writers = WriterRegistry(ctx.data_dir)

        def compare_now() -> Findings:
            # Opened per comparison: Qdrant local mode lets one process in, and a writer may need it between.
            with GraphStore.from_env() as graph, VectorStore.from_env() as vectors:
                return compare(snapshot, graph, vectors, params.collection)

        verdict = settled_compare(
            compare_now,
            writers,
            wait_seconds=params.wait_for_writers_seconds,
            poll_seconds=params.poll_seconds,
            recheck_seconds=params.recheck_delay_seconds,
            sleep=self._sleep,
        )
        found = remaining = verdict.findings
        repaired: dict[str, int] = {}
        if params.repair and found.total and not writers.active():
            with GraphStore.from_env() as graph, VectorStore.from_env() as vectors:
                repaired = repair(found, snapshot, graph, vectors, params)
                remaining = compare(snapshot, graph, vectors, params.collection)
        for name, ids in found.as_dict().items():
            if ids:
                ctx.log.warning("inconsistency %s: %d (%s)", name, len(ids), ", ".join(ids[:10]))
        if verdict.transient.total:
            ctx.log.info("resolved on a second look (not reported): %s", verdict.transient.counts())
        if verdict.status == "skipped":
            outcome = "skipped"
            ctx.log.warning(
                "not checked: runs still writing the stores after %.0fs: %s",
                verdict.waited_seconds, ", ".join(f"{m['pipeline']}/{m['run_id']}" for m in verdict.writers),
            )
        else:
            outcome = "consistent" if found.total == 0 else ("repaired" if remaining.total == 0 else "inconsistent")
        writer_info = [
            {k: m.get(k) for k in ("pipeline", "run_id", "stage")} for m in verdict.writers
        ]
        write_stage_report(
            ctx,
            {
                "outcome": {
                    "outcome": outcome,
                    "duration_seconds": round(time.monotonic() - started, 2),
                    "repair": params.repair,
                    "waited_for_writers_seconds": round(verdict.waited_seconds, 2),
                    "comparisons": verdict.comparisons,
                },
                "sizes": {"snapshot_papers": len(snapshot.papers()), "snapshot_genes": len(snapshot.genes())},
                "writers": {"waited_for": writer_info},
                "found": found.counts(),
                "found_ids": found.as_dict(),
                "transient": verdict.transient.counts(),
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
            "waited_for": [f"{m['pipeline']}/{m['run_id']}" for m in writer_info],
        }
