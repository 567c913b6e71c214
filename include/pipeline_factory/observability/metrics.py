"""The project's figures as Prometheus metrics, pushed to a Pushgateway when a stage ends.

Task processes are short-lived batch jobs, so nothing here is scraped: each
stage fills a :class:`StageMetrics` while it runs (the HTTP clients, breakers
and limiters report into the one the runner made current) and the runner
pushes it once, at the end, to the Pushgateway named by
``PIPELINE_PUSHGATEWAY_URL``, grouped by ``pipeline`` and ``stage``
(Prometheus's documented pattern for batch jobs).  The end of a DAG run is
pushed by the scheduler-side listener under ``job="pipeline_run"``, grouped by
``pipeline``.  Without the variable nothing is pushed and nothing is imported.

A push that fails is logged; a stage's outcome never depends on its metrics.
Every name is listed in :data:`METRICS` (and in ``docs/observability.md``).
"""

from __future__ import annotations

import contextvars
import logging
import os
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

PUSHGATEWAY_ENV = "PIPELINE_PUSHGATEWAY_URL"
STAGE_JOB = "pipeline_stage"
RUN_JOB = "pipeline_run"
PUSH_TIMEOUT_SECONDS = 5.0
#: The failure-rate window pushed for every pipeline, besides those its alert rules ask for.
DEFAULT_FAILURE_WINDOW = 10

#: Every metric the project pushes: name -> (type, labels beyond pipeline/stage, help).
METRICS: dict[str, tuple[str, tuple[str, ...], str]] = {
    "pipeline_stage_duration_seconds": ("gauge", (), "Wall time of the stage's last run."),
    "pipeline_stage_outcome": ("gauge", ("outcome",), "1 for the outcome of the stage's last run."),
    "pipeline_stage_last_end_timestamp_seconds": ("gauge", (), "When the stage last ended (Unix time)."),
    "pipeline_stage_items": ("gauge", ("kind",), "Items the stage's last run handled: papers, genes, documents, "
                                                  "chunks, vectors, rows ..."),
    "pipeline_api_requests_total": ("counter", ("api",), "HTTP requests sent to an external API by the last run."),
    "pipeline_api_rate_limited_total": ("counter", ("api",), "Answers 429 (rate limited) in the last run."),
    "pipeline_api_retries_total": ("counter", ("api",), "Retries of calls to an API in the last run."),
    "pipeline_api_server_errors_total": ("counter", ("api",), "Answers 5xx in the last run."),
    "pipeline_rate_limiter_waits_total": ("counter", ("limiter",), "Times the shared rate limiter made a call wait."),
    "pipeline_rate_limiter_wait_seconds_total": ("counter", ("limiter",), "Seconds spent waiting for the limiter."),
    "pipeline_breaker_state_changes_total": ("counter", ("breaker", "to"), "Circuit-breaker transitions seen."),
    "pipeline_breaker_rejections_total": ("counter", ("breaker",), "Calls an open breaker refused."),
    "pipeline_breaker_open": ("gauge", ("breaker",), "1 when the breaker was open (or half-open) at the end."),
    "pipeline_breaker_open_since_timestamp_seconds": ("gauge", ("breaker",), "When the open breaker opened; 0 "
                                                                             "when closed."),
    "pipeline_gate_wait_seconds": ("gauge", (), "How long the gate's last wait lasted."),
    "pipeline_gate_waiting_since_timestamp_seconds": ("gauge", (), "When the gate started waiting; 0 once open."),
    "pipeline_embed_items_per_second": ("gauge", (), "Chunks embedded per second by the last embed run."),
    "pipeline_training_duration_seconds": ("gauge", (), "Wall time of the last training stage."),
    "pipeline_promotion_candidate_value": ("gauge", ("metric", "outcome"), "The candidate's promotion metric."),
    "pipeline_promotion_champion_value": ("gauge", ("metric",), "The champion's promotion metric, same rows."),
    "pipeline_run_duration_seconds": ("gauge", (), "Wall time of the pipeline's last DAG run."),
    "pipeline_run_outcome": ("gauge", ("outcome",), "1 for the outcome (success, failed) of the last DAG run."),
    "pipeline_run_last_end_timestamp_seconds": ("gauge", (), "When the last DAG run ended."),
    "pipeline_run_last_success_timestamp_seconds": ("gauge", (), "When the last successful DAG run ended; 0 never."),
    "pipeline_run_failure_ratio": ("gauge", ("window",), "Failed share of the last `window` finished DAG runs."),
}

#: Result fields that count things, exported as ``pipeline_stage_items{kind=...}``.
ITEM_FIELDS: dict[str, str] = {
    "papers_collected": "papers_collected",
    "genes_collected": "genes_collected",
    "papers_linked": "papers_linked",
    "papers_written": "papers_written",
    "genes_written": "genes_written",
    "vectors_upserted": "vectors",
    "documents": "documents",
    "chunks": "chunks",
    "points": "vectors",
    "entities": "entities",
    "mentions": "mentions",
    "rows_added": "rows_added",
    "failed": "failed",
    "found": "inconsistencies_found",
    "remaining": "inconsistencies_remaining",
}


