"""The consistency check finds what changed behind the pipelines' backs, and repair undoes it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline_factory.devservers import eutils_corpus as corpus
from pipeline_factory.sources.genes import gene_record
from pipeline_factory.sources.pubmed import parse_pubmed_xml
from pipeline_factory.stages.graphrag import graph_model, vector_model
from pipeline_factory.stages.graphrag.collect import RUN_PAPERS
from pipeline_factory.stages.graphrag.consistency import ConsistencyCheck
from pipeline_factory.stages.graphrag.params import (
    ConsistencyCheckParams,
    UpdateGraphParams,
    UpdateVectorsParams,
)
from pipeline_factory.stages.graphrag.snapshot import Snapshot
from pipeline_factory.stages.graphrag.update import UpdateGraph, UpdateVectors
from pipeline_factory.stores.vectors import VectorStore

pytestmark = [pytest.mark.integration, pytest.mark.slow]

RUN = "manual__seeded"


def quick(**kwargs) -> ConsistencyCheckParams:
    """No pause before the second look (the tests change nothing in between unless they say so)."""
    return ConsistencyCheckParams(recheck_delay_seconds=0, wait_for_writers_seconds=5, poll_seconds=0.1, **kwargs)


def run_finished(data_dir: Path, run_id: str = RUN, pipeline: str = "graphrag_incremental") -> None:
    """What the run's last stage (graphrag_report) does: its writes are over."""
    from pipeline_factory.stages.graphrag.writers import WriterRegistry

    WriterRegistry(data_dir).end(pipeline, run_id)


def seed(data_dir: Path, count: int) -> dict:
    generated = [corpus.paper(str(20_000_000 + i), "mRNA vaccine") for i in range(count)]
    papers = {p["pmid"]: p for p in parse_pubmed_xml(corpus.pubmed_set_xml(generated).encode())}
    genes = {g: gene_record(g, corpus.gene_summary(g)) for p in generated for g in p.gene_ids}
    snapshot = Snapshot(data_dir)
    snapshot.merge_papers(papers)
    snapshot.write_run(RUN, RUN_PAPERS, papers)
    snapshot.merge_genes(genes, {p.pmid: list(p.gene_ids) for p in generated})
    return snapshot.papers()


def test_check_finds_a_deleted_point_and_an_extra_node_and_repair_fixes_them(
    graph, make_ctx, data_dir, embedder
):
    papers = seed(data_dir, 20)
    UpdateGraph().run(make_ctx("update_graph", run_id=RUN), UpdateGraphParams())
    UpdateVectors().run(make_ctx("update_vectors", run_id=RUN), UpdateVectorsParams())
    run_finished(data_dir)
    collection = UpdateVectorsParams().collection

    clean = ConsistencyCheck().run(make_ctx("check", pipeline="graphrag_consistency"), quick())
    assert clean == {"outcome": "consistent", "found": 0, "remaining": 0, "found_by_kind": {}, "waited_for": []}

    victim = sorted(papers)[3]
    with VectorStore.from_env() as store:  # behind the pipeline's back
        store.delete(collection, [vector_model.paper_point_id(victim)])
    graph.write("CREATE (:Paper {pmid: 'intruder', title: 'added by hand'})")

    ctx = make_ctx("check", run_id="scheduled__1", pipeline="graphrag_consistency")
    found = ConsistencyCheck().run(ctx, quick())
    assert found["outcome"] == "inconsistent"
    assert found["found_by_kind"] == {"papers_missing_in_vectors": 1, "papers_extra_in_graph": 1}
    report = json.loads(
        (data_dir / "reports" / "graphrag_consistency" / "scheduled__1" / "check.json").read_text()
    )
    assert report["found_ids"]["papers_missing_in_vectors"] == [victim]
    assert report["found_ids"]["papers_extra_in_graph"] == ["intruder"]

    repaired = ConsistencyCheck().run(
        make_ctx("check", run_id="scheduled__2", pipeline="graphrag_consistency"),
        quick(repair=True),
    )
    assert repaired["outcome"] == "repaired" and repaired["remaining"] == 0
    assert "intruder" not in graph_model.paper_ids(graph)
    with VectorStore.from_env() as store:
        assert vector_model.paper_point_id(victim) in store.ids(collection)
        assert store.count(collection) == len(papers)

    again = ConsistencyCheck().run(make_ctx("check", pipeline="graphrag_consistency"), quick())
    assert again["outcome"] == "consistent"


