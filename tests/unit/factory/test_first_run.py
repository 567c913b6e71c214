"""A fresh deployment runs what a person triggers, not every scheduled pipeline's past slot.

With ``catchup: false`` a rendered DAG's first scheduled run is its next slot
after it appeared: the timetable Airflow's scheduler reads gives no run at or
before "now" (the README's manual triggers would queue behind it, and the
training example would find its batches consumed).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline_factory.factory.dagfile import render_all
from pipeline_factory.factory.schedules import has_slots, schedule_and_start
from pipeline_factory.spec.loader import load_specs
from pipeline_factory.spec.models import PipelineSpec


def _first_run(dag, now: datetime):
    from airflow.timetables.base import TimeRestriction

    restriction = TimeRestriction(earliest=dag.start_date, latest=None, catchup=dag.catchup)
    with mock.patch("airflow.timetables.trigger.utcnow", return_value=now):
        info = dag.timetable.next_dagrun_info(last_automated_data_interval=None, restriction=restriction)
    return info.run_after if info is not None else None


def test_no_shipped_pipeline_with_slots_runs_a_startup_slot() -> None:
    specs = load_specs()
    dags = render_all(auto_register=False).dags
    with_slots = [name for name, loaded in specs.specs.items() if has_slots(loaded.spec)]
    assert {"graphrag_incremental", "graphrag_full_rebuild", "graphrag_consistency", "model_training"} <= set(
        with_slots
    )
    now = datetime.now(UTC)
    for name in with_slots:
        first = _first_run(dags[name], now)
        assert first is not None and first > now, (name, first, now)


def test_model_training_waits_for_its_slot_so_a_manual_run_trains_on_the_sample_batches() -> None:
    dag = render_all(auto_register=False).dags["model_training"]
    assert type(dag.timetable).__name__ == "CronTriggerTimetable"
    assert _first_run(dag, datetime.now(UTC)) > datetime.now(UTC)


def _spec(schedule: str, catchup: bool = False, start: datetime | None = None) -> PipelineSpec:
    return PipelineSpec.model_validate({
        "name": "p", "schedule": schedule, "catchup": catchup,
        "start_date": (start or datetime(2026, 1, 1, tzinfo=UTC)).date().isoformat(),
        "stages": [{"name": "a", "type": "echo"}],
    })


def _build(spec: PipelineSpec, now: datetime):
    from airflow.sdk import DAG

    start = datetime.combine(spec.start_date, datetime.min.time(), tzinfo=UTC)
    schedule, start_date = schedule_and_start(spec, spec.schedule, start, now=now)
    return DAG(dag_id="p", schedule=schedule, start_date=start_date, catchup=spec.catchup, auto_register=False)


CRONS = st.sampled_from(["*/2 * * * *", "0 1 * * *", "0 2 * * 0", "0 3 1 * *", "30 4 1,16 * *", "@hourly",
                         "@daily", "@weekly", "@monthly", "@yearly"])
NOW = st.datetimes(min_value=datetime(2026, 1, 2), max_value=datetime(2030, 12, 31), timezones=st.just(UTC))


@settings(max_examples=60, deadline=None)
@given(cron=CRONS, now=NOW)
def test_catchup_off_never_runs_a_slot_that_passed_before_the_dag_appeared(cron: str, now: datetime) -> None:
    """A slot falling exactly on the moment the DAG appears is that moment's own, as with cron."""
    first = _first_run(_build(_spec(cron), now), now)
    assert first is not None and first >= now


@settings(max_examples=30, deadline=None)
@given(cron=CRONS, now=NOW, ahead=st.integers(min_value=1, max_value=400))
def test_a_future_start_date_is_kept(cron: str, now: datetime, ahead: int) -> None:
    start = now + timedelta(days=ahead)
    dag = _build(_spec(cron, start=start), now)
    assert dag.start_date is not None
    first = _first_run(dag, now)
    assert first is not None and first >= dag.start_date


@pytest.mark.parametrize("cron", ["0 1 * * *", "@daily"])
def test_catchup_on_keeps_airflows_backfill_from_the_start_date(cron: str) -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    assert schedule_and_start(_spec(cron, catchup=True), cron, start) == (cron, start)


@pytest.mark.parametrize("schedule", ["P15D", "@once", "@continuous"])
def test_schedules_without_slots_are_left_to_airflow(schedule: str) -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    assert schedule_and_start(_spec(schedule), schedule, start) == (schedule, start)
