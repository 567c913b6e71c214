"""With PIPELINE_REDIS_URL set, breaker state and the rate-limit schedule live in a real Redis."""

from __future__ import annotations

import itertools
import threading
import time

import pytest

from pipeline_factory.exceptions import CircuitOpenError, TransientServiceError
from pipeline_factory.resilience.breaker import shared_breaker
from pipeline_factory.resilience.policy import CircuitBreakerPolicy
from pipeline_factory.resilience.ratelimit import shared_rate_limiter

pytestmark = pytest.mark.integration


def _fail():
    raise TransientServiceError("503", status=503)


def test_breaker_state_is_shared_through_redis(redis_url: str):
    policy = CircuitBreakerPolicy(failure_threshold=5, reset_timeout_seconds=1.5, success_threshold=3)
    first = shared_breaker("redis-api", policy, redis_url=redis_url)
    other = shared_breaker("redis-api", policy, redis_url=redis_url)
    for _ in range(5):
        with pytest.raises(TransientServiceError):
            first.call(_fail)
    assert other.state == "open"
    with pytest.raises(CircuitOpenError):
        other.call(lambda: "never")
    time.sleep(1.7)
    for breaker in (other, first, other):
        breaker.call(lambda: "ok")
    assert first.state == "closed" and other.state == "closed"


def test_rate_limit_schedule_is_shared_through_redis(redis_url: str):
    limiters = [shared_rate_limiter("redis-api", 20.0, redis_url=redis_url) for _ in range(3)]
    slots: list[float] = []
    lock = threading.Lock()

    def work(limiter) -> None:
        for _ in range(6):
            limiter.acquire()
            with lock:
                slots.append(limiter.stats.last_slot)

    threads = [threading.Thread(target=work, args=(limiter,)) for limiter in limiters]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    slots.sort()
    assert len(slots) == 18
    assert min(b - a for a, b in itertools.pairwise(slots)) >= 1 / 20.0
