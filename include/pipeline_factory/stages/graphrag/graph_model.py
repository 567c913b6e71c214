"""The GraphRAG graph in Neo4j: constraints and the idempotent batched writes.

::

    (:Author)-[:AUTHORED]->(:Paper)-[:PUBLISHED_IN]->(:Journal)
                           (:Paper)-[:HAS_MESH]->(:MeshTerm)
                           (:Paper)-[:MENTIONS]->(:Gene)

Every write is ``UNWIND $rows ... MERGE`` under a uniqueness constraint, so
running the same batch twice (a retry after a crash) adds nothing.  A paper's
relationships are replaced, not accumulated, when the paper is written again.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pipeline_factory.stores.graph import GraphStore

LABELS = ("Paper", "Author", "Journal", "MeshTerm", "Gene")

#: Relationship patterns, anchored on our labels: other pipelines may share the
#: database and use the same relationship types (the documents graph has MENTIONS).
RELATIONSHIPS = {
    "AUTHORED": "(:Author)-[r:AUTHORED]->(:Paper)",
    "PUBLISHED_IN": "(:Paper)-[r:PUBLISHED_IN]->(:Journal)",
    "HAS_MESH": "(:Paper)-[r:HAS_MESH]->(:MeshTerm)",
    "MENTIONS": "(:Paper)-[r:MENTIONS]->(:Gene)",
}

CONSTRAINTS = (
    "CREATE CONSTRAINT graphrag_paper IF NOT EXISTS FOR (n:Paper) REQUIRE n.pmid IS UNIQUE",
    "CREATE CONSTRAINT graphrag_author IF NOT EXISTS FOR (n:Author) REQUIRE n.name IS UNIQUE",
    "CREATE CONSTRAINT graphrag_journal IF NOT EXISTS FOR (n:Journal) REQUIRE n.id IS UNIQUE",
    "CREATE CONSTRAINT graphrag_mesh IF NOT EXISTS FOR (n:MeshTerm) REQUIRE n.ui IS UNIQUE",
    "CREATE CONSTRAINT graphrag_gene IF NOT EXISTS FOR (n:Gene) REQUIRE n.gene_id IS UNIQUE",
)

WRITE_GENES = """
UNWIND $rows AS row
MERGE (g:Gene {gene_id: row.gene_id})
SET g.symbol = row.symbol, g.description = row.description, g.organism = row.organism,
    g.taxid = row.taxid, g.chromosome = row.chromosome, g.synonyms = row.synonyms, g.names = row.names
"""

WRITE_PAPERS = """
UNWIND $rows AS row
MERGE (p:Paper {pmid: row.pmid})
SET p.title = row.title, p.abstract = row.abstract, p.year = row.year, p.date = row.date,
    p.date_precision = row.date_precision, p.date_original = row.date_original,
    p.title_markup = row.title_markup, p.abstract_markup = row.abstract_markup,
    p.doi = row.doi, p.terms = row.terms
WITH p, row
OPTIONAL MATCH (p)-[old:AUTHORED|PUBLISHED_IN|HAS_MESH|MENTIONS]-()
DELETE old
WITH DISTINCT p, row
MERGE (j:Journal {id: row.journal_id})
SET j.title = row.journal_title
MERGE (p)-[:PUBLISHED_IN]->(j)
FOREACH (name IN row.authors | MERGE (a:Author {name: name}) MERGE (a)-[:AUTHORED]->(p))
FOREACH (m IN row.mesh | MERGE (t:MeshTerm {ui: m.ui}) SET t.name = m.name
    MERGE (p)-[h:HAS_MESH]->(t) SET h.major = coalesce(m.major, false))
