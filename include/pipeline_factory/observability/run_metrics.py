"""A DAG run's outcome as metrics: pushed by the scheduler-side listener when the run ends.

The failure ratio is counted over the pipeline's latest finished runs in
Airflow's own database (the windows its ``failure_rate`` alert rules ask
for), so "3 of the last 10 runs failed" is exact, whatever Prometheus
happened to scrape in between.
"""

from __future__ import annotations

import logging
from typing import Any

from pipeline_factory.observability import metrics

log = logging.getLogger(__name__)


def _windows(dag_id: str) -> set[int]:
    from pipeline_factory.observability.alerts import failure_windows

    try:
        from pipeline_factory.spec.loader import load_spec

        return failure_windows(load_spec(dag_id).spec)
    except Exception:  # not a factory pipeline, or its spec broke since: the default window
        return {metrics.DEFAULT_FAILURE_WINDOW}


def push_run_metrics(dag_run: Any, session: Any) -> bool:
    """Push the run's outcome, duration, last success and failure ratios; False when there is no gateway."""
    if metrics.pushgateway_url() is None:
        return False
    from airflow.models.dagrun import DagRun
    from sqlalchemy import func, select

    windows = _windows(dag_run.dag_id)
    finished = ("success", "failed")
    states = [
        str(getattr(s, "value", s))
        for s in session.scalars(
            select(DagRun.state)
            .where(DagRun.dag_id == dag_run.dag_id, DagRun.state.in_(finished))
            .order_by(DagRun.end_date.desc().nullsfirst(), DagRun.id.desc())
            .limit(max(windows))
        )
    ]
    last_success = session.scalar(
        select(func.max(DagRun.end_date)).where(DagRun.dag_id == dag_run.dag_id, DagRun.state == "success")
    )
    outcome = str(getattr(dag_run.state, "value", dag_run.state))
    end = dag_run.end_date
    duration = (end - dag_run.start_date).total_seconds() if end and dag_run.start_date else None
    registry = metrics.run_registry(
        outcome=outcome,
        duration=duration,
        ended_at=end.timestamp() if end else 0.0,
        last_success=last_success.timestamp() if last_success else None,
        failure_ratios={w: metrics.failure_ratio(states, w) for w in windows},
    )
    return metrics.push(registry, job=metrics.RUN_JOB, grouping={"pipeline": dag_run.dag_id})
