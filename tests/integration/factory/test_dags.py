"""The DAG files under a real Airflow: DagBag parsing and ``dag.test()`` runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

HEAVY = ("mlflow", "lightgbm", "xgboost", "torch", "neo4j", "qdrant_client", "sentence_transformers", "pandas",
         "openlineage")


def _bag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"])


def test_every_shipped_spec_becomes_a_dag(dagbag, project_root: Path):
    from pipeline_factory.spec.loader import load_specs

    assert dagbag.import_errors == {}
    specs = load_specs()
    assert set(specs.specs) == set(dagbag.dag_ids)
    dag = dagbag.get_dag("example_hello")
    assert "config/pipelines/example_hello.yaml" in dag.doc_md
    assert dag.owner == "data-platform"
    assert "pipeline-factory" in dag.tags


def test_broken_spec_is_an_import_error_and_hides_nothing(airflow_db, config_copy: Path):
    (config_copy / "pipelines" / "broken_one.yaml").write_text(
        "name: broken_one\nstages:\n  - name: a\n    type: echoo\n"
    )
    (config_copy / "pipelines" / "dropped_in.yaml").write_text(
        "name: dropped_in\nstages:\n  - name: only\n    type: echo\n"
    )
    bag = _bag()
    assert "dropped_in" in bag.dag_ids  # "drop a YAML file, see a DAG"
    assert "example_hello" in bag.dag_ids
    assert "broken_one" not in bag.dag_ids
    [(path, error)] = bag.import_errors.items()
    assert path.endswith("pipeline_spec_errors.py")
    assert "broken_one.yaml:4:" in error and "stages.0.type" in error and "did you mean 'echo'?" in error


def test_import_error_names_the_yaml_files_first(airflow_db, config_copy: Path, monkeypatch: pytest.MonkeyPatch):
    """As the deployments configure Airflow (no traceback): the panel's text starts with the broken files."""
    monkeypatch.setenv("AIRFLOW__CORE__DAGBAG_IMPORT_ERROR_TRACEBACKS", "False")
    (config_copy / "pipelines" / "broken_one.yaml").write_text(
        "name: broken_one\nstages:\n  - name: a\n    type: echoo\n"
    )
    bag = _bag()
    [(_path, error)] = bag.import_errors.items()
    first = error.splitlines()[0]
    assert "broken_one.yaml" in first and "Traceback" not in first
    assert "broken_one.yaml:4:" in error.splitlines()[1]


def test_dag_test_runs_the_pipeline_with_conf(dag_runner, dagbag):
    dag = dagbag.get_dag("example_hello")
    run = dag_runner.run(dag, {"greeting": "bonjour"})
    assert run.state == "success"
    assert set(dag_runner.states(run).values()) == {"success"}
    from pipeline_factory.workspace import run_dir

    echoed = json.loads((run_dir("example_hello", run.run_id) / "greet" / "echo.json").read_text())
    assert echoed["message"] == "bonjour"


def test_conf_is_validated_by_params(dag_runner, dagbag):
    from airflow.sdk.exceptions import ParamValidationError

    with pytest.raises(ParamValidationError):
        dag_runner.run(dagbag.get_dag("example_hello"), {"repeat": 50})


FAIL_AND_SKIP = """\
name: fail_and_skip
default_policy: fast-fail
stages:
  - name: nothing_to_do
    type: echo
    with: {skip: true}
  - name: after_skip
    type: echo
  - name: breaks
    type: echo
    depends_on: []
    with: {fail: true}
  - name: after_failure
    type: echo
  - name: gpu_step
    type: command
    compute: gpu
    depends_on: []
    with: {argv: ["python", "-c", "print('on the accelerator')"]}
"""


def test_failure_skip_and_local_gpu_process(dag_runner, airflow_db, config_copy: Path):
    (config_copy / "pipelines" / "fail_and_skip.yaml").write_text(FAIL_AND_SKIP)
    dag = _bag().get_dag("fail_and_skip")
    run = dag_runner.run(dag)
    states = dag_runner.states(run)
    assert run.state == "failed"
    assert states == {
        "nothing_to_do": "skipped",
        "after_skip": "skipped",
        "breaks": "failed",
        "after_failure": "upstream_failed",
        "gpu_step": "success",
    }
    from pipeline_factory.workspace import run_dir

    out = run_dir("fail_and_skip", run.run_id) / "gpu_step" / "stdout.txt"
    assert out.read_text().strip() == "on the accelerator"


def test_parsing_dags_imports_no_heavy_library(project_root: Path):
    code = (
        "import sys, time, runpy; t = time.perf_counter();"
        "runpy.run_path('dags/pipelines.py');"
        "print(time.perf_counter() - t);"
        f"print([m for m in {HEAVY!r} if m in sys.modules])"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=project_root, capture_output=True, text=True,
                          timeout=120, env=os.environ.copy())
    assert proc.returncode == 0, proc.stderr
    seconds, loaded = proc.stdout.strip().splitlines()[-2:]
    assert loaded == "[]", f"dags/pipelines.py pulled in {loaded}"
    assert float(seconds) < 20


@pytest.mark.parametrize("pipeline", ["example_hello", "pdf_ir_worker"])
def test_every_stage_renamed_gives_the_same_outcome(dag_runner, airflow_db, config_copy: Path, renamed_pipeline,
                                                    pipeline):
    from pipeline_factory.factory.dagfile import render_all

    def outcome(names: dict[str, str]) -> tuple[str, dict[str, str]]:
        rendered = render_all(auto_register=False)
        assert not rendered.problems, rendered.problems
        run = dag_runner.run(rendered.dags[pipeline])
        back = {new: old for old, new in names.items()}
        return run.state, {back.get(task, task): state for task, state in dag_runner.states(run).items()}

    shipped = outcome({})
    renamed = outcome(renamed_pipeline(pipeline))
    assert renamed == shipped
