"""Fusing a vector ranking and a graph ranking into one list, keeping why each paper is there.

Reciprocal-rank fusion (Cormack et al., 2009): each ranking contributes
``weight / (k0 + rank)`` for the papers it ranks.  Ranks, not raw scores, are
combined, so a cosine similarity and a sum of shared-entity weights need no
common scale.  Pure functions: no stores, easy to test exhaustively.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

#: The usual RRF constant: dampens the difference between the first few ranks.
RRF_K = 60


@dataclass
class Evidence:
    """Why a paper is in the answer."""

    vector_score: float | None = None
    vector_rank: int | None = None
    graph_score: float = 0.0
    graph_rank: int | None = None
    shared_genes: dict[str, float] = field(default_factory=dict)  # gene label -> weight
    shared_mesh: dict[str, float] = field(default_factory=dict)  # MeSH name -> weight
    via: set[str] = field(default_factory=set)  # the vector hits it was reached from
    query_entities: set[str] = field(default_factory=set)  # question terms it carries

    def reasons(self) -> dict[str, Any]:
        top = lambda d: [k for k, _ in sorted(d.items(), key=lambda kv: (-kv[1], kv[0]))]  # noqa: E731
        out: dict[str, Any] = {}
        if self.vector_score is not None:
            out["vector_score"] = round(self.vector_score, 4)
            out["vector_rank"] = self.vector_rank
        if self.graph_rank is not None:
            out["graph_score"] = round(self.graph_score, 4)
            out["graph_rank"] = self.graph_rank
        if self.shared_genes:
            out["shared_genes"] = top(self.shared_genes)
        if self.shared_mesh:
            out["shared_mesh"] = top(self.shared_mesh)
        if self.via:
            out["via"] = sorted(self.via)
        if self.query_entities:
            out["matches_question"] = sorted(self.query_entities)
        return out


def rank(scores: Mapping[str, float], tiebreak: Mapping[str, float] | None = None) -> dict[str, int]:
    """1-based ranks by descending score; ties by descending ``tiebreak``, then by id (deterministic)."""
    tiebreak = tiebreak or {}
    ordered = sorted((k for k, v in scores.items() if v > 0), key=lambda k: (-scores[k], -tiebreak.get(k, 0.0), k))
    return {k: i for i, k in enumerate(ordered, start=1)}


def fuse(
    evidence: Mapping[str, Evidence], *, k: int, graph_weight: float = 1.0, rrf_k: int = RRF_K
) -> list[tuple[str, float]]:
    """The ``k`` best papers by weighted reciprocal-rank fusion: ``[(pmid, fused score)]``.

    Fills ``vector_rank``/``graph_rank`` on the evidence.  With ``graph_weight``
    0 this is the vector ranking unchanged (the baseline it must beat).
    """
    vector_ranks = rank({p: e.vector_score for p, e in evidence.items() if e.vector_score is not None})
    # Papers sharing the same entities tie on the graph; their text decides between them.
    graph_ranks = rank(
        {p: e.graph_score for p, e in evidence.items()},
        {p: e.vector_score for p, e in evidence.items() if e.vector_score is not None},
    )
    fused: dict[str, float] = {}
    for pmid, found in evidence.items():
        found.vector_rank = vector_ranks.get(pmid)
        found.graph_rank = graph_ranks.get(pmid)
        score = 0.0
        if found.vector_rank is not None:
            score += 1.0 / (rrf_k + found.vector_rank)
        if found.graph_rank is not None and graph_weight:
            score += graph_weight / (rrf_k + found.graph_rank)
        if score > 0:
            fused[pmid] = score
    best = sorted(fused, key=lambda p: (-fused[p], vector_ranks.get(p, 10**9), p))
    return [(p, fused[p]) for p in best[:k]]


def ndcg_at(ranked: Sequence[str], relevant: set[str], k: int) -> float:
    """Binary-relevance nDCG@k."""
    import math

    dcg = sum(1.0 / math.log2(i + 2) for i, p in enumerate(ranked[:k]) if p in relevant)
    ideal = sum(1.0 / math.log2(i + 2) for i in range(min(k, len(relevant))))
    return dcg / ideal if ideal else 0.0


def recall_at(ranked: Sequence[str], relevant: set[str], k: int) -> float:
    """Share of the relevant papers in the top ``k``, out of at most ``k`` (so 1.0 is reachable)."""
    if not relevant:
        return 0.0
    return len(set(ranked[:k]) & relevant) / min(k, len(relevant))
