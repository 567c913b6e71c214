"""Alert rules in the spec: what a pipeline (or ``defaults.yaml``) wants to be told about.

Each rule is a condition over the metrics the project pushes
(:mod:`pipeline_factory.observability.metrics`); Prometheus evaluates them
(:mod:`pipeline_factory.observability.alerts` renders the rules file) and
Alertmanager sends, groups, deduplicates and resolves the alerts.  Validated
like every other spec key, so a typo fails at its line.

.. code-block:: yaml

    alerts:
      - {kind: failure_rate, runs: 10, above: 0.3}
      - {kind: run_duration, above: 2h}
      - {kind: breaker_open, longer_than: 15m}
      - {kind: gate_waiting, longer_than: 6h}
      - {kind: no_success, within: P16D, severity: critical}
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints, TypeAdapter

#: Prometheus's own duration syntax: "90s", "15m", "2h", "7d", "1w".
_PROM_DURATION = re.compile(r"^(\d+)(s|m|h|d|w)$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_TIMEDELTA = TypeAdapter(timedelta)
#: Longer than any sensible alert window (and Prometheus's own limits stay far away).
MAX_ALERT_SECONDS = 366 * 86400


def _duration(value: Any) -> timedelta:
    """Seconds, a Prometheus duration (``15m``) or ISO 8601 (``PT2H``, ``P16D``)."""
    if isinstance(value, bool):
        raise ValueError("a duration is seconds, '15m'/'2h'/'7d', or ISO 8601 ('PT2H'); not a boolean")
    if isinstance(value, str) and (match := _PROM_DURATION.match(value.strip())):
        delta = timedelta(seconds=int(match[1]) * _UNIT_SECONDS[match[2]])
    elif isinstance(value, (int, float, str)):
        try:
            delta = _TIMEDELTA.validate_python(value)
        except Exception:
            raise ValueError(
                f"{value!r} is not a duration: use seconds, '15m'/'2h'/'7d', or ISO 8601 ('PT2H', 'P16D')"
            ) from None
    else:
        raise ValueError("a duration is seconds, '15m'/'2h'/'7d', or ISO 8601 ('PT2H')")
    if delta <= timedelta(0):
        raise ValueError("a duration must be positive")
    if delta.total_seconds() > MAX_ALERT_SECONDS:
        raise ValueError("a duration must be at most 366 days")
    return delta


Duration = Annotated[timedelta, BeforeValidator(_duration)]
Ratio = Annotated[float, Field(ge=0, lt=1, allow_inf_nan=False)]


def prom_duration(delta: timedelta) -> str:
    """A timedelta in Prometheus's syntax (whole seconds)."""
    return f"{max(int(delta.total_seconds()), 1)}s"


class _Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)

    name: Annotated[str, StringConstraints(pattern=r"^[A-Za-z][A-Za-z0-9_]{0,99}$")] | None = Field(
        None, description="The alert's name; default: derived from the pipeline and the kind."
    )
    severity: Literal["info", "warning", "critical"] = "warning"
    for_: Duration | None = Field(
        None, alias="for", description="How long the condition must hold before the alert fires (default: at once)."
    )
    summary: str | None = Field(None, description="The alert's one-line summary; default: says what the rule is.")


class FailureRateRule(_Rule):
    """The failed share of the last ``runs`` finished DAG runs is above ``above``."""

    kind: Literal["failure_rate"]
    runs: int = Field(10, ge=1, le=1000, description="How many of the latest finished runs count.")
    above: Ratio = Field(description="A share between 0 and 1: 0.3 means more than 3 runs in 10 failed.")


class RunDurationRule(_Rule):
    """The last DAG run took longer than ``above``."""

    kind: Literal["run_duration"]
    above: Duration


class BreakerOpenRule(_Rule):
    """A circuit breaker a stage of this pipeline uses has been open longer than ``longer_than``."""

    kind: Literal["breaker_open"]
    longer_than: Duration
    breaker: str | None = Field(None, description="Only this breaker (e.g. ncbi-eutils); default: any.")


class GateWaitingRule(_Rule):
    """A gate stage has been waiting longer than ``longer_than``."""

    kind: Literal["gate_waiting"]
    longer_than: Duration
    stage: str | None = Field(None, description="Only this gate stage; default: any gate of the pipeline.")


class NoSuccessRule(_Rule):
    """No DAG run of this pipeline succeeded within ``within``."""

    kind: Literal["no_success"]
    within: Duration


AlertRule = Annotated[
    FailureRateRule | RunDurationRule | BreakerOpenRule | GateWaitingRule | NoSuccessRule,
    Field(discriminator="kind"),
]
ALERT_KINDS = ("failure_rate", "run_duration", "breaker_open", "gate_waiting", "no_success")
