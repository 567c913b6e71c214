"""Neo4j and Qdrant updates: a crash half-way followed by a rerun leaves no duplicates."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pipeline_factory.devservers import eutils_corpus as corpus
from pipeline_factory.sources.genes import gene_record
from pipeline_factory.sources.pubmed import parse_pubmed_xml
from pipeline_factory.stages.graphrag import graph_model, vector_model
from pipeline_factory.stages.graphrag.collect import RUN_PAPERS
from pipeline_factory.stages.graphrag.params import UpdateGraphParams, UpdateVectorsParams
from pipeline_factory.stages.graphrag.snapshot import Snapshot
from pipeline_factory.stages.graphrag.update import UpdateGraph, UpdateVectors
from pipeline_factory.stores.graph import GraphStore
from pipeline_factory.stores.vectors import VectorStore

pytestmark = [pytest.mark.integration, pytest.mark.slow]

RUN = "manual__seeded"


def seed_snapshot(data_dir: Path, count: int, first: int = 10_000_000) -> dict[str, dict[str, Any]]:
    """A snapshot as collection leaves it: the stand-in's papers parsed by the real parser."""
    generated = [corpus.paper(str(first + i), "gene editing") for i in range(count)]
    papers = {p["pmid"]: p for p in parse_pubmed_xml(corpus.pubmed_set_xml(generated).encode())}
    gene_ids = sorted({g for p in generated for g in p.gene_ids})
    genes = {g: gene_record(g, corpus.gene_summary(g)) for g in gene_ids}
    snapshot = Snapshot(data_dir)
    snapshot.merge_papers(papers)
    snapshot.write_run(RUN, RUN_PAPERS, papers)
    snapshot.merge_genes(genes, {p.pmid: list(p.gene_ids) for p in generated})
    return snapshot.papers()


def expected_graph(papers: dict[str, dict[str, Any]]) -> dict[str, int]:
    rows = [graph_model.paper_row(p) for p in papers.values()]
    return {
        "Paper": len(rows),
        "Author": len({a for r in rows for a in r["authors"]}),
        "Journal": len({r["journal_id"] for r in rows}),
        "MeshTerm": len({m["ui"] for r in rows for m in r["mesh"]}),
        "Gene": len({g for r in rows for g in r["gene_ids"]}),
        "AUTHORED": sum(len(r["authors"]) for r in rows),
        "PUBLISHED_IN": len(rows),
        "HAS_MESH": sum(len(r["mesh"]) for r in rows),
        "MENTIONS": sum(len(r["gene_ids"]) for r in rows),
    }


class CrashAfter:
    """Let ``n`` write batches through, then fail as a killed worker would."""

    def __init__(self, n: int):
        self.left = n

    def tick(self) -> None:
        if self.left == 0:
            raise RuntimeError("worker killed")
        self.left -= 1


def test_graph_update_crash_then_rerun_leaves_no_duplicates(graph, make_ctx, data_dir, monkeypatch):
    papers = seed_snapshot(data_dir, 120)
    expected = expected_graph(papers)
    assert expected["MENTIONS"] > 0 and expected["AUTHORED"] > expected["Paper"]

    crash = CrashAfter(2)  # the genes batch, one papers batch, then death
    real_write_rows = GraphStore.write_rows

    def crashing_write_rows(self, cypher, rows, batch_size=500):
        written = 0
        for start in range(0, len(rows), batch_size):
            crash.tick()
            written += real_write_rows(self, cypher, rows[start : start + batch_size], batch_size)
        return written

    monkeypatch.setattr(GraphStore, "write_rows", crashing_write_rows)
    with pytest.raises(RuntimeError, match="worker killed"):
        UpdateGraph().run(make_ctx("update_graph", run_id=RUN), UpdateGraphParams(batch_size=50))
    partial = graph_model.counts(graph)
    assert partial["Paper"] == 50  # one committed batch of 50, nothing of the failed one

    monkeypatch.setattr(GraphStore, "write_rows", real_write_rows)
    UpdateGraph().run(make_ctx("update_graph", run_id=RUN), UpdateGraphParams(batch_size=50))
    assert graph_model.counts(graph) == expected
    # and once more, as an Airflow retry of a task that had in fact finished
    result = UpdateGraph().run(make_ctx("update_graph", run_id=RUN), UpdateGraphParams(batch_size=50))
    assert result["graph"] == expected
    duplicates = graph.read("MATCH (p:Paper)-[r]->(x) WITH p, x, type(r) AS t, count(*) AS c WHERE c > 1 RETURN c")
    assert duplicates == []


def test_full_rebuild_replaces_the_graph_from_the_snapshot(graph, make_ctx, data_dir):
    papers = seed_snapshot(data_dir, 30)
    graph.write("CREATE (:Paper {pmid: 'stale'})<-[:AUTHORED]-(:Author {name: 'Nobody'})")
    UpdateGraph().run(make_ctx("update_graph", run_id=RUN), UpdateGraphParams(mode="replace"))
    assert graph_model.counts(graph) == expected_graph(papers)
    assert "stale" not in graph_model.paper_ids(graph)


def test_vector_update_crash_then_rerun_leaves_no_duplicates(make_ctx, data_dir, monkeypatch, embedder):
    papers = seed_snapshot(data_dir, 30)
    real_upsert = VectorStore.upsert
    crash = CrashAfter(1)

    def crashing_upsert(self, name, points, batch_size=256):
        crash.tick()
        return real_upsert(self, name, points, batch_size)

    monkeypatch.setattr(VectorStore, "upsert", crashing_upsert)
    params = UpdateVectorsParams(batch_size=12)
    with pytest.raises(RuntimeError, match="worker killed"):
        UpdateVectors().run(make_ctx("update_vectors", run_id=RUN), params)
    with VectorStore.from_env() as store:
        assert store.count(params.collection) == 12
    monkeypatch.setattr(VectorStore, "upsert", real_upsert)
    UpdateVectors().run(make_ctx("update_vectors", run_id=RUN), params)
    result = UpdateVectors().run(make_ctx("update_vectors", run_id=RUN), params)
    assert result["collection_size"] == 30
    with VectorStore.from_env() as store:
        assert store.ids(params.collection) == {vector_model.paper_point_id(p) for p in papers}
        payload = store.payloads(params.collection)[vector_model.paper_point_id("10000017")]
        assert payload["pmid"] == "10000017" and payload["title"] == papers["10000017"]["title"]
        assert isinstance(payload["mesh"], list) and payload["year"] == papers["10000017"]["year"]
    recreated = UpdateVectors().run(
        make_ctx("update_vectors", run_id=RUN), UpdateVectorsParams(recreate=True)
    )
    assert recreated == {"vectors_upserted": 30, "collection_size": 30}
