"""The Pipelines view reads breaker state from a real Redis, where deployments keep it."""

from __future__ import annotations

import pytest

from pipeline_factory.exceptions import CircuitOpenError, TransientServiceError
from pipeline_factory.resilience.breaker import shared_breaker
from pipeline_factory.resilience.policy import CircuitBreakerPolicy
from pipeline_factory.ui import overview

pytestmark = pytest.mark.integration


def _unavailable() -> None:
    raise TransientServiceError("503 from the stand-in", status=503)


def test_breakers_section_lists_every_shared_breaker_in_redis(redis_url: str) -> None:
    policy = CircuitBreakerPolicy(failure_threshold=2, reset_timeout_seconds=60, success_threshold=1)
    tripped = shared_breaker("ncbi_eutils", policy, redis_url=redis_url)
    for _ in range(2):
        with pytest.raises(TransientServiceError):
            tripped.call(_unavailable)
    with pytest.raises(CircuitOpenError):
        tripped.call(_unavailable)
    shared_breaker("pdf_hosts", policy, redis_url=redis_url).call(lambda: "ok")

    data = overview.breakers_overview(redis_url=redis_url)

    assert data["store"] == "redis"
    by_name = {b["name"]: b for b in data["breakers"]}
    assert set(by_name) == {"ncbi_eutils", "pdf_hosts"}
    assert by_name["ncbi_eutils"]["state"] == "open" and by_name["ncbi_eutils"]["opened_at"]
    assert by_name["pdf_hosts"]["state"] == "closed" and by_name["pdf_hosts"]["fail_counter"] == 0