def pushgateway_url() -> str | None:
    url = os.environ.get(PUSHGATEWAY_ENV, "").strip()
    return url or None


@dataclass
class StageMetrics:
    """What one stage run saw, filled while it runs and pushed when it ends."""

    pipeline: str
    stage: str
    stage_type: str = ""
    api: dict[str, dict[str, float]] = field(default_factory=dict)
    limiters: dict[str, dict[str, float]] = field(default_factory=dict)
    breakers: dict[str, Any] = field(default_factory=dict)
    gauges: dict[str, float] = field(default_factory=dict)

    def record_client(self, api: str, report: Mapping[str, Any]) -> None:
        """An HTTP client's report (``EutilsClient.report()`` shape): requests, retries, limiter, breaker."""
        client = report.get("client") or {}
        figures = self.api.setdefault(api, {})
        for key in ("requests", "rate_limited", "retries", "server_errors"):
            figures[key] = figures.get(key, 0) + float(client.get(key) or 0)
        limiter = report.get("rate_limiter") or {}
        if limiter:
            name = str(limiter.get("name") or api)
            waits = self.limiters.setdefault(name, {})
            waits["waited"] = waits.get("waited", 0) + float(limiter.get("waited") or 0)
            waits["wait_seconds"] = waits.get("wait_seconds", 0) + float(limiter.get("wait_seconds") or 0)
        if report.get("circuit_breaker"):
            self.record_breaker(report["circuit_breaker"])

    def record_breaker(self, breaker: Any) -> None:
        """A breaker (read when the stage ends) or its ``as_dict()``: state, transitions, rejections, opened_at."""
        name = breaker["name"] if isinstance(breaker, Mapping) else breaker.name
        self.breakers[str(name)] = breaker

    def breaker_figures(self) -> dict[str, Mapping[str, Any]]:
        figures = {}
        for name, breaker in self.breakers.items():
            try:
                figures[name] = breaker if isinstance(breaker, Mapping) else breaker.as_dict()
            except Exception:  # the breaker's storage is unreachable: its figures are unknown, not zero
                log.warning("could not read circuit breaker %s for metrics", name, exc_info=True)
        return figures


_current: contextvars.ContextVar[StageMetrics | None] = contextvars.ContextVar("pipeline_stage_metrics", default=None)


def current() -> StageMetrics | None:
    """The running stage's metrics, or None outside a stage (then reporting is a no-op)."""
    return _current.get()


@contextmanager
def collecting(pipeline: str, stage: str, stage_type: str = "") -> Iterator[StageMetrics]:
    metrics = StageMetrics(pipeline, stage, stage_type)
    token = _current.set(metrics)
    try:
        yield metrics
    finally:
        _current.reset(token)


def record_client(api: str, report: Mapping[str, Any]) -> None:
    metrics = current()
    if metrics is not None:
        metrics.record_client(api, report)


def record_breaker(breaker: Any) -> None:
    metrics = current()
    if metrics is not None:
        metrics.record_breaker(breaker)


# -- building and pushing -------------------------------------------------------------------------


def _timestamp(value: Any) -> float:
    if not value:
        return 0.0
    if isinstance(value, (int, float)):
        return float(value)
    from datetime import UTC, datetime

    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


