"""The E-utilities stand-in answers like NCBI: history server, windows, 429s, faults on demand."""

from __future__ import annotations

import httpx
import pytest
from lxml import etree

from pipeline_factory.devservers.eutils import EutilsServer


@pytest.fixture
def server():
    with EutilsServer(papers_per_term=50, enforce_rate_limit=False) as running:
        yield running


def test_search_window_history_and_fetch(server):
    base = server.url
    everything = etree.fromstring(httpx.get(f"{base}/esearch.fcgi", params={"db": "pubmed", "term": "x"}).content)
    assert everything.findtext("Count") == "50" and len(everything.findall("IdList/Id")) == 20
    windowed = etree.fromstring(httpx.get(f"{base}/esearch.fcgi", params={
        "db": "pubmed", "term": "x", "usehistory": "y", "retmax": 500,
        "mindate": "2020/01/01", "maxdate": "2022/12/31", "datetype": "pdat",
    }).content)
    count = int(windowed.findtext("Count"))
    assert 0 < count < 50 and windowed.findtext("QueryKey") == "1"
    fetched = etree.fromstring(httpx.post(f"{base}/efetch.fcgi", data={
        "db": "pubmed", "WebEnv": windowed.findtext("WebEnv"), "query_key": "1", "retstart": 0, "retmax": 500,
    }).content)
    years = [int(y) for y in fetched.xpath("//Article/Journal/JournalIssue/PubDate/Year/text()")]
    assert len(years) == count and all(2020 <= y <= 2022 for y in years)


def test_rate_limit_answer_is_ncbis(server):
    httpx.post(f"{server.url.split('/entrez')[0]}/_control/config", json={"enforce_rate_limit": True, "rate": 2})
    answers = [httpx.get(f"{server.url}/esearch.fcgi", params={"db": "pubmed", "term": "y"}) for _ in range(8)]
    limited = [a for a in answers if a.status_code == 429]
    assert limited and limited[0].json()["error"] == "API rate limit exceeded"
    assert limited[0].headers["Retry-After"] == "1"
    assert server.state.stats()["counters"]["rate_limited"] == len(limited)


def test_faults_through_the_control_endpoint(server):
    root = server.url.split("/entrez")[0]
    httpx.post(f"{root}/_control/faults", json=[{"kind": "status", "status": 502, "count": 2}, {"kind": "truncate"}])
    statuses = [httpx.get(f"{server.url}/esearch.fcgi", params={"db": "gene", "term": "TP53[sym]"}).status_code
                for _ in range(2)]
    assert statuses == [502, 502]
    with pytest.raises(httpx.RemoteProtocolError):  # half the body, then the connection closes
        httpx.get(f"{server.url}/esearch.fcgi", params={"db": "gene", "term": "TP53[sym]"})
    genes = etree.fromstring(httpx.get(f"{server.url}/esearch.fcgi", params={
        "db": "gene", "term": 'TP53[sym] AND "Homo sapiens"[orgn]'}).content)
    assert [e.text for e in genes.findall("IdList/Id")] == ["7157"]
    assert httpx.get(f"{root}/_control/stats").json()["pending_faults"] == []


def test_gene_ids_by_symbol_with_organism_filter(server):
    from pipeline_factory.resilience.policy import Policy
    from pipeline_factory.sources.eutils import EutilsClient
    from pipeline_factory.sources.genes import search_gene_ids, summarise_genes
    from pipeline_factory.sources.ncbi_settings import NcbiSettings

    client = EutilsClient(NcbiSettings(base_url=server.url), Policy(name="t"))
    assert search_gene_ids(client, ["TP53", "Trp53", "EGFR"], ["Homo sapiens"]) == ["7157", "1956"]
    assert sorted(search_gene_ids(client, ["TP53", "Trp53"], [])) == ["22059", "7157"]
    genes = summarise_genes(client, ["7157", "22059", "12189"], organisms=["Mus musculus"], batch_size=2)
    assert sorted(g["symbol"] for g in genes) == ["Brca1", "Trp53"]
