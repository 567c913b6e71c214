"""One ResolvedStage per stage, read by the builder, the runner, the DAG docs, ``render`` and the UI.

They used to recompute a stage's settings in four places and disagreed (the
DAG docs printed ``compute: default`` for a GPU stage).  These tests take the
resolved stages as the truth and check every reader against them.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline_factory.resilience.policy import Policy
from pipeline_factory.spec.loader import load_specs

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def shipped():
    return load_specs(config_dir=ROOT / "config")


def _built(specs, name):
    from pipeline_factory.factory.builder import build_dag

    return build_dag(specs.specs[name], policies=specs.policies, profile_name=specs.profile_name,
                     profile=specs.profile, auto_register=False)


def test_builder_tasks_match_the_resolved_stages(shipped):
    for name, loaded in shipped.specs.items():
        dag = _built(shipped, name)
        for stage in loaded.stages.values():
            task = dag.get_task(stage.name)
            assert task.retries == stage.budget.airflow_retries, (name, stage.name)
            assert (task.pool if task.pool != "default_pool" else None) == stage.pool, (name, stage.name)
            assert sorted(task.upstream_task_ids) == sorted(stage.upstream)
            if stage.operator == "gate":
                assert task.timeout == (stage.timeout or task.timeout)
            elif stage.timeout is not None:
                assert task.execution_timeout.total_seconds() == stage.timeout
            operator = type(task).__name__
            expected = {"task": "StageOperator", "gpu": "LocalProcessStageOperator", "gate": "LedgerGateSensor",
                        "approval": "PromotionApprovalOperator"}[stage.operator]
            assert operator == expected, (name, stage.name)


def test_dag_docs_show_the_effective_compute(config_copy: Path):
    """A stage whose type defaults to the GPU shows ``gpu`` in the DAG docs (it used to say ``default``)."""
    (config_copy / "pipelines" / "convert.yaml").write_text(
        "name: convert\nstages:\n  - name: to_ir\n    type: pdf_to_ir\n    policy: gpu-bound\n")
    specs = load_specs(config_dir=config_copy)
    dag = _built(specs, "convert")
    row = next(line for line in dag.doc_md.splitlines() if line.startswith("| `to_ir`"))
    assert row.rstrip().endswith("| gpu |")
    assert "default" not in row.split("|")[-2]
    assert type(dag.get_task("to_ir")).__name__ == "LocalProcessStageOperator"


def test_render_and_ui_read_the_resolved_stages(shipped, capsys):
    from pipeline_factory.cli import main
    from pipeline_factory.ui.overview import pipelines_overview

    overview = {p["name"]: p for p in pipelines_overview()["pipelines"]}
    for name, loaded in shipped.specs.items():
        assert main(["render", name, "--format", "json"]) == 0
        rendered = json.loads(capsys.readouterr().out)
        assert rendered["stages"] == [stage.summary() for stage in loaded.stages.values()]
        ui = {s["name"]: s for s in overview[name]["stages"]}
        for stage in loaded.stages.values():
            assert (ui[stage.name]["compute"], ui[stage.name]["pool"], ui[stage.name]["retries"],
                    ui[stage.name]["timeout_seconds"], ui[stage.name]["inputs"]) == (
                stage.compute, stage.pool, stage.budget.airflow_retries, stage.timeout, dict(stage.inputs))


def test_runner_gives_the_stage_its_in_task_share(config_copy: Path, tmp_path: Path, monkeypatch):
    """The runner's context carries the resolved inputs, compute and the in-task part of the budget."""
    from pipeline_factory.runner import run_stage

    seen = {}

    def spy(self, ctx, params):
        seen.update(inputs=dict(ctx.inputs), compute=ctx.compute, attempts=ctx.policy.max_attempts)
        return {}

    from pipeline_factory.stages.generic.echo import Echo

    monkeypatch.setattr(Echo, "run", spy)
    (config_copy / "pipelines" / "spy.yaml").write_text(
        "name: spy\nstages:\n  - name: a\n    type: echo\n    policy: default\n")
    run_stage("spy", "a", run_id="r1", run_dir=tmp_path / "run")
    assert seen == {"inputs": {}, "compute": "cpu", "attempts": 1}  # echo does not retry in task


# -- the retry budget ----------------------------------------------------------------------------------


def test_polite_api_is_five_attempts_in_all_not_twenty_five(shipped):
    loaded = shipped.specs["graphrag_incremental"]
    stage = loaded.stages["collect_pubmed"]
    assert stage.policy.max_attempts == 5
    assert (stage.budget.in_task_attempts, stage.budget.task_attempts, stage.budget.total) == (5, 1, 5)
    assert stage.policy.for_task(stage.budget).max_attempts == 5
    assert _built(shipped, "graphrag_incremental").get_task("collect_pubmed").retries == 0
    # a stage without in-task retries gets every attempt from Airflow
    report = loaded.stages["update_graph"]
    assert (report.budget.in_task_attempts, report.budget.task_attempts) == (1, report.policy.max_attempts)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(max_attempts=st.integers(1, 100), task_attempts=st.none() | st.integers(1, 100),
       retries_in_task=st.booleans())
def test_the_total_never_exceeds_the_policy(max_attempts, task_attempts, retries_in_task):
    if task_attempts is not None and task_attempts > max_attempts:
        with pytest.raises(ValueError, match="task_attempts"):
            Policy(max_attempts=max_attempts, task_attempts=task_attempts)
        return
    policy = Policy(max_attempts=max_attempts, task_attempts=task_attempts)
    budget = policy.budget(retries_in_task=retries_in_task)
    assert 1 <= budget.total <= max_attempts
    assert budget.total == budget.task_attempts * budget.in_task_attempts
    assert policy.airflow_task_kwargs(budget)["retries"] == budget.task_attempts - 1
    assert policy.for_task(budget).max_attempts == budget.in_task_attempts
    if not retries_in_task:
        assert budget.total == max_attempts and budget.in_task_attempts == 1
    elif task_attempts is None:
        assert budget.total == max_attempts and budget.task_attempts == 1
