"""Every stage of every shipped pipeline declares its datasets, cheaply, and the runner keeps them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline_factory.lineage.declared import LINEAGE_FILE, lineage_for_run, read_lineage
from pipeline_factory.runner import run_stage
from pipeline_factory.spec.loader import load_specs
from pipeline_factory.workspace import run_dir

HEAVY = ("mlflow", "lightgbm", "xgboost", "torch", "neo4j", "qdrant_client", "pandas", "openlineage")
PARAMS = {"search_terms": ["TP53"]}


def _task_stages() -> list[tuple[str, str]]:
    found = []
    for loaded in load_specs().specs.values():
        for name, resolved in loaded.stages.items():
            if resolved.stage_type.kind == "task":
                found.append((loaded.spec.name, name))
    return found


@pytest.mark.parametrize(("pipeline", "stage"), _task_stages())
def test_every_task_stage_declares_what_it_writes(pipeline: str, stage: str):
    declared = lineage_for_run(pipeline, stage, run_id="manual__lineage", params=PARAMS)
    assert declared.outputs, f"{pipeline}.{stage} declares no output"
    for dataset in (*declared.inputs, *declared.outputs):
        assert dataset.namespace and dataset.name
        assert "://" in dataset.namespace or dataset.namespace == "file"


def test_declaring_datasets_imports_no_store_client_and_no_openlineage(project_root: Path):
    code = (
        "import sys\n"
        "from pipeline_factory.lineage.declared import lineage_for_run\n"
        "from pipeline_factory.spec.loader import load_specs\n"
        "for loaded in load_specs().specs.values():\n"
        "    for name, r in loaded.stages.items():\n"
        "        if r.stage_type.kind == 'task':\n"
        "            lineage_for_run(loaded.spec.name, name, run_id='r', params={'search_terms': ['x']})\n"
        f"print([m for m in {HEAVY!r} if m in sys.modules])\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=project_root, capture_output=True, text=True,
                          timeout=120, env=os.environ.copy())
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "[]"


def test_the_runner_keeps_the_datasets_beside_the_result_and_drops_a_stale_file():
    directory = run_dir("example_hello", "r-lineage") / "greet"
    directory.mkdir(parents=True, exist_ok=True)
    (directory / LINEAGE_FILE).write_text(json.dumps({"inputs": [], "outputs": [{"namespace": "x", "name": "old"}]}))
    run_stage("example_hello", "greet", run_id="r-lineage", params={})
    kept = read_lineage(directory)
    assert kept is not None and [d.name for d in kept.outputs] == [str(directory.absolute())]


FAILING = """
name: fails_at_once
description: One command that fails.
schedule: null
stages:
  - name: breaks
    type: command
    with:
      argv: ["false"]
"""


def test_a_failed_stage_leaves_no_lineage_file(config_copy: Path):
    """COMPLETE reads lineage.json: a failed try must not leave the previous try's behind."""
    (config_copy / "pipelines" / "fails_at_once.yaml").write_text(FAILING)
    directory = run_dir("fails_at_once", "r-fail") / "breaks"
    directory.mkdir(parents=True, exist_ok=True)
    (directory / LINEAGE_FILE).write_text(json.dumps({"inputs": [], "outputs": [{"namespace": "x", "name": "old"}]}))
    with pytest.raises(Exception):  # noqa: B017 (whatever the command stage raises for a non-zero exit)
        run_stage("fails_at_once", "breaks", run_id="r-fail", params={})
    assert not (directory / LINEAGE_FILE).exists()
