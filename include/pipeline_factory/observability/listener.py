"""Scheduler-side listener: when a DAG run ends, its notes and its run metrics.

The notes the tasks handed over become Airflow notes (:mod:`.notes`), and the
run's outcome is pushed to the Pushgateway (:mod:`.run_metrics`).

Registered by ``plugins/pipeline_notes.py``.  Airflow calls DAG-run listeners
in the process that changes the run's state (the scheduler, the api-server
when a person marks a run, ``dag.test()``), with the run attached to that
process's database session; the notes are written in that session, so they
land with the state change.  A note a person already wrote is never
overwritten.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from airflow.listeners import hookimpl

from pipeline_factory.observability.notes import NOTE_XCOM_KEY, dag_run_note

if TYPE_CHECKING:
    from airflow.models.dagrun import DagRun

log = logging.getLogger(__name__)


def _state(ti: Any) -> str:
    return str(getattr(ti.state, "value", ti.state))


def write_notes(dag_run: DagRun, session: Any) -> dict[str, str]:
    """Copy every task's handed-over reason into its note, and sum them up on the run; returns them."""
    from airflow.models.xcom import XComModel
    from sqlalchemy import select

    rows = session.execute(
        select(XComModel.task_id, XComModel.map_index, XComModel.value).where(
            XComModel.dag_id == dag_run.dag_id, XComModel.run_id == dag_run.run_id, XComModel.key == NOTE_XCOM_KEY
        )
    ).all()
    notes: dict[str, str] = {}
    for task_id, map_index, value in rows:
        text = XComModel.deserialize_value(_Row(value))
        if text:
            notes[task_id if map_index < 0 else f"{task_id}[{map_index}]"] = str(text)
    tis = dag_run.get_task_instances(session=session)
    for ti in tis:
        key = ti.task_id if ti.map_index < 0 else f"{ti.task_id}[{ti.map_index}]"
        if key in notes and not ti.note:
            ti.note = (notes[key], None)
    summary = dag_run_note(notes, {ti.task_id: _state(ti) for ti in tis})
    if summary and not dag_run.note:
        dag_run.note = (summary, None)
    session.flush()
    return notes


class _Row:
    """What :meth:`XComModel.deserialize_value` reads: an object with ``.value``."""

    def __init__(self, value: Any) -> None:
        self.value = value


def _with_session(dag_run: DagRun, work: Any, what: str) -> None:
    from sqlalchemy.orm import object_session

    try:
        session = object_session(dag_run)
        if session is None:
            from airflow.utils.session import create_session

            with create_session() as own:
                work(own.merge(dag_run), own)
        else:
            work(dag_run, session)
    except Exception:  # notes and metrics are for people; a run's outcome never depends on them
        log.warning("could not write the %s of %s/%s", what, dag_run.dag_id, dag_run.run_id, exc_info=True)


def _on_finished(dag_run: DagRun) -> None:
    from pipeline_factory.observability.run_metrics import push_run_metrics

    _with_session(dag_run, write_notes, "notes")
    _with_session(dag_run, push_run_metrics, "run metrics")


@hookimpl
def on_dag_run_success(dag_run: DagRun, msg: str) -> None:
    _on_finished(dag_run)


@hookimpl
def on_dag_run_failed(dag_run: DagRun, msg: str) -> None:
    _on_finished(dag_run)
