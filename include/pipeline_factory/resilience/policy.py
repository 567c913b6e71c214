"""The resilience policy model and its mapping onto Airflow's retry settings.

A policy is read twice: by the factory, which turns it into task-level retry
settings (Airflow retries the whole task), and by stage code at run time, which
builds in-task retries, circuit breakers and rate limiters from the same object
(see the sibling modules).  Keeping one model makes the two agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, Strict, model_validator

#: Longest wait, timeout or backoff any setting may ask for: 30 days.
MAX_SECONDS = 30 * 24 * 3600
#: Numbers in policies: not booleans, not strings, finite.
_Int = Annotated[int, Strict()]
_Float = Annotated[float, Strict(), Field(allow_inf_nan=False)]


class CircuitBreakerPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    failure_threshold: _Int = Field(5, ge=1, le=1000, description="Consecutive failures that open the breaker.")
    reset_timeout_seconds: _Float = Field(60.0, gt=0, le=MAX_SECONDS,
                                          description="How long an open breaker rejects calls.")
    success_threshold: _Int = Field(
        1, ge=1, le=1000, description="Successes needed in the half-open state before the breaker closes."
    )


@dataclass(frozen=True)
class RetryBudget:
    """One budget for a stage: Airflow runs the task ``task_attempts`` times, and within each run a
    transient API fault is retried up to ``in_task_attempts`` tries per request.

    ``total`` (their product) never exceeds the policy's ``max_attempts``.  A stage whose code does
    not retry in task gets every attempt from Airflow (``in_task_attempts == 1``); one that does
    (API clients) gets them in task and, by default, a single Airflow try, so a request is never
    tried ``max_attempts`` squared times.
    """

    task_attempts: int
    in_task_attempts: int

    @property
    def total(self) -> int:
        return self.task_attempts * self.in_task_attempts

    @property
    def airflow_retries(self) -> int:
        return self.task_attempts - 1


class Policy(BaseModel):
    """One named resilience policy."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field("", description="Filled in from the key in policies.yaml.")
    description: str = ""
    max_attempts: _Int = Field(
        3, ge=1, le=100,
        description="Attempts in all, the first included: the total one unit of work may get, in-task and "
        "Airflow retries together (see task_attempts).",
    )
    task_attempts: _Int | None = Field(
        None, ge=1, le=100,
        description="For stages that retry transient API faults themselves: how many times Airflow runs the "
        "task (default 1); each run gets max_attempts // task_attempts tries per request.",
    )
    backoff_strategy: Literal["exponential", "linear", "none"] = "exponential"
    backoff_initial_seconds: _Float = Field(30.0, ge=0, le=MAX_SECONDS)
    backoff_max_seconds: _Float = Field(600.0, ge=0, le=MAX_SECONDS)
    backoff_jitter_seconds: _Float = Field(0.0, ge=0, le=MAX_SECONDS)
    timeout_seconds: _Float | None = Field(None, gt=0, le=MAX_SECONDS, description="Per attempt; null for none.")
    circuit_breaker: CircuitBreakerPolicy | None = None
    rate_limit_per_second: _Float | None = Field(None, gt=0, le=10_000)

    @model_validator(mode="after")
    def _max_not_below_initial(self) -> Policy:
        if self.backoff_max_seconds < self.backoff_initial_seconds:
            raise ValueError("backoff_max_seconds must not be below backoff_initial_seconds")
        if self.task_attempts is not None and self.task_attempts > self.max_attempts:
            raise ValueError("task_attempts must not exceed max_attempts (the total)")
        return self

    def budget(self, *, retries_in_task: bool) -> RetryBudget:
        """How this policy's ``max_attempts`` is spent by a stage (see :class:`RetryBudget`)."""
        if not retries_in_task:
            return RetryBudget(task_attempts=self.max_attempts, in_task_attempts=1)
        task = self.task_attempts or 1
        return RetryBudget(task_attempts=task, in_task_attempts=max(1, self.max_attempts // task))

    def for_task(self, budget: RetryBudget) -> Policy:
        """The policy stage code sees: ``max_attempts`` is its in-task share of the budget."""
        return self.model_copy(update={"max_attempts": budget.in_task_attempts})

    @property
    def retries(self) -> int:
        return self.max_attempts - 1

    def delay_before_attempt(self, attempt: int) -> float:
        """Seconds to wait before attempt ``attempt`` (2, 3, ...), without jitter."""
        if attempt <= 1 or self.backoff_strategy == "none":
            return 0.0
        n = attempt - 1
        if self.backoff_strategy == "linear":
            delay = self.backoff_initial_seconds * n
        else:
            delay = self.backoff_initial_seconds * 2 ** (n - 1)
        return min(delay, self.backoff_max_seconds)

    def airflow_task_kwargs(self, budget: RetryBudget | None = None) -> dict[str, Any]:
        """Airflow's own retry settings for a task under this policy.

        Airflow knows constant and exponential delays only; a linear policy is
        rendered as a constant delay of ``backoff_initial_seconds`` (in-task
        retries do the linear ramp).  ``none`` retries at once.
        """
        kwargs: dict[str, Any] = {"retries": budget.airflow_retries if budget else self.retries}
        if self.backoff_strategy == "none":
            kwargs["retry_delay"] = timedelta(0)
            kwargs["retry_exponential_backoff"] = 0
        else:
            kwargs["retry_delay"] = timedelta(seconds=self.backoff_initial_seconds)
            kwargs["retry_exponential_backoff"] = 2.0 if self.backoff_strategy == "exponential" else 0
            kwargs["max_retry_delay"] = timedelta(seconds=self.backoff_max_seconds)
        kwargs["execution_timeout"] = (
            timedelta(seconds=self.timeout_seconds) if self.timeout_seconds is not None else None
        )
        return kwargs
