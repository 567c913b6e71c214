"""OpenLineage on and off: a failing task's FAIL event, and no run ids when lineage is not configured.

Runs happen in their own process (``run_in_process``) whose one lineage setting
is ``OPENLINEAGE_URL``; the GraphRAG lineage graph is tested in
``tests/integration/graphrag/test_lineage.py``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pipeline_factory.devservers.lineage_receiver import dataset_keys
from pipeline_factory.workspace import run_dir

pytestmark = [pytest.mark.integration, pytest.mark.slow]

FAILING_SPEC = """
name: lineage_failing
description: Ingests from a folder that does not exist, so its one task fails.
schedule: null
default_policy: fast-fail
stages:
  - name: ingest
    type: ingest
    with:
      source: folder
      path: "{missing}"
"""


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "data"
    path.mkdir()
    monkeypatch.setenv("PIPELINE_DATA_DIR", str(path))
    monkeypatch.delenv("PIPELINE_LEDGER_URL", raising=False)
    return path


def stage_events(pipeline: str, run_id: str) -> list[dict[str, Any]]:
    from pipeline_factory.stores.ledger import run_key
    from pipeline_factory.stores.ledger_db import shared_ledger

    events = shared_ledger(None).events(dag_run_id=run_key(pipeline, run_id))
    return [e for e in events if e["type"].startswith("org.pipeline-factory.stage.")]


def test_failed_task_emits_fail_with_its_datasets(run_in_process, lineage_receiver, config_copy, data_dir, tmp_path):
    missing = tmp_path / "no-such-folder"
    (config_copy / "pipelines" / "lineage_failing.yaml").write_text(FAILING_SPEC.format(missing=missing))
    run = run_in_process("lineage_failing", {}, lineage_url=lineage_receiver.url)
    assert run["state"] == "failed", run
    assert lineage_receiver.invalid == [], lineage_receiver.invalid[:3]

    events = lineage_receiver.task_events("lineage_failing")["ingest"]
    assert set(events) == {"START", "FAIL"}
    fail = events["FAIL"]
    assert ("file", str(missing)) in dataset_keys(fail["inputs"])
    assert (f"sqlite://{(data_dir / 'ledger.sqlite').absolute()}", "jobs") in dataset_keys(fail["outputs"])
    assert "outputStatistics" not in json.dumps(fail["outputs"])

    failed = [e for e in stage_events("lineage_failing", run["run_id"]) if e["type"].endswith("stage.failed")]
    assert failed and all(e["openlineagerunid"] == fail["run"]["runId"] for e in failed)


PROCESS_SPEC = """
name: lineage_in_a_process
description: A GPU-class stage, which the local profile runs as a child process.
schedule: null
stages:
  - name: step
    type: command
    compute: gpu
    with:
      argv: ["true"]
"""


def test_a_stage_in_a_child_process_reports_and_links_the_same_way(run_in_process, lineage_receiver, config_copy,
                                                                   data_dir):
    """LocalProcessStageOperator: the child process gets the run id, and COMPLETE reads what it recorded."""
    (config_copy / "pipelines" / "lineage_in_a_process.yaml").write_text(PROCESS_SPEC)
    run = run_in_process("lineage_in_a_process", {}, lineage_url=lineage_receiver.url)
    assert run["state"] == "success", run
    assert lineage_receiver.invalid == [], lineage_receiver.invalid[:3]

    events = lineage_receiver.task_events("lineage_in_a_process")["step"]
    assert set(events) == {"START", "COMPLETE"}
    complete = events["COMPLETE"]
    assert complete["job"]["facets"]["jobType"]["jobType"] == "TASK"
    assert complete["run"]["facets"]["airflow"]["task"]["operator_class"] == "LocalProcessStageOperator"
    own_folder = ("file", str((run_dir("lineage_in_a_process", run["run_id"]) / "step").absolute()))
    assert own_folder in dataset_keys(complete["outputs"])
    recorded = stage_events("lineage_in_a_process", run["run_id"])
    assert {e["type"].rsplit(".", 1)[-1] for e in recorded} == {"started", "completed"}
    assert {e["openlineagerunid"] for e in recorded} == {complete["run"]["runId"]}


def test_without_a_lineage_setting_events_carry_no_run_id(run_in_process, data_dir):
    """Off unless configured: no transport, so the stages' CloudEvents name no OpenLineage run."""
    run = run_in_process("example_hello", {})
    assert run["state"] == "success", run
    recorded = stage_events("example_hello", run["run_id"])
    assert recorded and all("openlineagerunid" not in e for e in recorded)
