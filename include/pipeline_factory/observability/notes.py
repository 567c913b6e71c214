"""Reasons as notes: why a task skipped, waited, was refused or what it decided.

A task cannot write its own note: the Task SDK's execution API has no
endpoint for it, and tasks have no database access in Airflow 3.  So the
worker hands the reason over as an XCom under :data:`NOTE_XCOM_KEY` (which
it can write anywhere: local process, Celery worker, pod), and the
scheduler-side listener in :mod:`.listener` turns those XComs into the
task instances' notes and one summary note on the DAG run when the run
ends.  Both show in Airflow's grid view and through its REST API
(``note`` on ``/api/v2/dags/{dag}/dagRuns/{run}`` and its task instances).

Everything here is plain Python; the only Airflow object touched is the task
instance handed in by the operator.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

log = logging.getLogger(__name__)

#: The XCom key a task's reason travels under, from the worker to the scheduler.
NOTE_XCOM_KEY = "pipeline_note"
#: Airflow stores at most 1000 characters per note.
NOTE_LIMIT = 1000


def clip(text: str, limit: int = NOTE_LIMIT) -> str:
    """``text`` cut to ``limit`` characters, marked when cut."""
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _scrubbed(text: str) -> str:
    """Reasons quote errors, and errors quote URLs: no secret may reach a note."""
    try:
        from pipeline_factory.ui.scrub import scrub_text

        return scrub_text(text)
    except Exception:  # the scrubber reads connections; without them, the plain text
        log.debug("note scrubbing unavailable", exc_info=True)
        return text


def skipped_note(reason: str) -> str:
    return clip(f"skipped: {_scrubbed(reason)}")


def refused_note(error: BaseException) -> str:
    """A call the circuit breaker refused (or any other error worth a line)."""
    from pipeline_factory.exceptions import CircuitOpenError

    if isinstance(error, CircuitOpenError):
        service = f" ({error.service})" if error.service else ""
        return clip(f"refused by the circuit breaker{service}: {_scrubbed(str(error))}")
    return clip(f"failed: {type(error).__name__}: {_scrubbed(str(error))}")


def gate_note(message: str, *, waiting: bool, waited_seconds: float | None = None) -> str:
    if waiting:
        return clip(f"waiting at the gate: {message}")
    waited = f" after waiting {waited_seconds:.0f}s" if waited_seconds is not None else ""
    return clip(f"gate passed{waited}: {message}")


def result_note(result: Any) -> str | None:
    """The note a finished stage's result deserves, or None for an ordinary success.

    Promotion decisions and consistency results are the decisions operators
    ask about; any stage may also return a ``note`` of its own.
    """
    if not isinstance(result, Mapping):
        return None
    if result.get("kind") == "ml.promote" and result.get("outcome"):
        return clip(f"promotion: {result['outcome']}: {result.get('reason') or ''}".rstrip(": "))
    if {"outcome", "found", "remaining"} <= result.keys():
        kinds = ", ".join(f"{k} {v}" for k, v in (result.get("found_by_kind") or {}).items())
        text = f"consistency {result['outcome']}: {result['found']} mismatch(es) found, {result['remaining']} remain"
        if kinds:
            text += f" ({kinds})"
        if result.get("waited_for"):
            text += f"; waited for {', '.join(result['waited_for'])}"
        return clip(text)
    note = result.get("note")
    return clip(str(note)) if note else None


def record_note(context: Mapping[str, Any], text: str | None) -> None:
    """Hand ``text`` to the scheduler as this task's note; never fails the task."""
    if not text:
        return
    try:
        context["ti"].xcom_push(key=NOTE_XCOM_KEY, value=clip(_scrubbed(text)))
    except Exception:
        log.warning("could not record the task's note", exc_info=True)


def dag_run_note(notes: Mapping[str, str], states: Mapping[str, str]) -> str | None:
    """The DAG run's note: each task's reason, then how many tasks ended in each state.

    ``None`` when no task gave a reason (an ordinary run keeps an empty note).
    """
    if not notes:
        return None
    lines = [f"{task}: {text}" for task, text in notes.items()]
    counts: dict[str, int] = {}
    for state in states.values():
        counts[state] = counts.get(state, 0) + 1
    if counts:
        lines.append("tasks: " + ", ".join(f"{n} {state}" for state, n in sorted(counts.items())))
    return clip("\n".join(lines))