class _Builder:
    """A fresh registry per push: a long-lived worker must never carry one stage's figures into the next."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry

        try:
            from prometheus_client import disable_created_metrics

            disable_created_metrics()  # one value per series: `_created` twins mean nothing for a pushed run
        except ImportError:  # pragma: no cover - older clients
            pass
        self.registry = CollectorRegistry()
        self._metrics: dict[str, Any] = {}

    def set(self, name: str, value: float, **labels: str) -> None:
        from prometheus_client import Counter, Gauge

        kind, label_names, help_text = METRICS[name]
        metric = self._metrics.get(name)
        if metric is None:
            cls = Counter if kind == "counter" else Gauge
            metric_name = name.removesuffix("_total") if kind == "counter" else name
            metric = cls(metric_name, help_text, list(label_names), registry=self.registry)
            self._metrics[name] = metric
        child = metric.labels(**labels) if label_names else metric
        if kind == "counter":
            child.inc(max(float(value), 0.0))
        else:
            child.set(float(value))  # type: ignore[union-attr]  # a gauge: only counters take the branch above


def stage_registry(metrics: StageMetrics, *, outcome: str, seconds: float, result: Any = None,
                   ended_at: float | None = None) -> Any:
    """The registry pushed for one stage run."""
    b = _Builder()
    b.set("pipeline_stage_duration_seconds", seconds)
    b.set("pipeline_stage_outcome", 1, outcome=outcome)
    b.set("pipeline_stage_last_end_timestamp_seconds", ended_at or time.time())
    for api, figures in metrics.api.items():
        b.set("pipeline_api_requests_total", figures.get("requests", 0), api=api)
        b.set("pipeline_api_rate_limited_total", figures.get("rate_limited", 0), api=api)
        b.set("pipeline_api_retries_total", figures.get("retries", 0), api=api)
        b.set("pipeline_api_server_errors_total", figures.get("server_errors", 0), api=api)
    for name, waits in metrics.limiters.items():
        b.set("pipeline_rate_limiter_waits_total", waits.get("waited", 0), limiter=name)
        b.set("pipeline_rate_limiter_wait_seconds_total", waits.get("wait_seconds", 0), limiter=name)
    for name, breaker in metrics.breaker_figures().items():
        for transition in breaker.get("transitions") or []:
            b.set("pipeline_breaker_state_changes_total", 1, breaker=name, to=str(transition).split("->")[-1])
        b.set("pipeline_breaker_rejections_total", breaker.get("rejected") or 0, breaker=name)
        is_open = str(breaker.get("state", "closed")) != "closed"
        b.set("pipeline_breaker_open", 1 if is_open else 0, breaker=name)
        b.set("pipeline_breaker_open_since_timestamp_seconds",
              _timestamp(breaker.get("opened_at")) if is_open else 0, breaker=name)
    if isinstance(result, Mapping):
        for key, kind in ITEM_FIELDS.items():
            value = result.get(key)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                b.set("pipeline_stage_items", value, kind=kind)
        if metrics.stage_type == "embed" and isinstance(result.get("chunks"), int) and seconds > 0:
            b.set("pipeline_embed_items_per_second", result["chunks"] / seconds)
        if result.get("kind") == "ml.promote":
            metric = str((result.get("rule") or {}).get("metric") or "metric")
            if result.get("candidate_value") is not None:
                b.set("pipeline_promotion_candidate_value", result["candidate_value"], metric=metric,
                      outcome=str(result.get("outcome")))
            if result.get("champion_value") is not None:
                b.set("pipeline_promotion_champion_value", result["champion_value"], metric=metric)
    if metrics.stage_type == "train" and outcome == "success":
        b.set("pipeline_training_duration_seconds", seconds)
    for name, value in metrics.gauges.items():
        b.set(name, value)
    return b.registry


def push(registry: Any, *, job: str, grouping: Mapping[str, str]) -> bool:
    """Replace the group's metrics on the Pushgateway; False (logged) when there is none or it fails."""
    url = pushgateway_url()
    if url is None:
        return False
    from prometheus_client import push_to_gateway

    try:
        push_to_gateway(url, job=job, registry=registry, grouping_key=dict(grouping), timeout=PUSH_TIMEOUT_SECONDS)
        return True
    except Exception as exc:
        log.warning("could not push %s metrics to %s: %s", job, url, exc)
        return False


def push_stage(metrics: StageMetrics, *, outcome: str, seconds: float, result: Any = None) -> bool:
    if pushgateway_url() is None:
        return False
    registry = stage_registry(metrics, outcome=outcome, seconds=seconds, result=result)
    return push(registry, job=STAGE_JOB, grouping={"pipeline": metrics.pipeline, "stage": metrics.stage})


def push_gate(pipeline: str, stage: str, *, waiting_since: float | None = None,
              waited_seconds: float | None = None) -> bool:
    """The gate's own group: when it started waiting (0 once open) and how long the last wait took."""
    if pushgateway_url() is None:
        return False
    b = _Builder()
    b.set("pipeline_gate_waiting_since_timestamp_seconds", waiting_since or 0)
    if waited_seconds is not None:
        b.set("pipeline_gate_wait_seconds", waited_seconds)
    return push(b.registry, job=STAGE_JOB, grouping={"pipeline": pipeline, "stage": stage})


def run_registry(*, outcome: str, duration: float | None, ended_at: float, last_success: float | None,
                 failure_ratios: Mapping[int, float]) -> Any:
    b = _Builder()
    if duration is not None:
        b.set("pipeline_run_duration_seconds", duration)
    b.set("pipeline_run_outcome", 1, outcome=outcome)
    b.set("pipeline_run_last_end_timestamp_seconds", ended_at)
    b.set("pipeline_run_last_success_timestamp_seconds", last_success or 0)
    for window, ratio in sorted(failure_ratios.items()):
        b.set("pipeline_run_failure_ratio", ratio, window=str(window))
    return b.registry


def failure_ratio(states: list[str], window: int) -> float:
    """The failed share of the newest ``window`` finished runs (``states`` newest first)."""
    recent = states[:window]
    return sum(1 for s in recent if s == "failed") / len(recent) if recent else 0.0
