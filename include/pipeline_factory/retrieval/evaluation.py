"""Measuring the retriever: an evaluation set built from a corpus's own MeSH indexing.

For each sampled paper with MeSH major topics, the query is those topics'
names and the relevant papers are those whose major topics include all of
them (``match="all"``) or any of them (``match="any"``), the sampled paper
too.  Indexers, not the retriever, decided what is relevant, which makes
this usable on any collected corpus, real or not.
"""

from __future__ import annotations

import random
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pipeline_factory.retrieval.fusion import ndcg_at, recall_at


@dataclass(frozen=True)
class Query:
    source: str
    text: str
    relevant: frozenset[str]


def major_topics(paper: Mapping[str, Any]) -> frozenset[str]:
    return frozenset(m["name"] for m in paper.get("mesh") or [] if m.get("major"))


def build_eval_set(
    papers: Mapping[str, Mapping[str, Any]],
    size: int = 50,
    seed: int = 0,
    min_relevant: int = 2,
    match: str = "all",
) -> list[Query]:
    """Up to ``size`` queries with at least ``min_relevant`` relevant papers each, sampled reproducibly."""
    topics = {pmid: major_topics(p) for pmid, p in papers.items()}
    candidates = sorted(p for p, t in topics.items() if t)
    random.Random(seed).shuffle(candidates)
    queries = []
    for pmid in candidates:
        wanted = topics[pmid]
        if match == "all":
            relevant = frozenset(p for p, t in topics.items() if wanted <= t)
        else:
            relevant = frozenset(p for p, t in topics.items() if wanted & t)
        if len(relevant) < min_relevant:
            continue
        queries.append(Query(source=pmid, text="; ".join(sorted(wanted)), relevant=relevant))
        if len(queries) == size:
            break
    return queries


def evaluate(retriever: Any, queries: Sequence[Query], k: int = 10, modes: Iterable[str] = ("vector", "hybrid")):
    """Mean recall@k and nDCG@k per mode: ``{mode: {"recall": r, "ndcg": n, "queries": q}}``."""
    out: dict[str, dict[str, float]] = {}
    for mode in modes:
        recalls, ndcgs = [], []
        for query in queries:
            ranked = [r["pmid"] for r in retriever.search(query.text, k=k, mode=mode)]
            recalls.append(recall_at(ranked, set(query.relevant), k))
            ndcgs.append(ndcg_at(ranked, set(query.relevant), k))
        out[mode] = {
            "recall": round(statistics.fmean(recalls), 4) if recalls else 0.0,
            "ndcg": round(statistics.fmean(ndcgs), 4) if ndcgs else 0.0,
            "queries": len(queries),
        }
    return out


def load_stores(
    graph: Any,
    vectors: Any,
    embedder: Any,
    collection: str,
    papers: Mapping[str, Mapping[str, Any]],
    genes: Mapping[str, Mapping[str, Any]],
) -> None:
    """Replace the GraphRAG graph and the collection with ``papers`` and ``genes`` (as the rebuild does)."""
    from pipeline_factory.stages.graphrag import graph_model, vector_model

    graph_model.ensure_schema(graph)
    graph_model.delete_everything(graph)
    graph_model.write_genes(graph, list(genes.values()), batch_size=500)
    rows = [papers[p] for p in sorted(papers)]
    graph_model.write_papers(graph, rows, batch_size=500)
    vectors.ensure_collection(collection, embedder.dimension, recreate=True)
    vector_model.upsert_papers(vectors, collection, rows, embedder, batch_size=256, embed_batch_size=64)
