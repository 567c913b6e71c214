"""In-task retries built from a :class:`Policy` with tenacity.

Only :class:`TransientServiceError` is retried (429, 5xx, timeouts, truncated
bodies); a client error or an open circuit fails at once.  A server that says
how long to wait (``Retry-After``) is obeyed, capped at the policy's maximum
backoff; otherwise the wait grows as the policy says, plus random jitter so
that workers retrying together do not hit the service in step.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

import tenacity

from pipeline_factory.exceptions import TransientServiceError
from pipeline_factory.resilience.policy import Policy

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass
class RetryStats:
    """Counters shared by every thread retrying through one client."""

    retries: int = 0
    rate_limited: int = 0
    server_errors: int = 0
    sleep_seconds: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def record(self, exc: BaseException | None, wait: float) -> None:
        status = getattr(exc, "status", None)
        with self._lock:
            self.retries += 1
            self.sleep_seconds += wait
            if status == 429:
                self.rate_limited += 1
            elif status is not None and status >= 500:
                self.server_errors += 1

    def as_dict(self) -> dict[str, float | int]:
        return {
            "retries": self.retries,
            "rate_limited": self.rate_limited,
            "server_errors": self.server_errors,
            "sleep_seconds": round(self.sleep_seconds, 3),
        }


class PolicyWait(tenacity.wait.wait_base):
    """The policy's backoff for the coming attempt, or the server's ``Retry-After``."""

    def __init__(self, policy: Policy, rng: random.Random | None = None):
        self.policy = policy
        self.rng = rng or random.Random()

    def __call__(self, retry_state: tenacity.RetryCallState) -> float:
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None:
            return min(max(float(retry_after), 0.0), self.policy.backoff_max_seconds)
        delay = self.policy.delay_before_attempt(retry_state.attempt_number + 1)
        if self.policy.backoff_jitter_seconds:
            delay += self.rng.uniform(0, self.policy.backoff_jitter_seconds)
        return min(delay, self.policy.backoff_max_seconds + self.policy.backoff_jitter_seconds)


def retrying(policy: Policy, *, stats: RetryStats | None = None, what: str = "call") -> tenacity.Retrying:
    """A ``tenacity.Retrying`` that follows ``policy``; it re-raises the last error."""

    def before_sleep(state: tenacity.RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0.0
        if stats is not None:
            stats.record(exc, wait)
        log.warning(
            "%s failed (attempt %d of %d): %s; retrying in %.2fs",
            what,
            state.attempt_number,
            policy.max_attempts,
            exc,
            wait,
        )

    return tenacity.Retrying(
        stop=tenacity.stop_after_attempt(policy.max_attempts),
        wait=PolicyWait(policy),
        retry=tenacity.retry_if_exception_type(TransientServiceError),
        before_sleep=before_sleep,
        reraise=True,
    )


def call_with_retry(
    policy: Policy, fn: Callable[[], T], *, stats: RetryStats | None = None, what: str = "call"
) -> T:
    return retrying(policy, stats=stats, what=what)(fn)
