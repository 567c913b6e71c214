"""Retries, the shared circuit breaker and the shared rate limiter, built from a Policy."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import tenacity

from pipeline_factory.exceptions import CircuitOpenError, ExternalServiceError, TransientServiceError
from pipeline_factory.resilience.breaker import SharedBreaker, SQLBreakerStorage
from pipeline_factory.resilience.policy import CircuitBreakerPolicy, Policy
from pipeline_factory.resilience.ratelimit import FileSlotSchedule, RateLimiter
from pipeline_factory.resilience.retry import PolicyWait, RetryStats, call_with_retry

POLICY = Policy(
    name="polite-api",
    max_attempts=5,
    backoff_initial_seconds=1,
    backoff_max_seconds=30,
    backoff_jitter_seconds=1,
    circuit_breaker=CircuitBreakerPolicy(failure_threshold=5, reset_timeout_seconds=1.5, success_threshold=3),
)


def _state(attempt: int, exc: BaseException) -> tenacity.RetryCallState:
    state = tenacity.RetryCallState(retry_object=tenacity.Retrying(), fn=None, args=(), kwargs={})
    state.attempt_number = attempt
    state.set_exception((type(exc), exc, None))
    return state


def test_wait_is_exponential_with_jitter_and_obeys_retry_after():
    wait = PolicyWait(POLICY)
    for attempt, base in [(1, 1), (2, 2), (3, 4), (4, 8), (6, 30)]:
        delay = wait(_state(attempt, TransientServiceError("x", status=503)))
        assert base <= delay <= base + 1
    assert wait(_state(1, TransientServiceError("x", status=429, retry_after=7))) == 7
    assert wait(_state(1, TransientServiceError("x", status=429, retry_after=900))) == 30


def test_only_transient_errors_are_retried_and_the_last_error_is_raised():
    fast = POLICY.model_copy(update={"backoff_initial_seconds": 0, "backoff_jitter_seconds": 0})
    calls = []

    def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise TransientServiceError("busy", status=503)
        return "ok"

    stats = RetryStats()
    assert call_with_retry(fast, flaky, stats=stats) == "ok" and stats.retries == 2 and stats.server_errors == 2

    def broken():
        raise ExternalServiceError("bad request", status=400)

    with pytest.raises(ExternalServiceError, match="bad request"):
        call_with_retry(fast, broken)

    attempts = []

    def down():
        attempts.append(1)
        raise TransientServiceError("down", status=502)

    with pytest.raises(TransientServiceError, match="down"):
        call_with_retry(fast, down)
    assert len(attempts) == 5


def _fail():
    raise TransientServiceError("503", status=503)


def test_breaker_opens_after_five_failures_and_every_instance_sees_it(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    first = SharedBreaker("api", POLICY.circuit_breaker, SQLBreakerStorage("api", url))
    other = SharedBreaker("api", POLICY.circuit_breaker, SQLBreakerStorage("api", url))
    for _ in range(4):
        with pytest.raises(TransientServiceError):
            first.call(_fail)
    assert first.state == "closed" and other.fail_counter == 4
    with pytest.raises(TransientServiceError):
        first.call(_fail)
    assert other.state == "open"
    called = []
    with pytest.raises(CircuitOpenError):
        other.call(lambda: called.append(1))
    assert called == []

    time.sleep(1.7)
    other.call(lambda: "ok")
    assert first.state == "half-open"
    first.call(lambda: "ok")
    assert other.state == "half-open"
    other.call(lambda: "ok")
    assert first.state == "closed"


def test_a_failed_trial_call_reopens_and_429_never_counts(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    breaker = SharedBreaker("api", POLICY.circuit_breaker, SQLBreakerStorage("api", url))

    def rate_limited():
        raise TransientServiceError("429", status=429, retry_after=1)

    for _ in range(10):
        with pytest.raises(TransientServiceError):
            breaker.call(rate_limited)
    assert breaker.state == "closed" and breaker.fail_counter == 0

    for _ in range(5):
        with pytest.raises(TransientServiceError):
            breaker.call(_fail)
    time.sleep(1.7)
    with pytest.raises(TransientServiceError):
        breaker.call(_fail)  # the half-open trial fails
    assert breaker.state == "open"
    assert breaker.as_dict()["transitions"][-2:] == ["open->half-open", "half-open->open"]


_ACQUIRE = """
import sys, time
from pathlib import Path
from pipeline_factory.resilience.ratelimit import FileSlotSchedule, RateLimiter
limiter = RateLimiter("t", float(sys.argv[2]), FileSlotSchedule(Path(sys.argv[1])))
time.sleep(max(0.0, float(sys.argv[4]) - time.time()))  # start together, whatever the start-up time
for _ in range(int(sys.argv[3])):
    limiter.acquire()
    print(repr(limiter.stats.last_slot), flush=True)  # the start this process was given
"""


def test_rate_limit_holds_for_several_processes_together(tmp_path: Path):
    rate, each = 20.0, 10
    slot_file = tmp_path / "slots"
    start_at = time.time() + 4
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _ACQUIRE, str(slot_file), str(rate), str(each), str(start_at)],
            stdout=subprocess.PIPE, text=True, env=os.environ.copy(),
        )
        for _ in range(3)
    ]
    times = sorted(float(line) for p in procs for line in p.communicate(timeout=60)[0].split())
    assert len(times) == 3 * each
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert min(gaps) >= 1 / rate  # no two starts closer than the limit allows, whichever process
    achieved = (len(times) - 1) / (times[-1] - times[0])
    assert achieved <= rate
    assert achieved >= 0.5 * rate  # and the limit is used, not wasted


def test_limiter_spaces_calls_in_one_process(tmp_path: Path):
    limiter = RateLimiter("t", 50.0, FileSlotSchedule(tmp_path / "slots"), headroom=1.0)
    started = time.monotonic()
    for _ in range(11):
        limiter.acquire()
    assert time.monotonic() - started >= 0.2 - 0.01
    assert limiter.stats.as_dict()["acquired"] == 11
