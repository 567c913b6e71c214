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
    collection = UpdateVectorsParams().collection

    clean = ConsistencyCheck().run(make_ctx("check", pipeline="graphrag_consistency"), ConsistencyCheckParams())
    assert clean == {"outcome": "consistent", "found": 0, "remaining": 0, "found_by_kind": {}}

    victim = sorted(papers)[3]
    with VectorStore.from_env() as store:  # behind the pipeline's back
        store.delete(collection, [vector_model.paper_point_id(victim)])
    graph.write("CREATE (:Paper {pmid: 'intruder', title: 'added by hand'})")

    ctx = make_ctx("check", run_id="scheduled__1", pipeline="graphrag_consistency")
    found = ConsistencyCheck().run(ctx, ConsistencyCheckParams())
    assert found["outcome"] == "inconsistent"
    assert found["found_by_kind"] == {"papers_missing_in_vectors": 1, "papers_extra_in_graph": 1}
    report = json.loads(
        (data_dir / "reports" / "graphrag_consistency" / "scheduled__1" / "check.json").read_text()
    )
    assert report["found_ids"]["papers_missing_in_vectors"] == [victim]
    assert report["found_ids"]["papers_extra_in_graph"] == ["intruder"]

    repaired = ConsistencyCheck().run(
        make_ctx("check", run_id="scheduled__2", pipeline="graphrag_consistency"),
        ConsistencyCheckParams(repair=True),
    )
    assert repaired["outcome"] == "repaired" and repaired["remaining"] == 0
    assert "intruder" not in graph_model.paper_ids(graph)
    with VectorStore.from_env() as store:
        assert vector_model.paper_point_id(victim) in store.ids(collection)
        assert store.count(collection) == len(papers)

    again = ConsistencyCheck().run(make_ctx("check", pipeline="graphrag_consistency"), ConsistencyCheckParams())
    assert again["outcome"] == "consistent"


def test_check_can_fail_the_run_when_mismatches_remain(graph, make_ctx, data_dir):
    from pipeline_factory.exceptions import StageError

    seed(data_dir, 3)  # in the snapshot, never written to the stores
    with pytest.raises(StageError, match="inconsistencies remain"):
        ConsistencyCheck().run(
            make_ctx("check", pipeline="graphrag_consistency"), ConsistencyCheckParams(fail_on_mismatch=True)
        )
