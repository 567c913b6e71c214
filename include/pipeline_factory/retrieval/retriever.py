"""The hybrid retriever: Qdrant finds papers that read like the question, Neo4j adds papers that share
their genes and MeSH terms (and those that carry genes or MeSH terms the question names), and
:func:`~pipeline_factory.retrieval.fusion.fuse` ranks them together, each with its reasons.

Why not ``neo4j-graphrag``'s ``QdrantNeo4jRetriever``: it returns the vector hits
joined to their nodes (one Cypher per hit), so papers that only the graph
reaches never enter the list, and fusing two rankings is not part of it.  The
expansion and the fusion here are two Cypher statements and a pure function.

Entity weights are inverse document frequencies: sharing a gene or a rare MeSH
term says more than sharing ``Humans``; terms carried by more than
``max_df_share`` of the papers are not expanded at all.  A MeSH term that the
indexers starred as a major topic of the reached paper weighs more: the paper
is about it, not merely touching it.

No generation step: :meth:`HybridRetriever.search` returns the ranked papers
and :func:`context` the text a generator would be given.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pipeline_factory.retrieval.fusion import Evidence, fuse

Mode = Literal["hybrid", "vector"]

EXPAND_MESH = """
UNWIND $seeds AS seed
MATCH (s:Paper {pmid: seed.pmid})-[:HAS_MESH]->(t:MeshTerm)
WITH seed, t, COUNT { (t)<-[:HAS_MESH]-(:Paper) } AS df
WHERE df > 1 AND df <= $max_df
MATCH (t)<-[h:HAS_MESH]-(o:Paper) WHERE o.pmid <> seed.pmid
RETURN seed.pmid AS seed, seed.score AS seed_score, t.name AS name, df,
       collect(o.pmid) AS others, collect(coalesce(h.major, false)) AS major
"""

EXPAND_GENES = """
UNWIND $seeds AS seed
MATCH (s:Paper {pmid: seed.pmid})-[:MENTIONS]->(g:Gene)
WITH seed, g, COUNT { (g)<-[:MENTIONS]-(:Paper) } AS df
WHERE df > 1 AND df <= $max_df
MATCH (g)<-[:MENTIONS]-(o:Paper) WHERE o.pmid <> seed.pmid
RETURN seed.pmid AS seed, seed.score AS seed_score, g.symbol + ' (' + g.gene_id + ', ' + g.organism + ')' AS name,
       df, collect(o.pmid) AS others, [] AS major
"""

QUESTION_MESH = """
MATCH (t:MeshTerm) WHERE size(t.name) >= 4 AND $question CONTAINS toLower(t.name)
WITH t, COUNT { (t)<-[:HAS_MESH]-(:Paper) } AS df
WHERE df > 0 AND df <= $max_df
MATCH (t)<-[h:HAS_MESH]-(o:Paper)
RETURN t.name AS name, df, collect(o.pmid) AS others, collect(coalesce(h.major, false)) AS major
"""

QUESTION_GENES = """
MATCH (g:Gene) WHERE any(n IN g.names WHERE n IN $tokens)
  AND ($organisms = [] OR g.organism IN $organisms)
WITH g, COUNT { (g)<-[:MENTIONS]-(:Paper) } AS df
WHERE df > 0 AND df <= $max_df
MATCH (g)<-[:MENTIONS]-(o:Paper)
RETURN g.symbol + ' (' + g.gene_id + ', ' + g.organism + ')' AS name, g.symbol AS symbol, g.synonyms AS synonyms,
       df, collect(o.pmid) AS others, [] AS major
"""

PAPERS = """
UNWIND $pmids AS pmid
MATCH (p:Paper {pmid: pmid})
OPTIONAL MATCH (p)-[:PUBLISHED_IN]->(j:Journal)
RETURN p.pmid AS pmid, p.title AS title, p.abstract AS abstract, p.year AS year, p.date AS date,
       p.doi AS doi, j.title AS journal
