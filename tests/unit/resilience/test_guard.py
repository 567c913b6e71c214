"""The guard: limiter -> breaker -> call, retried as the policy says; the same for every client."""

from __future__ import annotations

import pytest

from pipeline_factory.exceptions import CircuitOpenError, ExternalServiceError, TransientServiceError
from pipeline_factory.resilience.guard import SINGLE_ATTEMPT, Guard
from pipeline_factory.resilience.policy import CircuitBreakerPolicy, Policy

FAST = dict(backoff_strategy="none", backoff_initial_seconds=0, backoff_max_seconds=0)


@pytest.fixture(autouse=True)
def private_stores(tmp_path, monkeypatch):
    """Limiter slots and breaker rows of this test only (file schedule, SQLite ledger)."""
    monkeypatch.setenv("PIPELINE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("PIPELINE_LEDGER_URL", f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    monkeypatch.delenv("PIPELINE_REDIS_URL", raising=False)
    yield
    from pipeline_factory.stores import ledger_db

    ledger_db.forget(f"sqlite:///{tmp_path / 'ledger.sqlite'}")


def test_a_policy_without_breaker_or_rate_gets_retries_only():
    guard = Guard.from_policy(Policy(name="p", max_attempts=3, **FAST), "svc")
    assert guard.limiter is None and guard.breaker is None
    calls = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise TransientServiceError("503", status=503)
        return "ok"

    assert guard.call(flaky) == "ok"
    assert len(calls) == 3 and guard.stats.retries == 2


def test_no_policy_means_one_attempt():
    guard = Guard.from_policy(None, "svc")
    assert guard.policy is SINGLE_ATTEMPT
    with pytest.raises(TransientServiceError):
        guard.call(lambda: (_ for _ in ()).throw(TransientServiceError("503", status=503)))


def test_every_attempt_waits_for_a_slot_then_passes_the_breaker():
    policy = Policy(
        name="polite", max_attempts=3, rate_limit_per_second=1000, **FAST,
        circuit_breaker=CircuitBreakerPolicy(failure_threshold=10, reset_timeout_seconds=60),
    )
    guard = Guard.from_policy(policy, "svc")
    assert guard.limiter is not None and guard.breaker is not None
    assert guard.breaker.name == "svc" and guard.limiter.name == "svc"
    order: list[str] = []
    real_acquire = guard.limiter.acquire
    guard.limiter.acquire = lambda: (order.append("slot"), real_acquire())[1]  # type: ignore[method-assign]

    def flaky() -> str:
        order.append(f"call:{guard.breaker.fail_counter}")
        if order.count("slot") < 2:
            raise TransientServiceError("503", status=503)
        return "ok"

    assert guard.call(flaky) == "ok"
    # slot, then the call inside the breaker (which counted the first failure), then again
    assert order == ["slot", "call:0", "slot", "call:1"]
    assert guard.limiter.stats.acquired == 2


def test_the_breaker_opens_and_rejects_without_calling():
    policy = Policy(
        name="p", max_attempts=1, **FAST,
        circuit_breaker=CircuitBreakerPolicy(failure_threshold=2, reset_timeout_seconds=60),
    )
    guard = Guard.from_policy(policy, "down")
    for _ in range(2):
        with pytest.raises(TransientServiceError):
            guard.call(lambda: (_ for _ in ()).throw(TransientServiceError("503", status=503)))
    called = []
    with pytest.raises(CircuitOpenError):
        guard.call(lambda: called.append(1))
    assert not called
    # another guard for the same service shares the state (another task, another process)
    assert Guard.from_policy(policy, "down").breaker.state == "open"


class Answer(ExternalServiceError):
    """The service answered, with something we cannot use."""


def test_answers_pass_the_breaker_and_are_not_retried():
    policy = Policy(
        name="p", max_attempts=5, **FAST,
        circuit_breaker=CircuitBreakerPolicy(failure_threshold=1, reset_timeout_seconds=60),
    )
    guard = Guard.from_policy(policy, "host", answers=(Answer,))
    calls = []

    def bad() -> None:
        calls.append(1)
        raise Answer("not a PDF")

    for _ in range(3):
        with pytest.raises(Answer):
            guard.call(bad)
    assert len(calls) == 3, "an answer is raised at once, never retried"
    assert guard.breaker.state == "closed" and guard.breaker.fail_counter == 0


def test_overrides_name_a_shared_limiter_and_force_a_breaker():
    guard = Guard.from_policy(
        Policy(name="p", **FAST), "ncbi", rate_per_second=3, limiter_name="ncbi-anonymous",
        breaker=CircuitBreakerPolicy(),
    )
    assert guard.limiter.name == "ncbi-anonymous" and guard.limiter.rate_per_second == 3
    assert guard.breaker.name == "ncbi"
    report = guard.report()
    assert report["rate_limiter"]["name"] == "ncbi-anonymous"
    assert report["circuit_breaker"]["state"] == "closed"
