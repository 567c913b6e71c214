"""Airflow 3 scheduling primitives from the spec: asset schedules (with and/or) and deadline alerts.

Kept apart from the builder so the builder stays a loop over stages; both
functions take validated models only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pipeline_factory.spec.models import AssetsAll, AssetsAny, AssetsOrCron, PipelineSpec, Schedule, parse_duration

if TYPE_CHECKING:
    from airflow.sdk import DeadlineAlert  # type: ignore[attr-defined]  # not in the SDK's stubs yet

#: The coroutine the triggerer awaits when a run misses its deadline.
DEADLINE_CALLBACK = "pipeline_factory.deadlines.deadline_missed"


def _term(term: Any) -> Any:
    from airflow.sdk import Asset, AssetAll, AssetAny

    if isinstance(term, AssetsAll):
        return AssetAll(*(_term(t) for t in term.all))
    if isinstance(term, AssetsAny):
        return AssetAny(*(_term(t) for t in term.any))
    return Asset(term)


def airflow_assets(schedule: Schedule) -> Any:
    """A list of URIs (every one of them) or an all/any condition, as Airflow's asset expressions.

    ``{assets: ..., or_cron: ...}`` becomes Airflow's ``AssetOrTimeSchedule``:
    runs on the assets' events and at the cron's slots (UTC).
    """
    if isinstance(schedule, AssetsOrCron):
        from airflow.sdk import AssetOrTimeSchedule, CronTriggerTimetable

        return AssetOrTimeSchedule(
            timetable=CronTriggerTimetable(schedule.or_cron, timezone="UTC"),
            assets=airflow_assets(schedule.assets),
        )
    if isinstance(schedule, list):
        return [_term(uri) for uri in schedule]
    return _term(schedule)


def deadline_alert(spec: PipelineSpec) -> DeadlineAlert:
    """Airflow's DeadlineAlert: the triggerer notifies the pipeline's on_failure notifiers when it passes."""
    from airflow.sdk import AsyncCallback, DeadlineAlert, DeadlineReference  # type: ignore[attr-defined]

    assert spec.deadline is not None
    reference = (DeadlineReference.DAGRUN_QUEUED_AT if spec.deadline.after == "queued_at"
                 else DeadlineReference.DAGRUN_LOGICAL_DATE)
    return DeadlineAlert(
        reference=reference,
        interval=parse_duration(spec.deadline.within),
        callback=AsyncCallback(DEADLINE_CALLBACK, kwargs={
            "dag_id": spec.name,
            "within": spec.deadline.within,
            "after": spec.deadline.after,
            "notifiers": [n.model_dump(mode="json") for n in spec.notifications.on_failure],
        }),
        name=f"{spec.name} within {spec.deadline.within}",
    )
