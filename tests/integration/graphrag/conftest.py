"""The E-utilities stand-in, a clean data dir and a clean graph for each GraphRAG test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pipeline_factory.devservers.eutils import EutilsServer
from pipeline_factory.resilience.policy import CircuitBreakerPolicy, Policy


@pytest.fixture
def eutils(monkeypatch: pytest.MonkeyPatch) -> Iterator[EutilsServer]:
    """A stand-in enforcing NCBI's 3 requests/s, with the client pointed at it."""
    with EutilsServer(papers_per_term=400) as server:
        monkeypatch.setenv("NCBI_EUTILS_URL", server.url)
        monkeypatch.setenv("NCBI_EMAIL", "tests@example.org")
        monkeypatch.delenv("NCBI_API_KEY", raising=False)
        monkeypatch.delenv("NCBI_RATE_LIMIT_PER_SECOND", raising=False)
        monkeypatch.delenv("PIPELINE_REDIS_URL", raising=False)
        yield server


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private data dir: snapshot, watermarks, reports, limiter schedule, breaker table, local Qdrant."""
    path = tmp_path / "data"
    path.mkdir()
    monkeypatch.setenv("PIPELINE_DATA_DIR", str(path))
    monkeypatch.delenv("PIPELINE_LEDGER_URL", raising=False)
    monkeypatch.delenv("QDRANT_URL", raising=False)
    return path


@pytest.fixture
def graph(neo4j_server: Any) -> Any:
    """The session's Neo4j, emptied before the test."""
    neo4j_server.write("MATCH (n) DETACH DELETE n")
    return neo4j_server


@pytest.fixture
def fast_policy() -> Policy:
    """polite-api's shape with short waits, so retry tests take seconds."""
    return Policy(
        name="polite-api-fast",
        max_attempts=5,
        backoff_strategy="exponential",
        backoff_initial_seconds=0.05,
        backoff_max_seconds=1.5,
        backoff_jitter_seconds=0.05,
        timeout_seconds=5,
        circuit_breaker=CircuitBreakerPolicy(failure_threshold=5, reset_timeout_seconds=2, success_threshold=3),
        rate_limit_per_second=3,
    )


def stage_context(pipeline: str, stage: str, run_id: str, data_dir: Path, **kwargs: Any):
    from pipeline_factory.stages.contracts import StageContext
    from pipeline_factory.workspace import run_dir

    return StageContext(
        pipeline=pipeline,
        stage=stage,
        run_id=run_id,
        run_dir=run_dir(pipeline, run_id, data_dir),
        data_dir=data_dir,
        **kwargs,
    )


@pytest.fixture
def make_ctx(data_dir: Path):
    def make(stage: str, run_id: str = "manual__test", pipeline: str = "graphrag_incremental", **kwargs: Any):
        return stage_context(pipeline, stage, run_id, data_dir, **kwargs)

    return make