def test_check_can_fail_the_run_when_mismatches_remain(graph, make_ctx, data_dir):
    from pipeline_factory.exceptions import StageError

    seed(data_dir, 3)  # in the snapshot, never written to the stores
    with pytest.raises(StageError, match="inconsistencies remain"):
        ConsistencyCheck().run(
            make_ctx("check", pipeline="graphrag_consistency"), quick(fail_on_mismatch=True)
        )


def test_a_check_during_a_full_rebuild_waits_for_it_and_never_cries_wolf(graph, make_ctx, data_dir, eutils, embedder):
    import threading

    from pipeline_factory.stages.graphrag.collect import CollectPubmed
    from pipeline_factory.stages.graphrag.consistency import compare
    from pipeline_factory.stages.graphrag.graphrag_report import WriteRunSummary
    from pipeline_factory.stages.graphrag.params import CollectPubmedParams, GraphragReportParams
    from pipeline_factory.stages.graphrag.snapshot import Snapshot

    seed(data_dir, 10)
    UpdateGraph().run(make_ctx("update_graph", run_id=RUN), UpdateGraphParams())
    UpdateVectors().run(make_ctx("update_vectors", run_id=RUN), UpdateVectorsParams())
    run_finished(data_dir)
    collected, check_waits, failures = threading.Event(), threading.Event(), []

    def rebuild() -> None:
        def ctx(stage: str):
            return make_ctx(stage, run_id="scheduled__rebuild", pipeline="graphrag_full_rebuild")

        try:
            CollectPubmed().run(ctx("collect_pubmed"), CollectPubmedParams(
                search_terms=["mRNA vaccine"], max_results_per_term=12, mode="full"))
            collected.set()
            check_waits.wait(120)  # the check is running now, the stores still lag the snapshot
            UpdateGraph().run(ctx("update_graph"), UpdateGraphParams(mode="replace"))
            UpdateVectors().run(ctx("update_vectors"), UpdateVectorsParams(recreate=True))
            WriteRunSummary().run(ctx("report"), GraphragReportParams())
        except BaseException as exc:  # reported by the test below
            failures.append(exc)
            collected.set()

    worker = threading.Thread(target=rebuild)
    worker.start()
    assert collected.wait(120) and not failures
    # The window is real: compared now, the stores miss the papers the rebuild just collected.
    with VectorStore.from_env() as store:
        naive = compare(Snapshot(data_dir), graph, store, UpdateVectorsParams().collection)
    assert naive.papers_missing_in_graph and naive.papers_missing_in_vectors

    class Check(ConsistencyCheck):
        def _sleep(self, seconds: float) -> None:
            check_waits.set()
            super()._sleep(seconds)

    params = ConsistencyCheckParams(poll_seconds=0.2, recheck_delay_seconds=0)
    result = Check().run(make_ctx("check", run_id="scheduled__check", pipeline="graphrag_consistency"), params)
    worker.join(300)
    assert not failures
    assert result["outcome"] == "consistent" and result["found"] == 0
    assert result["waited_for"] == ["graphrag_full_rebuild/scheduled__rebuild"]


def test_a_check_that_cannot_wait_longer_reports_skipped_not_a_mismatch(make_ctx, data_dir):
    from pipeline_factory.stages.graphrag.writers import WriterRegistry

    seed(data_dir, 3)  # the snapshot is ahead of the (empty) stores, as during a run
    WriterRegistry(data_dir).begin("graphrag_incremental", "scheduled__stuck", "update_vectors")
    params = ConsistencyCheckParams(wait_for_writers_seconds=0.3, poll_seconds=0.1, fail_on_mismatch=True)
    result = ConsistencyCheck().run(make_ctx("check", pipeline="graphrag_consistency"), params)
    assert result["outcome"] == "skipped" and result["found"] == 0
    assert result["waited_for"] == ["graphrag_incremental/scheduled__stuck"]
