"""The hybrid retriever over real Neo4j and Qdrant (local mode), with the shipped embedding model."""

from __future__ import annotations

import json

import pytest

from pipeline_factory.devservers import eutils_corpus as corpus
from pipeline_factory.retrieval.evaluation import build_eval_set, evaluate, load_stores
from pipeline_factory.retrieval.retriever import HybridRetriever, context
from pipeline_factory.sources.genes import gene_record
from pipeline_factory.sources.pubmed import parse_pubmed_xml

pytestmark = pytest.mark.integration

COLLECTION = "retriever_test"


@pytest.fixture
def stores(graph, vector_store, embedder):
    generated = [corpus.paper(str(30_000_000 + i), topic) for i, topic in
                 enumerate(["CAR-T cell therapy"] * 40 + ["mRNA vaccine"] * 40)]
    papers = {p["pmid"]: p for p in parse_pubmed_xml(corpus.pubmed_set_xml(generated).encode())}
    for p in generated:
        papers[p.pmid]["gene_ids"] = list(p.gene_ids)
    genes = {g: gene_record(g, corpus.gene_summary(g)) for p in generated for g in p.gene_ids}
    load_stores(graph, vector_store, embedder, COLLECTION, papers, genes)
    return HybridRetriever(graph, vector_store, embedder, COLLECTION), papers, generated


def test_hybrid_results_carry_their_reasons_and_reach_papers_the_vectors_missed(stores):
    retriever, papers, generated = stores
    vector = retriever.search("Trp53 mutation in mice", k=10, mode="vector")
    hybrid = retriever.search("Trp53 mutation in mice", k=10, mode="hybrid")
    assert len(vector) == len(hybrid) == 10
    assert all(set(r["reasons"]) <= {"vector_score", "vector_rank"} for r in vector)
    mouse_p53 = {p.pmid for p in generated if "22059" in p.gene_ids}
    assert mouse_p53, "the seeded corpus has papers on mouse Trp53"
    # The question names the mouse gene: every paper linked to it by id is in the answer, with that reason.
    found = {r["pmid"]: r for r in hybrid}
    for pmid in mouse_p53:
        assert pmid in found
        assert "Trp53 (22059, Mus musculus)" in found[pmid]["reasons"]["matches_question"]
    named = {e for r in hybrid for e in r["reasons"].get("matches_question", [])}
    assert not any(e.startswith("TP53 (7157") for e in named)  # "mice": the human gene is not what was asked
    assert [r["rank"] for r in hybrid] == list(range(1, 11))
    assert all(r["title"] == papers[r["pmid"]]["title"] for r in hybrid)
    text = context(hybrid[:2])
    assert text.startswith("[1] PMID ") and "why: " in text


def test_vector_only_is_the_plain_qdrant_ranking(stores):
    retriever, _, _ = stores
    ranked = retriever.search("antibody titres after vaccination", k=5, mode="vector")
    scores = [r["reasons"]["vector_score"] for r in ranked]
    assert scores == sorted(scores, reverse=True) and [r["reasons"]["vector_rank"] for r in ranked] == [1, 2, 3, 4, 5]
    assert retriever.search("   ", k=5) == []


def test_evaluation_set_and_metrics_on_the_seeded_corpus(stores):
    retriever, papers, _ = stores
    queries = build_eval_set(papers, size=10)
    assert queries and all(q.source in q.relevant and len(q.relevant) >= 2 for q in queries)
    figures = evaluate(retriever, queries, k=10)
    assert set(figures) == {"vector", "hybrid"}
    for mode in figures.values():
        assert 0.0 <= mode["recall"] <= 1.0 and 0.0 <= mode["ndcg"] <= 1.0 and mode["queries"] == len(queries)
    json.dumps(figures)


def test_the_pipelines_view_search_box_answers_with_the_same_ranking(stores, monkeypatch):
    from fastapi.testclient import TestClient

    from pipeline_factory.retrieval import retriever as retriever_module
    from pipeline_factory.ui.access import Access, read_access
    from pipeline_factory.ui.app import create_app
    from pipeline_factory.ui.auth import current_user

    retriever, _, _ = stores
    monkeypatch.setattr(retriever_module, "open_retriever", lambda collection=None: (retriever, lambda: None))
    app = create_app()
    client = TestClient(app)
    assert client.get("/api/graphrag/search", params={"q": "Trp53 in mice"}).status_code == 401  # no user

    app.dependency_overrides[current_user] = lambda: {"user": "viewer"}
    # Airflow's auth manager decides which DAGs a user reads; here: one reader without and one with GraphRAG.
    app.dependency_overrides[read_access] = lambda: Access(user="docs", pipelines=frozenset({"docs_auto"}),
                                                           all_pipelines=False)
    assert client.get("/api/graphrag/search", params={"q": "Trp53 in mice"}).status_code == 403
    app.dependency_overrides[read_access] = lambda: Access(user="viewer", pipelines=frozenset({"graphrag_incremental"}),
                                                           all_pipelines=False)
    answer = client.get("/api/graphrag/search", params={"q": "Trp53 mutation in mice", "k": 5}).json()
    assert answer["available"] is True and len(answer["results"]) == 5
    expected = [r["pmid"] for r in retriever.search("Trp53 mutation in mice", k=5)]
    assert [r["pmid"] for r in answer["results"]] == expected
    first = answer["results"][0]
    assert first["link"] == f"https://pubmed.ncbi.nlm.nih.gov/{first['pmid']}/" and "abstract" not in first
    assert client.get("/api/graphrag/search", params={"q": "", "k": 5}).status_code == 422
    assert client.get("/api/graphrag/search", params={"q": "x", "k": 500}).status_code == 422


def test_the_cli_prints_the_ranking_as_json_or_text(stores, monkeypatch, capsys):
    from pipeline_factory.cli import main
    from pipeline_factory.retrieval import retriever as retriever_module

    retriever, _, _ = stores
    monkeypatch.setattr(retriever_module, "open_retriever", lambda collection=None: (retriever, lambda: None))
    assert main(["graphrag", "query", "Trp53 mutation in mice", "--k", "3", "--format", "json"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["mode"] == "hybrid" and [r["rank"] for r in answer["results"]] == [1, 2, 3]
    assert all("reasons" in r and "abstract" not in r for r in answer["results"])
    assert main(["graphrag", "query", "Trp53 mutation in mice", "--k", "3", "--context"]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith(" 1. PMID ") and "[1] PMID " in printed
    assert main(["graphrag", "query", "x", "--k", "0"]) == 2