WITH p, row
UNWIND row.gene_ids AS gene_id
MATCH (g:Gene {gene_id: gene_id})
MERGE (p)-[:MENTIONS]->(g)
"""

DELETE_PAPERS = "UNWIND $rows AS row MATCH (p:Paper {pmid: row.pmid}) DETACH DELETE p"
DELETE_GENES = "UNWIND $rows AS row MATCH (g:Gene {gene_id: row.gene_id}) DETACH DELETE g"
DELETE_ORPHANS = """
MATCH (n) WHERE (n:Author OR n:Journal OR n:MeshTerm) AND NOT (n)--()
DETACH DELETE n
"""
DELETE_ALL_BATCH = """
MATCH (n) WHERE n:Paper OR n:Author OR n:Journal OR n:MeshTerm OR n:Gene
WITH n LIMIT $limit
DETACH DELETE n
RETURN count(*) AS deleted
"""


def paper_row(paper: Mapping[str, Any]) -> dict[str, Any]:
    journal = paper.get("journal") or {}
    journal_id = journal.get("id") or journal.get("title") or "unknown"
    return {
        "pmid": paper["pmid"],
        "title": paper.get("title") or "",
        "abstract": paper.get("abstract") or "",
        "year": paper.get("year"),
        "date": paper.get("date"),
        "date_precision": paper.get("date_precision"),
        "date_original": paper.get("date_original"),
        "title_markup": paper.get("title_markup"),
        "abstract_markup": paper.get("abstract_markup"),
        "doi": paper.get("doi"),
        "terms": list(paper.get("terms") or []),
        "journal_id": journal_id,
        "journal_title": journal.get("title") or "",
        "authors": sorted(set(paper.get("authors") or [])),
        "mesh": list({m["ui"]: m for m in paper.get("mesh") or []}.values()),
        "gene_ids": list(paper.get("gene_ids") or []),
    }


def ensure_schema(store: GraphStore) -> None:
    store.ensure_constraints(CONSTRAINTS)


def gene_row(gene: Mapping[str, Any]) -> dict[str, Any]:
    """One Gene node: keyed by the NCBI Gene id; every alias lives on that one node (``names``)."""
    from pipeline_factory.sources.genes import gene_names

    row = {k: gene.get(k) for k in ("gene_id", "symbol", "description", "organism", "taxid", "chromosome")}
    symbol = (gene.get("symbol") or "").lower()
    synonyms = gene.get("synonyms")
    if synonyms is None:  # snapshots written before synonyms were kept
        synonyms = [a for a in gene.get("aliases") or [] if a.lower() != symbol]
    row["synonyms"] = list(synonyms)
    row["names"] = gene_names({**gene, "synonyms": row["synonyms"]})
    return row


def write_genes(store: GraphStore, genes: Iterable[Mapping[str, Any]], batch_size: int) -> int:
    rows = [gene_row(g) for g in genes]
    return store.write_rows(WRITE_GENES, rows, batch_size=batch_size)


def write_papers(store: GraphStore, papers: Iterable[Mapping[str, Any]], batch_size: int) -> int:
    """Genes first (papers MATCH them), then papers with all their relationships."""
    rows = [paper_row(p) for p in papers]
    return store.write_rows(WRITE_PAPERS, rows, batch_size=batch_size)


def delete_papers(store: GraphStore, pmids: Iterable[str], batch_size: int = 1000) -> int:
    return store.write_rows(DELETE_PAPERS, [{"pmid": p} for p in pmids], batch_size=batch_size)


def delete_genes(store: GraphStore, gene_ids: Iterable[str], batch_size: int = 1000) -> int:
    return store.write_rows(DELETE_GENES, [{"gene_id": g} for g in gene_ids], batch_size=batch_size)


def delete_orphans(store: GraphStore) -> None:
    store.write(DELETE_ORPHANS)


def delete_everything(store: GraphStore, batch: int = 5000) -> int:
    """Remove the GraphRAG graph in bounded transactions (a big graph would not fit one)."""
    total = 0
    while True:
        deleted = store.read_write(DELETE_ALL_BATCH, limit=batch)[0]["deleted"]
        total += deleted
        if deleted == 0:
            return total


def counts(store: GraphStore) -> dict[str, int]:
    out = {}
    for label in LABELS:
        out[label] = store.read(f"MATCH (n:{label}) RETURN count(n) AS c")[0]["c"]
    for rel, pattern in RELATIONSHIPS.items():
        out[rel] = store.read(f"MATCH {pattern} RETURN count(r) AS c")[0]["c"]
    return out


def paper_ids(store: GraphStore) -> set[str]:
    return {r["pmid"] for r in store.read("MATCH (p:Paper) RETURN p.pmid AS pmid")}


FIND_GENES = """
MATCH (g:Gene) WHERE $name IN g.names AND ($organism IS NULL OR toLower(g.organism) = toLower($organism)
                                         OR toString(g.taxid) = $organism)
RETURN g.gene_id AS gene_id, g.symbol AS symbol, g.organism AS organism, g.synonyms AS synonyms
ORDER BY CASE WHEN toLower(g.symbol) = $name THEN 0 ELSE 1 END, g.gene_id
"""


def find_genes(store: GraphStore, name: str, organism: str | None = None) -> list[dict[str, Any]]:
    """Gene nodes a name (symbol or synonym, any case) denotes, official-symbol matches first."""
    return store.read(FIND_GENES, name=name.strip().lower(), organism=organism)


def gene_ids(store: GraphStore) -> set[str]:
    return {r["gene_id"] for r in store.read("MATCH (g:Gene) RETURN g.gene_id AS gene_id")}
