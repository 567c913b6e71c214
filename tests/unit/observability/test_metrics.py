"""The figures a stage run pushes, read back in Prometheus's text format."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from pipeline_factory.observability import metrics


def _samples(registry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = generate_latest(registry).decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_a_collect_stage_reports_requests_429s_retries_limiter_and_breaker():
    with metrics.collecting("graphrag_incremental", "collect_papers", "collect_pubmed") as figures:
        metrics.record_client("ncbi-eutils", {
            "client": {"requests": 12, "retries": 3, "rate_limited": 2, "server_errors": 1},
            "rate_limiter": {"name": "ncbi", "waited": 5, "wait_seconds": 1.5},
            "circuit_breaker": {"name": "ncbi-eutils", "state": "open", "rejected": 4,
                                "transitions": ["closed->open"], "opened_at": "2026-01-01T00:00:00+00:00"},
        })
    assert metrics.current() is None
    samples = _samples(metrics.stage_registry(figures, outcome="success", seconds=2.0,
                                              result={"papers_collected": 7, "requests": 12}))
    assert samples[("pipeline_api_requests_total", (("api", "ncbi-eutils"),))] == 12
    assert samples[("pipeline_api_rate_limited_total", (("api", "ncbi-eutils"),))] == 2
    assert samples[("pipeline_api_retries_total", (("api", "ncbi-eutils"),))] == 3
    assert samples[("pipeline_rate_limiter_wait_seconds_total", (("limiter", "ncbi"),))] == 1.5
    assert samples[("pipeline_breaker_state_changes_total", (("breaker", "ncbi-eutils"), ("to", "open")))] == 1
    assert samples[("pipeline_breaker_open", (("breaker", "ncbi-eutils"),))] == 1
    assert samples[("pipeline_breaker_open_since_timestamp_seconds", (("breaker", "ncbi-eutils"),))] == 1767225600
    assert samples[("pipeline_stage_items", (("kind", "papers_collected"),))] == 7
    assert samples[("pipeline_stage_outcome", (("outcome", "success"),))] == 1
    assert not any(name.endswith("_created") for name, _ in samples)


def test_promotion_and_training_figures():
    figures = metrics.StageMetrics("model_training", "promote", "promote")
    samples = _samples(metrics.stage_registry(figures, outcome="success", seconds=1.0, result={
        "kind": "ml.promote", "outcome": "champion", "candidate_value": 0.95, "champion_value": 0.9,
        "rule": {"metric": "macro_f1"}}))
    assert samples[("pipeline_promotion_candidate_value", (("metric", "macro_f1"), ("outcome", "champion")))] == 0.95
    train = _samples(metrics.stage_registry(metrics.StageMetrics("m", "train", "train"), outcome="success",
                                            seconds=42.0))
    assert train[("pipeline_training_duration_seconds", ())] == 42.0


def test_nothing_is_pushed_without_a_gateway(monkeypatch):
    monkeypatch.delenv(metrics.PUSHGATEWAY_ENV, raising=False)
    assert metrics.push_stage(metrics.StageMetrics("p", "s"), outcome="success", seconds=1.0) is False


def test_an_unreachable_gateway_never_fails_the_stage(monkeypatch):
    monkeypatch.setenv(metrics.PUSHGATEWAY_ENV, "http://127.0.0.1:9")
    assert metrics.push_stage(metrics.StageMetrics("p", "s"), outcome="success", seconds=1.0) is False


@given(st.lists(st.sampled_from(["success", "failed"]), max_size=50), st.integers(min_value=1, max_value=60))
def test_the_failure_ratio_of_any_history_is_a_share_of_the_window(states, window):
    ratio = metrics.failure_ratio(states, window)
    assert 0.0 <= ratio <= 1.0
    recent = states[:window]
    assert ratio * len(recent) == pytest.approx(sum(s == "failed" for s in recent))


def test_the_eutils_client_reports_into_the_running_stage_when_closed():
    """The real client (over httpx.MockTransport): a 429 and a 503 before the answer."""
    from pathlib import Path

    import httpx

    from pipeline_factory.resilience.policy import Policy
    from pipeline_factory.sources.eutils import SERVICE, EutilsClient
    from pipeline_factory.sources.ncbi_settings import NcbiSettings

    fixtures = Path(__file__).resolve().parents[2] / "fixtures" / "ncbi"
    answers = [
        httpx.Response(429, json={"error": "API rate limit exceeded"}, headers={"Retry-After": "0.01"}),
        httpx.Response(503, text="busy"),
        httpx.Response(200, content=(fixtures / "esearch1.xml").read_bytes()),
    ]
    client = EutilsClient(
        NcbiSettings(base_url="http://ncbi.test/eutils", tool="t", email="me@example.org"),
        Policy(name="t", max_attempts=3, backoff_initial_seconds=0.01, backoff_max_seconds=0.05),
        http=httpx.Client(transport=httpx.MockTransport(lambda r: answers.pop(0))))
    with metrics.collecting("graphrag_incremental", "collect_pubmed", "collect_pubmed") as figures:
        client.esearch("pubmed", "biopython")
        client.close()
    assert figures.api[SERVICE]["rate_limited"] == 1
    assert figures.api[SERVICE]["retries"] == 2
    assert figures.api[SERVICE]["server_errors"] == 1
    assert figures.api[SERVICE]["requests"] >= 1
