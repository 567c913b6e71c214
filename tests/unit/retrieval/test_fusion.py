"""Rank fusion: properties that hold for any vector and graph scores."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from pipeline_factory.retrieval.fusion import Evidence, fuse, ndcg_at, rank, recall_at

pmids = st.text(alphabet="0123456789", min_size=1, max_size=4)
scores = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)
evidence_maps = st.dictionaries(
    pmids, st.tuples(st.none() | scores, st.floats(min_value=0.0, max_value=50.0, allow_nan=False)), max_size=30
)


def build(raw) -> dict[str, Evidence]:
    return {p: Evidence(vector_score=v, graph_score=g) for p, (v, g) in raw.items()}


@given(evidence_maps, st.integers(1, 15))
def test_without_graph_weight_the_order_is_the_vector_order(raw, k):
    ranked = [p for p, _ in fuse(build(raw), k=k, graph_weight=0.0)]
    vector = sorted((p for p, (v, _) in raw.items() if v), key=lambda p: (-raw[p][0], p))
    assert ranked == vector[:k]


@given(evidence_maps, st.integers(1, 15), st.floats(min_value=0.0, max_value=5.0, allow_nan=False))
def test_every_result_has_a_reason_and_scores_descend(raw, k, weight):
    evidence = build(raw)
    ranked = fuse(evidence, k=k, graph_weight=weight)
    assert len(ranked) <= k and len({p for p, _ in ranked}) == len(ranked)
    assert [s for _, s in ranked] == sorted((s for _, s in ranked), reverse=True)
    for pmid, _ in ranked:
        reasons = evidence[pmid].reasons()
        assert "vector_rank" in reasons or "graph_rank" in reasons


@given(evidence_maps, st.integers(1, 15))
def test_more_graph_evidence_never_lowers_a_paper(raw, k):
    """Monotone: raising one paper's graph score cannot push it down the fused list."""
    if not raw:
        return
    target = sorted(raw)[0]
    before = [p for p, _ in fuse(build(raw), k=len(raw))]
    boosted = dict(raw)
    boosted[target] = (raw[target][0], raw[target][1] + 10.0)
    after = [p for p, _ in fuse(build(boosted), k=len(raw))]
    if target in before:
        assert target in after and after.index(target) <= before.index(target)


def test_rank_metrics():
    assert rank({"a": 0.5, "b": 0.9, "c": 0.0}) == {"b": 1, "a": 2}
    assert recall_at(["a", "x", "b"], {"a", "b"}, 10) == 1.0
    assert recall_at(["x"] * 10, set("abcdefghijkl"), 10) == 0.0
    assert ndcg_at(["a", "b"], {"a", "b"}, 10) == 1.0
    assert 0 < ndcg_at(["x", "a"], {"a"}, 10) < 1


def test_a_question_names_a_gene_by_symbol_in_any_case_and_by_synonym_as_written():
    from pipeline_factory.retrieval.retriever import names_gene, question_organisms

    brca1 = ("BRCA1", ["BRCAI", "IRIS", "RNF53"])
    assert names_gene("brca1 in breast cancer", *brca1) and names_gene("IRIS and RNF53", *brca1)
    assert not names_gene("the iris of the eye", *brca1)  # an English word, not the alias IRIS
    assert names_gene("p53 in mice", "Trp53", ["Tp53", "p53"]) and not names_gene("NS", "KRAS", ["NS"])
    assert question_organisms("Trp53 in mice") == ["Mus musculus"] and question_organisms("TP53") == []
