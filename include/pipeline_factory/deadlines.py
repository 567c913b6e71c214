"""What the triggerer runs when a pipeline run misses its deadline: tell the pipeline's notifiers.

Airflow's ``DeadlineAlert`` imports this coroutine by its dotted path in the
triggerer and awaits it with the kwargs the factory serialized (JSON-safe:
the dag id, the deadline and the notifier specs) and a small context.  The
sending is blocking (SMTP, HTTP), so it runs in a thread; a notifier failure
is logged, never raised, as for the other notifications.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from typing import Any

log = logging.getLogger(__name__)


def _message(dag_id: str, within: str, after: str, context: Mapping[str, Any] | None) -> tuple[str, str, dict]:
    run = (context or {}).get("dag_run") or {}
    run_id = run.get("run_id") if isinstance(run, Mapping) else getattr(run, "run_id", None)
    reference = "its scheduled time" if after == "logical_date" else "the time it was queued"
    subject = f"[pipeline-factory] {dag_id}: deadline missed"
    text = (f"Pipeline {dag_id} has not finished within {within} of {reference}"
            + (f" (run {run_id})." if run_id else "."))
    payload = {"dag_id": dag_id, "run_id": run_id, "outcome": "deadline_missed", "within": within}
    return subject, text, payload


async def deadline_missed(*, dag_id: str, within: str, after: str, notifiers: Sequence[Mapping[str, Any]],
                          context: Mapping[str, Any] | None = None) -> list[str]:
    from pipeline_factory.notify import send

    subject, text, payload = _message(dag_id, within, after, context)
    try:
        return await asyncio.to_thread(send, list(notifiers), subject, text, payload=payload)
    except Exception:
        log.exception("deadline notification for %s could not be sent", dag_id)
        return []
