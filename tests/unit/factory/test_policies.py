"""Policies map onto Airflow's own retry settings."""

from __future__ import annotations

from datetime import timedelta

import pytest

from pipeline_factory.resilience.policy import Policy
from pipeline_factory.spec.loader import load_policies


def test_shipped_policies():
    policies = load_policies()
    assert {"default", "gpu-bound", "polite-api"} <= set(policies)
    assert policies["gpu-bound"].max_attempts == 1
    assert policies["polite-api"].circuit_breaker is not None
    assert policies["polite-api"].rate_limit_per_second == 3
    assert all(name == policy.name for name, policy in policies.items())


def test_exponential_policy_to_airflow():
    kwargs = Policy(max_attempts=4, backoff_initial_seconds=10, backoff_max_seconds=120,
                    timeout_seconds=30).airflow_task_kwargs()
    assert kwargs == {
        "retries": 3,
        "retry_delay": timedelta(seconds=10),
        "retry_exponential_backoff": 2.0,
        "max_retry_delay": timedelta(seconds=120),
        "execution_timeout": timedelta(seconds=30),
    }


def test_no_backoff_retries_at_once_without_timeout():
    kwargs = Policy(max_attempts=1, backoff_strategy="none", backoff_initial_seconds=0,
                    backoff_max_seconds=0).airflow_task_kwargs()
    assert kwargs["retries"] == 0
    assert kwargs["retry_delay"] == timedelta(0)
    assert kwargs["retry_exponential_backoff"] == 0
    assert kwargs["execution_timeout"] is None


@pytest.mark.parametrize(
    ("strategy", "delays"),
    [("exponential", [0, 2, 4, 8, 10]), ("linear", [0, 2, 4, 6, 8]), ("none", [0, 0, 0, 0, 0])],
)
def test_delay_before_attempt(strategy, delays):
    policy = Policy(max_attempts=5, backoff_strategy=strategy, backoff_initial_seconds=2, backoff_max_seconds=10)
    assert [policy.delay_before_attempt(n) for n in range(1, 6)] == delays


def test_max_below_initial_is_rejected():
    with pytest.raises(ValueError, match="backoff_max_seconds"):
        Policy(backoff_initial_seconds=10, backoff_max_seconds=5)
