"""Genes by NCBI Gene id: a symbol is resolved within an organism, and aliases name one gene.

Runs against the E-utilities stand-in over real HTTP (its gene records carry
NCBI's own aliases for TP53/Trp53, EGFR/Egfr, ...).
"""

from __future__ import annotations

import pytest

from pipeline_factory.devservers import eutils_corpus as corpus
from pipeline_factory.devservers.eutils import EutilsServer
from pipeline_factory.resilience.policy import Policy
from pipeline_factory.sources.eutils import EutilsClient
from pipeline_factory.sources.genes import gene_names, gene_record, resolve_symbol, resolve_symbols
from pipeline_factory.sources.ncbi_settings import NcbiSettings
from pipeline_factory.stages.graphrag.graph_model import gene_row


@pytest.fixture(scope="module")
def client():
    with EutilsServer(papers_per_term=10, enforce_rate_limit=False) as server:
        settings = NcbiSettings(base_url=server.url, email="tests@example.org")
        client = EutilsClient(settings, Policy(name="default"))
        try:
            yield client
        finally:
            client.close()


@pytest.mark.parametrize(
    ("symbol", "organism", "gene_id"),
    [
        ("TRP53", "Homo sapiens", "7157"),  # an alias of human TP53 ...
        ("Trp53", "Mus musculus", "22059"),  # ... and the official symbol of the mouse gene
        ("p53", "Homo sapiens", "7157"),
        ("p53", "Mus musculus", "22059"),
        ("EGFR", "Homo sapiens", "1956"),
        ("EGFR", "Mus musculus", "13649"),
        ("HER2", "Homo sapiens", "2064"),  # alias -> official ERBB2
        ("PD-L1", "Homo sapiens", "29126"),
    ],
)
def test_a_symbol_resolves_to_the_gene_it_means_in_that_organism(client, symbol, organism, gene_id):
    gene = resolve_symbol(client, symbol, organism)
    assert gene is not None and gene["gene_id"] == gene_id and gene["organism"] == organism


def test_unknown_symbols_and_organisms_resolve_to_nothing(client):
    assert resolve_symbol(client, "NOSUCHGENE", "Homo sapiens") is None
    assert resolve_symbol(client, "HER2", "Mus musculus") is None  # no mouse gene goes by HER2 here
    both = resolve_symbols(client, ["p53", " p53 ", ""], ["Homo sapiens", "Mus musculus"])
    assert {k: g["gene_id"] for k, g in both.items()} == {
        ("p53", "Homo sapiens"): "7157",
        ("p53", "Mus musculus"): "22059",
    }


def test_gene_record_keeps_symbol_synonyms_and_organism():
    human = gene_record("7157", corpus.gene_summary("7157"))
    assert (human["symbol"], human["organism"], human["taxid"]) == ("TP53", "Homo sapiens", 9606)
    assert human["synonyms"] == ["BCC7", "BMFS5", "LFS1", "P53", "TRP53"]
    mouse = gene_record("22059", corpus.gene_summary("22059"))
    assert mouse["synonyms"] == ["Tp53", "bbl", "bfy", "bhy", "p44", "p53"]
    shouting = gene_record("22059", {**corpus.gene_summary("22059"), "otheraliases": "TRP53, p53"})
    assert shouting["synonyms"] == ["p53"]  # the symbol itself, in another case, is not a synonym
    assert gene_names(mouse)[0] == "trp53" and "p53" in gene_names(mouse)
    row = gene_row(human)  # one node per gene id, every alias on it
    assert row["gene_id"] == "7157" and set(row["names"]) == {"tp53", "bcc7", "bmfs5", "lfs1", "p53", "trp53"}