"""

PAPER_COUNT = "MATCH (p:Paper) RETURN count(p) AS n"

#: Words in a question that point at an organism (genes are resolved within it).
_ORGANISM_WORDS = {
    "Mus musculus": ("mouse", "mice", "murine"),
    "Homo sapiens": ("human", "humans", "patient", "patients"),
}


@dataclass(frozen=True)
class RetrieverSettings:
    seeds: int = 30  # vector hits taken
    expand_from: int = 10  # of those, the top ones whose genes/MeSH are followed
    graph_candidates: int = 100  # graph-only papers kept before fusion
    graph_weight: float = 1.0
    max_df_share: float = 0.5
    link_question: bool = True  # also follow genes and MeSH terms the question names
    major_boost: float = 1.0  # a MeSH term that is a major topic of the reached paper weighs (1 + boost)


def _words(question: str) -> set[str]:
    return set(re.findall(r"[A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9]", question))


def question_tokens(question: str) -> list[str]:
    """Gene-name candidates in a question: word-like tokens of 2+ characters, lower-cased."""
    return sorted({t.lower() for t in _words(question)})


def names_gene(question: str, symbol: str, synonyms: Sequence[str]) -> bool:
    """Whether the question names this gene, strictly enough that English words do not.

    The official symbol matches in any case (``Trp53``, ``TRP53``) when it has
    3+ characters or a digit; a synonym only as NCBI writes it, so the word
    "iris" is not BRCA1's alias ``IRIS`` while ``p53`` still is p53.
    """
    for word in _words(question):
        short = len(word) < 3 and not any(c.isdigit() for c in word)
        if short:
            continue
        if word.lower() == (symbol or "").lower() or word in (synonyms or []):
            return True
    return False


def question_organisms(question: str) -> list[str]:
    words = set(re.findall(r"[a-z]+", question.lower()))
    return [organism for organism, hints in _ORGANISM_WORDS.items() if words & set(hints)]


class HybridRetriever:
    """Search papers by a question over the GraphRAG stores (a GraphStore, a VectorStore, an embedder)."""

    def __init__(
        self, graph: Any, vectors: Any, embedder: Any, collection: str, settings: RetrieverSettings | None = None
    ):
        self.graph = graph
        self.vectors = vectors
        self.embedder = embedder
        self.collection = collection
        self.settings = settings or RetrieverSettings()

    # -- the two sources -------------------------------------------------------------

    def vector_hits(self, vector: Sequence[float], limit: int) -> list[tuple[str, float]]:
        if not self.vectors.collection_exists(self.collection):
            return []
        found = self.vectors.search(self.collection, vector, limit)
        return [(str(payload["pmid"]), score) for _, score, payload in found if "pmid" in payload]

    def vector_scores(self, vector: Sequence[float], pmids: Sequence[str]) -> dict[str, float]:
        """Cosine similarity of the question to papers the graph brought in (their stored vectors)."""
        from pipeline_factory.stages.graphrag.vector_model import paper_point_id

        if not pmids:
            return {}
        ids = {paper_point_id(p): p for p in pmids}
        norm = math.sqrt(sum(x * x for x in vector)) or 1.0
        scores = {}
        for point, stored in self.vectors.vectors(self.collection, list(ids)).items():
            if stored:
                length = math.sqrt(sum(x * x for x in stored)) or 1.0
                scores[ids[point]] = sum(a * b for a, b in zip(vector, stored, strict=False)) / (norm * length)
        return scores

    def _expand(self, evidence: dict[str, Evidence], hits: list[tuple[str, float]], question: str) -> None:
        total = self.graph.read(PAPER_COUNT)[0]["n"] or 1
        max_df = max(2, int(total * self.settings.max_df_share))
        seeds = [{"pmid": p, "score": s} for p, s in hits[: self.settings.expand_from]]

        def idf(df: int) -> float:
            return math.log(1 + total / df)

        for query, kind in ((EXPAND_MESH, "mesh"), (EXPAND_GENES, "gene")):
            for row in self.graph.read(query, seeds=seeds, max_df=max_df):
                base = idf(row["df"]) * max(row["seed_score"], 0.0)
                for other, major in zip(row["others"], row["major"] or [False] * len(row["others"]), strict=True):
                    weight = base * (1 + self.settings.major_boost * bool(major))
                    found = evidence.setdefault(other, Evidence())
                    found.graph_score += weight
                    found.via.add(row["seed"])
                    shared = found.shared_mesh if kind == "mesh" else found.shared_genes
                    shared[row["name"]] = shared.get(row["name"], 0.0) + weight
        if not self.settings.link_question:
            return
        lowered = question.lower()
        rows = [(r, "mesh") for r in self.graph.read(QUESTION_MESH, question=lowered, max_df=max_df)]
        rows += [
            (r, "gene")
            for r in self.graph.read(
                QUESTION_GENES, tokens=question_tokens(question), organisms=question_organisms(question), max_df=max_df
            )
            if names_gene(question, r["symbol"], r["synonyms"])
        ]
        for row, kind in rows:
            base = 2 * idf(row["df"])  # named in the question: stronger than shared with a hit
            for other, major in zip(row["others"], row["major"] or [False] * len(row["others"]), strict=True):
                weight = base * (1 + self.settings.major_boost * bool(major))
                found = evidence.setdefault(other, Evidence())
                found.graph_score += weight
                found.query_entities.add(row["name"])
                shared = found.shared_mesh if kind == "mesh" else found.shared_genes
                shared[row["name"]] = shared.get(row["name"], 0.0) + weight

    # -- the answer ------------------------------------------------------------------

    def search(self, question: str, k: int = 10, mode: Mode = "hybrid") -> list[dict[str, Any]]:
        """The ``k`` best papers for ``question``, each with its fused score and reasons."""
        question = question.strip()
        if not question or not self.vectors.collection_exists(self.collection):
            return []  # nothing indexed yet: answer at once, without loading the model
        vector = self.embedder.encode([question])[0]
        hits = self.vector_hits(vector, max(self.settings.seeds, k))
        evidence: dict[str, Evidence] = {p: Evidence(vector_score=s) for p, s in hits}
        if mode == "hybrid" and hits:
            self._expand(evidence, hits, question)
            graph_only = sorted(
                (p for p, e in evidence.items() if e.vector_score is None),
                key=lambda p: (-evidence[p].graph_score, p),
            )
            for dropped in graph_only[self.settings.graph_candidates :]:
                del evidence[dropped]
            for pmid, score in self.vector_scores(vector, graph_only[: self.settings.graph_candidates]).items():
                evidence[pmid].vector_score = score
        ranked = fuse(evidence, k=k, graph_weight=self.settings.graph_weight if mode == "hybrid" else 0.0)
        papers = {r["pmid"]: r for r in self.graph.read(PAPERS, pmids=[p for p, _ in ranked])}
        results = []
        for position, (pmid, score) in enumerate(ranked, start=1):
            paper = papers.get(pmid, {"pmid": pmid})
            results.append(
                {
                    "rank": position,
                    "pmid": pmid,
                    "score": round(score, 6),
                    "title": paper.get("title"),
                    "year": paper.get("year"),
                    "journal": paper.get("journal"),
                    "doi": paper.get("doi"),
                    "abstract": paper.get("abstract"),
                    "reasons": evidence[pmid].reasons(),
                }
            )
        return results


def context(results: Sequence[dict[str, Any]], max_chars: int = 1200) -> str:
    """The passages a generator would be given: one numbered block per paper, with its PMID and why."""
    blocks = []
    for r in results:
        why = r.get("reasons") or {}
        because = []
        if "vector_score" in why:
            because.append(f"similar text ({why['vector_score']:.2f})")
        if why.get("shared_genes"):
            because.append("genes: " + ", ".join(why["shared_genes"][:3]))
        if why.get("shared_mesh"):
            because.append("MeSH: " + ", ".join(why["shared_mesh"][:3]))
        abstract = (r.get("abstract") or "")[:max_chars]
        blocks.append(
            f"[{r['rank']}] PMID {r['pmid']} ({r.get('year') or 'n.d.'}) {r.get('title') or ''}\n"
            f"why: {'; '.join(because) or '-'}\n{abstract}"
        )
    return "\n\n".join(blocks)


def open_retriever(collection: str | None = None, settings: RetrieverSettings | None = None):
    """A retriever over the configured stores (``NEO4J_*``, ``QDRANT_URL`` or the data dir) and embedder.

    Returns ``(retriever, close)``; call ``close()`` when done (Qdrant local mode holds a file lock).
    """
    from pipeline_factory.embedding import get_embedder
    from pipeline_factory.stages.graphrag.params import DEFAULT_COLLECTION
    from pipeline_factory.stores.graph import GraphStore
    from pipeline_factory.stores.vectors import VectorStore

    graph = GraphStore.from_env()
    try:
        vectors = VectorStore.from_env()
    except Exception:
        graph.close()
        raise
    retriever = HybridRetriever(graph, vectors, get_embedder(), collection or DEFAULT_COLLECTION, settings)

    def close() -> None:
        vectors.close()
        graph.close()

    return retriever, close
