"""The "Latest runs" section: each pipeline's recent DAG runs with the reasons their notes give.

The notes are the ones :mod:`pipeline_factory.observability.listener` writes
(skips, gate waits, breaker refusals, promotion decisions, consistency
results), read from Airflow's metadata database as the api-server does.  The
section also links the monitoring pages (Prometheus, Alertmanager,
Pushgateway, Grafana) the deployment configured.
"""

from __future__ import annotations

import os
from collections.abc import Collection
from typing import Any

#: Runs shown per pipeline.
RUNS_PER_PIPELINE = 5
#: Environment variables holding the monitoring pages' addresses, and their labels.
MONITORING_PAGES = {
    "prometheus": ("PIPELINE_PROMETHEUS_URL", "Prometheus", "/alerts"),
    "alertmanager": ("PIPELINE_ALERTMANAGER_URL", "Alertmanager", "/#/alerts"),
    "pushgateway": ("PIPELINE_PUSHGATEWAY_URL", "Pushgateway", "/"),
    "grafana": ("PIPELINE_GRAFANA_URL", "Grafana", "/"),
}


def monitoring_links() -> list[dict[str, str]]:
    links = []
    for key, (variable, label, path) in MONITORING_PAGES.items():
        base = os.environ.get(variable, "").strip().rstrip("/")
        if base:
            links.append({"name": key, "label": label, "href": base + path})
    return links


def runs_overview(allowed: Collection[str] | None = None, *, limit: int = RUNS_PER_PIPELINE) -> dict[str, Any]:
    """``{"monitoring": [links], "runs": [{pipeline, run_id, state, ..., note, task_notes}]}``, newest first."""
    from airflow.models.dagrun import DagRun, DagRunNote
    from airflow.models.taskinstance import TaskInstance, TaskInstanceNote
    from airflow.utils.session import create_session
    from sqlalchemy import func, select

    from pipeline_factory.ui.overview import _iso

    with create_session() as session:
        ranked = select(
            DagRun.id, DagRun.dag_id, DagRun.run_id, DagRun.state, DagRun.start_date, DagRun.end_date,
            func.row_number().over(partition_by=DagRun.dag_id, order_by=DagRun.id.desc()).label("n"),
        )
        if allowed is not None:
            ranked = ranked.where(DagRun.dag_id.in_(list(allowed)))
        latest = ranked.subquery()
        rows = session.execute(
            select(latest, DagRunNote.content)
            .outerjoin(DagRunNote, DagRunNote.dag_run_id == latest.c.id)
            .where(latest.c.n <= limit)
            .order_by(latest.c.dag_id, latest.c.id.desc())
        ).all()
        keys = {(r.dag_id, r.run_id) for r in rows}
        task_notes: dict[tuple[str, str], dict[str, str]] = {}
        if keys:
            for dag_id, run_id, task_id, content in session.execute(
                select(TaskInstance.dag_id, TaskInstance.run_id, TaskInstance.task_id, TaskInstanceNote.content)
                .join(TaskInstanceNote, TaskInstanceNote.ti_id == TaskInstance.id)
                .where(TaskInstance.dag_id.in_({k[0] for k in keys}), TaskInstance.run_id.in_({k[1] for k in keys}))
            ):
                if (dag_id, run_id) in keys and content:
                    task_notes.setdefault((dag_id, run_id), {})[task_id] = content
            # A run still going has no notes yet (the listener writes them when it ends): show the
            # reasons its tasks handed over so far, such as a gate that is waiting.
            running = {(r.dag_id, r.run_id) for r in rows if str(getattr(r.state, "value", r.state)) == "running"}
            if running:
                from airflow.models.xcom import XComModel

                from pipeline_factory.observability.notes import NOTE_XCOM_KEY

                for dag_id, run_id, task_id, value in session.execute(
                    select(XComModel.dag_id, XComModel.run_id, XComModel.task_id, XComModel.value).where(
                        XComModel.key == NOTE_XCOM_KEY, XComModel.dag_id.in_({k[0] for k in running}),
                        XComModel.run_id.in_({k[1] for k in running}))
                ):
                    text = XComModel.deserialize_value(_Value(value))
                    if (dag_id, run_id) in running and text:
                        task_notes.setdefault((dag_id, run_id), {}).setdefault(task_id, str(text))
    runs = [
        {
            "pipeline": r.dag_id,
            "run_id": r.run_id,
            "state": str(getattr(r.state, "value", r.state)),
            "started": _iso(r.start_date),
            "ended": _iso(r.end_date),
            "note": r.content,
            "task_notes": task_notes.get((r.dag_id, r.run_id), {}),
        }
        for r in rows
    ]
    return {"monitoring": monitoring_links(), "runs": runs}


class _Value:
    """What :meth:`XComModel.deserialize_value` reads: an object with ``.value``."""

    def __init__(self, value: Any) -> None:
        self.value = value
