"""One guard per external service, built from a policy: rate limiter -> circuit breaker -> retries.

Every client that calls out (the E-utilities client, the PDF download, the
HTTP JSON source) goes through :meth:`Guard.call`, so a policy means the same
thing everywhere: each attempt first waits for its slot of the shared rate
limiter, then passes the shared circuit breaker, then runs; tenacity retries
the whole attempt on transient errors (honouring ``Retry-After``), so a retry
also waits for its own slot.  The limiter and the breaker exist when the
policy asks for them (``rate_limit_per_second``, ``circuit_breaker``).

Errors listed in ``answers`` are the service answering (a bad PDF, a refused
destination): they pass through the breaker as results, so they never trip
it, and are raised again outside it without being retried.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

from pipeline_factory.resilience.policy import CircuitBreakerPolicy, Policy
from pipeline_factory.resilience.retry import RetryStats, call_with_retry

if TYPE_CHECKING:  # the breaker needs SQLAlchemy and pybreaker: loaded only when a guard gets one
    from pipeline_factory.resilience.breaker import SharedBreaker
    from pipeline_factory.resilience.ratelimit import RateLimiter

T = TypeVar("T")

#: What a stage without a policy gets: one attempt, no limiter, no breaker.
SINGLE_ATTEMPT = Policy(
    name="single-attempt", max_attempts=1, backoff_strategy="none", backoff_initial_seconds=0, backoff_max_seconds=0
)


@dataclass
class Guard:
    """The resilience of one service under one policy; build with :meth:`from_policy`."""

    service: str
    policy: Policy
    limiter: RateLimiter | None = None
    breaker: SharedBreaker | None = None
    answers: tuple[type[BaseException], ...] = ()
    stats: RetryStats = field(default_factory=RetryStats)

    @classmethod
    def from_policy(
        cls,
        policy: Policy | None,
        service: str,
        *,
        rate_per_second: float | None = None,
        limiter_name: str | None = None,
        breaker: CircuitBreakerPolicy | None = None,
        answers: tuple[type[BaseException], ...] = (),
    ) -> Guard:
        """The guard ``policy`` describes for ``service`` (the breaker's name; the limiter's unless named).

        ``rate_per_second`` and ``breaker`` override the policy's own settings
        (a service with a published limit, one that must always have a
        breaker); ``limiter_name`` lets several services share one limiter.
        """
        policy = policy or SINGLE_ATTEMPT
        rate = rate_per_second if rate_per_second is not None else policy.rate_limit_per_second
        limiter = None
        if rate:
            from pipeline_factory.resilience.ratelimit import shared_rate_limiter

            limiter = shared_rate_limiter(limiter_name or service, rate)
        breaker_policy = breaker or policy.circuit_breaker
        shared = None
        if breaker_policy is not None:
            from pipeline_factory.observability.metrics import record_breaker
            from pipeline_factory.resilience.breaker import shared_breaker

            shared = shared_breaker(service, breaker_policy)
            record_breaker(shared)  # its state and transitions, pushed when the stage ends
        return cls(service, policy, limiter=limiter, breaker=shared, answers=answers)

    def attempt(self, fn: Callable[[], T]) -> T:
        """One try, without retries: the limiter's slot, then the breaker, then ``fn``."""
        if self.limiter is not None:
            self.limiter.acquire()
        if self.breaker is None:
            return fn()
        if not self.answers:
            return self.breaker.call(fn)
        answers = self.answers

        def answered() -> T | BaseException:
            try:
                return fn()
            except answers as exc:
                return exc

        outcome = self.breaker.call(answered)
        if isinstance(outcome, answers):
            raise outcome
        return outcome  # type: ignore[return-value]

    def call(self, fn: Callable[[], T], *, what: str | None = None) -> T:
        """``fn`` under the whole policy: attempts as in :meth:`attempt`, retried on transient errors."""
        return call_with_retry(self.policy, lambda: self.attempt(fn), stats=self.stats, what=what or self.service)

    def report(self) -> dict[str, object]:
        """What the guard did, for a stage's result: retries, limiter waits, breaker state."""
        out: dict[str, object] = {"retry": self.stats.as_dict()}
        if self.limiter is not None:
            out["rate_limiter"] = {
                "name": self.limiter.name,
                "rate_per_second": self.limiter.rate_per_second,
                **self.limiter.stats.as_dict(),
            }
        if self.breaker is not None:
            out["circuit_breaker"] = self.breaker.as_dict()
        return out
