"""Asset outlets and asset schedules, task groups and deadlines, from YAML, under a real Airflow."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline_factory.spec.loader import load_specs

pytestmark = pytest.mark.integration

ASSETS = """\
name: on_assets
schedule:
  any:
    - pipeline://tests/a
    - all: [pipeline://tests/b, pipeline://tests/c]
stages:
  - name: first
    type: echo
    group: prepare
    with: {message: one}
  - name: second
    type: echo
    group: prepare
    outlets: [pipeline://tests/produced]
  - name: last
    type: echo
"""

DEADLINE = """\
name: with_deadline
schedule: "0 3 * * *"
deadline: {within: PT3H}
notifications:
  on_failure: [{type: log, level: warning}]
stages:
  - name: only
    type: echo
"""


def _render(config: Path, name: str, text: str):
    from pipeline_factory.factory.dagfile import render_all

    (config / "pipelines" / f"{name}.yaml").write_text(text)
    rendered = render_all(auto_register=False)
    assert not rendered.problems, rendered.problems
    return rendered.dags[name]


def test_asset_schedule_with_and_or_and_outlets(config_copy: Path, dag_runner):
    from airflow.sdk import Asset, AssetAll, AssetAny
    from airflow.sdk.definitions.timetables.assets import AssetTriggeredTimetable

    dag = _render(config_copy, "on_assets", ASSETS)
    assert isinstance(dag.timetable, AssetTriggeredTimetable)
    condition = dag.timetable.asset_condition
    assert isinstance(condition, AssetAny)
    first, nested = condition.objects
    assert first == Asset("pipeline://tests/a")
    assert isinstance(nested, AssetAll) and set(nested.objects) == {Asset("pipeline://tests/b"),
                                                                    Asset("pipeline://tests/c")}
    assert dag.get_task("second").outlets == [Asset("pipeline://tests/produced")]
    run = dag_runner.run(dag)
    assert run.state == "success"

    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        events = session.scalars(
            select(AssetEvent).join(AssetModel, AssetEvent.asset_id == AssetModel.id)
            .where(AssetModel.uri == "pipeline://tests/produced", AssetEvent.source_run_id == run.run_id)
        ).all()
    assert len(events) == 1 and events[0].source_task_id == "second"


def test_pdf_converter_runs_on_the_download_asset_and_sweeps_hourly():
    from airflow.sdk import Asset, AssetOrTimeSchedule

    from pipeline_factory.factory.dagfile import render_all

    dags = render_all(auto_register=False).dags
    worker, downloads = dags["pdf_ir_worker"], dags["docs_pdf_two_phase"]
    assert isinstance(worker.timetable, AssetOrTimeSchedule)
    assert worker.timetable.timetable.expression == "0 * * * *"  # the sweep for what no event announces
    [produced] = downloads.get_task("download_pdf").outlets
    assert produced == Asset("pipeline://documents/pdfs-downloaded")
    assert produced in worker.timetable.asset_condition.objects


def test_task_groups_keep_task_ids(config_copy: Path, dag_runner):
    dag = _render(config_copy, "on_assets", ASSETS)
    assert set(dag.task_ids) == {"first", "second", "last"}
    group = dag.task_group_dict["prepare"]
    assert {t.task_id for t in group.children.values()} == {"first", "second"}
    assert dag.get_task("last").task_group.group_id is None
    assert [t.task_id for t in dag.get_task("last").upstream_list] == ["second"]


def test_deadline_becomes_a_deadline_alert_with_the_notifiers(config_copy: Path):
    from datetime import timedelta

    from airflow.sdk import DeadlineReference
    from airflow.serialization.serialized_objects import DagSerialization

    dag = _render(config_copy, "with_deadline", DEADLINE)
    [alert] = dag.deadline
    assert alert.interval == timedelta(hours=3)
    assert alert.reference == DeadlineReference.DAGRUN_LOGICAL_DATE
    assert alert.callback.path == "pipeline_factory.deadlines.deadline_missed"
    assert alert.callback.kwargs["notifiers"] == [{"type": "log", "level": "warning"}]
    serialized = DagSerialization.to_dict(dag)  # what the dag-processor stores: must not refuse the alert
    assert "deadline" in str(serialized)


@pytest.mark.parametrize(("text", "line", "path", "error_type"), [
    (DEADLINE.replace("notifications:\n  on_failure: [{type: log, level: warning}]\n", ""), 3, "deadline",
     "deadline_without_notifiers"),
    (DEADLINE.replace("PT3H", "three hours"), 3, "deadline.within", "value_error"),
    (ASSETS.replace("group: prepare\n    with: {message: one}", "group: last\n    with: {message: one}"), 9,
     "stages.0.group", "group_name_taken"),
    (ASSETS.replace("outlets: [pipeline://tests/produced]", "outlets: [produced, pipeline://x]"), 14,
     "stages.1.outlets.0", "string_pattern_mismatch"),
    (ASSETS.replace("outlets: [pipeline://tests/produced]", "outlets: [pipeline://x, pipeline://x]"), 14,
     "stages.1.outlets.1", "duplicate_outlet"),
])
def test_new_keys_are_validated_with_positions(config_copy: Path, text, line, path, error_type):
    (config_copy / "pipelines" / "broken.yaml").write_text(text)
    specs = load_specs(config_dir=config_copy)
    found = [(p.line, p.path, p.type) for p in specs.problems if p.file.endswith("broken.yaml")]
    assert (line, path, error_type) in found, found
