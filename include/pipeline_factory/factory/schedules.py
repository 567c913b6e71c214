"""When a scheduled pipeline first runs: at its next slot, never one that passed before it appeared.

Airflow's ``catchup=False`` skips the missed slots *but one*: a DAG that
appears (or is unpaused) runs its most recent past slot at once, because the
timetable starts from ``max(latest past slot, start_date)``.  On a fresh
deployment every scheduled pipeline then starts together with the stack, and
what a person triggers by hand waits behind those runs (``max_active_runs``)
or finds the work already done (the training data consumed).

So a cron or preset schedule with ``catchup: false`` is rendered as a
``CronTriggerTimetable`` with ``run_immediately=timedelta(0)`` and no start
date once the spec's ``start_date`` has passed: with no start date the
timetable's first run is the next slot after the DAG appeared.  A start date
still in the future is kept (nothing runs before it) and ``catchup: true``
keeps Airflow's backfill of every slot since the start date.

Duration schedules (``P15D``) have no slots to align to: Airflow starts their
first run when the DAG appears, whatever the settings.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from pipeline_factory.spec.models import PipelineSpec, schedule_kind

#: Presets that are not cron expressions.
_NOT_CRON = frozenset({"@once", "@continuous"})


def has_slots(spec: PipelineSpec) -> bool:
    """A cron expression or a cron preset: runs at fixed slots."""
    kind = schedule_kind(spec.schedule)
    return kind == "cron" or (kind == "preset" and spec.schedule not in _NOT_CRON)


def schedule_and_start(
    spec: PipelineSpec, schedule: Any, start_date: datetime, *, now: datetime | None = None
) -> tuple[Any, datetime | None]:
    """The DAG's ``schedule`` and ``start_date`` arguments: no startup slot for ``catchup: false``."""
    if spec.catchup or not has_slots(spec):
        return schedule, start_date
    from airflow.timetables.trigger import CronTriggerTimetable

    assert isinstance(spec.schedule, str)
    now = now or datetime.now(UTC)
    timetable = CronTriggerTimetable(spec.schedule, timezone="UTC", run_immediately=timedelta(0))
    return timetable, (start_date if start_date > now else None)
