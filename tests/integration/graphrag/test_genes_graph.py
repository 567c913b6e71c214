"""Gene nodes in Neo4j: one node per NCBI Gene id, aliases on it, symbols looked up within an organism."""

from __future__ import annotations

import pytest

from pipeline_factory.devservers import eutils_corpus as corpus
from pipeline_factory.sources.genes import gene_record
from pipeline_factory.stages.graphrag import graph_model

pytestmark = pytest.mark.integration


def paper(pmid: str, gene_ids: list[str]) -> dict:
    return {"pmid": pmid, "title": f"paper {pmid}", "journal": {"id": "j"}, "gene_ids": gene_ids}


def test_papers_link_to_genes_by_id_and_aliases_name_one_node(graph):
    graph_model.ensure_schema(graph)
    genes = [gene_record(g, corpus.gene_summary(g)) for g in ("7157", "22059", "1956", "13649")]
    graph_model.write_genes(graph, genes, batch_size=10)
    graph_model.write_genes(graph, genes[:1], batch_size=10)  # written again: still one node
    graph_model.write_papers(graph, [paper("1", ["7157"]), paper("2", ["22059"]), paper("3", ["7157"])], 10)

    assert graph.read("MATCH (g:Gene) RETURN count(g) AS c")[0]["c"] == 4
    human = graph.read("MATCH (g:Gene {gene_id: '7157'}) RETURN g.symbol AS s, g.synonyms AS syn, g.organism AS o")
    assert human == [{"s": "TP53", "syn": ["BCC7", "BMFS5", "LFS1", "P53", "TRP53"], "o": "Homo sapiens"}]
    for name in ("TP53", "p53", "LFS1", "trp53"):
        assert [g["gene_id"] for g in graph_model.find_genes(graph, name, "Homo sapiens")] == ["7157"]
    assert [g["gene_id"] for g in graph_model.find_genes(graph, "TRP53", "Mus musculus")] == ["22059"]
    assert [g["gene_id"] for g in graph_model.find_genes(graph, "EGFR", "10090")] == ["13649"]
    # Without an organism the symbol is ambiguous: the official-symbol match comes first.
    assert [g["gene_id"] for g in graph_model.find_genes(graph, "Trp53")] == ["22059", "7157"]

    linked = graph.read(
        "MATCH (p:Paper)-[:MENTIONS]->(g:Gene) RETURN p.pmid AS pmid, g.gene_id AS gene ORDER BY pmid"
    )
    assert linked == [{"pmid": "1", "gene": "7157"}, {"pmid": "2", "gene": "22059"}, {"pmid": "3", "gene": "7157"}]
