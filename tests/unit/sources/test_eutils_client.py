"""The E-utilities client's requests and error handling, over httpx.MockTransport."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs

import httpx
import pytest

from pipeline_factory.exceptions import ExternalServiceError, TransientServiceError
from pipeline_factory.resilience.policy import Policy
from pipeline_factory.sources.eutils import EutilsClient
from pipeline_factory.sources.ncbi_settings import NcbiSettings, load_ncbi_settings

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "ncbi"
POLICY = Policy(name="t", max_attempts=3, backoff_initial_seconds=0.01, backoff_max_seconds=0.05)
SETTINGS = NcbiSettings(base_url="http://ncbi.test/eutils", tool="pf-tests", email="me@example.org", api_key="K")


def client_for(handler) -> EutilsClient:
    http = httpx.Client(transport=httpx.MockTransport(handler))
    return EutilsClient(SETTINGS, POLICY, http=http)


def test_esearch_uses_the_history_server_and_sends_identity():
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=(FIXTURES / "esearch2.xml").read_bytes())

    result = client_for(handler).esearch(
        "pubmed", "cancer", retmax=100, usehistory=True, mindate="2025/01/01", maxdate="2025/12/31"
    )
    assert result.count == 42249 and len(result.ids) == 100
    assert result.webenv == "MCID_6927d6e7fee3e90f880ec190" and result.query_key == "1"
    params = dict(seen[0].url.params)
    assert params["usehistory"] == "y" and params["datetype"] == "pdat"
    assert (params["mindate"], params["maxdate"]) == ("2025/01/01", "2025/12/31")
    assert (params["tool"], params["email"], params["api_key"]) == ("pf-tests", "me@example.org", "K")


def test_zero_hits():
    result = client_for(lambda r: httpx.Response(200, content=(FIXTURES / "esearch8.xml").read_bytes())).esearch(
        "pubmed", "nothing"
    )
    assert result.count == 0 and result.ids == []


def test_long_id_lists_are_posted():
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=(FIXTURES / "pubmed2.xml").read_bytes())

    client = client_for(handler)
    client.efetch_xml("pubmed", ids=[str(i) for i in range(5)])
    client.efetch_xml("pubmed", ids=[str(i) for i in range(500)])
    assert [r.method for r in seen] == ["GET", "POST"]
    form = parse_qs(seen[1].content.decode())
    assert len(form["id"][0].split(",")) == 500 and form["db"] == ["pubmed"]


def test_elink_keeps_link_sets_apart():
    body = (FIXTURES / "elink1.xml").read_bytes()
    links = client_for(lambda r: httpx.Response(200, content=body)).elink("pubmed", "pubmed", ["9298984"])
    assert links["9298984"][:3] == ["9298984", "8794856", "9700164"]


def test_429_is_retried_after_the_servers_delay_then_succeeds():
    answers = [
        httpx.Response(429, json={"error": "API rate limit exceeded", "count": "4"}, headers={"Retry-After": "0.01"}),
        httpx.Response(503, text="busy"),
        httpx.Response(200, content=(FIXTURES / "esearch1.xml").read_bytes()),
    ]
    client = client_for(lambda r: answers.pop(0))
    assert client.esearch("pubmed", "biopython").count == 63
    assert client.stats.retry.as_dict() | {"sleep_seconds": 0} == {
        "retries": 2, "rate_limited": 1, "server_errors": 1, "sleep_seconds": 0
    }


def test_client_errors_are_not_retried_and_persistent_failures_reraise():
    calls = []

    def bad_request(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(400, text="bad term")

    with pytest.raises(ExternalServiceError) as info:
        client_for(bad_request).esearch("pubmed", "x")
    assert info.value.status == 400 and len(calls) == 1

    with pytest.raises(TransientServiceError):
        client_for(lambda r: httpx.Response(502)).esearch("pubmed", "x")


def test_settings_from_environment(monkeypatch):
    monkeypatch.setenv("NCBI_EUTILS_URL", "http://localhost:8765/entrez/eutils/")
    monkeypatch.setenv("NCBI_EMAIL", "a@b.org")
    monkeypatch.setenv("NCBI_API_KEY", "secret")
    settings = load_ncbi_settings()
    assert settings.base_url == "http://localhost:8765/entrez/eutils"
    assert settings.allowed_rate == 10.0
    assert settings.describe()["api_key"] is True and "secret" not in str(settings.describe())
    monkeypatch.delenv("NCBI_API_KEY")
    assert load_ncbi_settings().allowed_rate == 3.0


def test_settings_from_the_airflow_connection(monkeypatch):
    monkeypatch.delenv("NCBI_EUTILS_URL", raising=False)
    monkeypatch.delenv("NCBI_EMAIL", raising=False)
    monkeypatch.delenv("NCBI_API_KEY", raising=False)
    monkeypatch.setenv(
        "AIRFLOW_CONN_NCBI_DEFAULT", "generic://me%40example.org:the-key@eutils.example.test/entrez/eutils?tool=t1"
    )
    settings = load_ncbi_settings()
    assert settings == NcbiSettings(
        base_url="https://eutils.example.test/entrez/eutils", tool="t1", email="me@example.org", api_key="the-key"
    )
