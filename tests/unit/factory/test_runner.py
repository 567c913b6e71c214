"""The stage runner: one entrypoint, exit codes the operators map to task states."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline_factory.exceptions import StageParamsError
from pipeline_factory.runner import run_stage
from pipeline_factory.workspace import run_dir, safe_run_id


def _runner(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipeline_factory.runner", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120, env=os.environ.copy())


def test_run_stage_substitutes_params_and_writes_result(tmp_path: Path):
    result = run_stage("example_hello", "greet", run_id="manual__2026-01-01T00:00:00+00:00",
                       params={"greeting": "hej"})
    assert result == {"message": "hej"}
    directory = run_dir("example_hello", "manual__2026-01-01T00:00:00+00:00")
    assert directory.name == safe_run_id("manual__2026-01-01T00:00:00+00:00") == "manual__2026-01-01T00_00_00_00_00"
    assert json.loads((directory / "greet" / "result.json").read_text()) == {"message": "hej"}


def test_run_params_are_validated_against_the_stage_model():
    with pytest.raises(StageParamsError, match="greet"):
        run_stage("example_hello", "greet", run_id="r-bad", params={"greeting": 42})


def test_downstream_sees_upstream_results(tmp_path: Path):
    run_stage("example_hello", "greet", run_id="r-up", params={})
    run_stage("example_hello", "list_workspace", run_id="r-up", params={})
    run_stage("example_hello", "summarize", run_id="r-up", params={})
    echoed = json.loads((run_dir("example_hello", "r-up") / "summarize" / "echo.json").read_text())
    assert echoed["upstream"] == ["greet", "list_workspace"]


def test_exit_codes(project_root: Path):
    ok = _runner("example_hello", "greet", "--run-id", "r-cli", "--params", '{"greeting": "yo"}', cwd=project_root)
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout.strip().splitlines()[-1]) == {"message": "yo"}
    assert _runner("no_such", "greet", cwd=project_root).returncode == 2
    assert _runner("example_hello", "greet", "--params", "[1]", cwd=project_root).returncode == 2
    assert _runner("example_hello", "greet", "--params", '{"greeting": 5}', cwd=project_root).returncode == 1


def test_every_stage_leaves_lifecycle_events_in_the_ledger():
    from pipeline_factory.stores.ledger import Ledger, run_key

    run_stage("example_hello", "greet", run_id="r-events", params={"greeting": "ev"})
    with pytest.raises(StageParamsError):
        run_stage("example_hello", "greet", run_id="r-events", params={"greeting": 1})
    events = Ledger.from_env().events(dag_run_id=run_key("example_hello", "r-events"))
    types = [e["type"] for e in events]
    assert types == ["org.pipeline-factory.stage.started", "org.pipeline-factory.stage.completed"]
    completed = events[-1]
    assert completed["specversion"] == "1.0" and completed["subject"] == "greet"
    assert completed["source"].endswith("example_hello/greet")
    assert completed["data"]["result"] == {"message": "ev"}
