"""Fan-out: a stage mapped over a list run param (dynamic task mapping), under dag.test() and in parallel."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline_factory.spec.loader import load_specs

pytestmark = pytest.mark.integration

FAN = """\
name: fan
params:
  terms: {type: array, default: [alpha, beta, gamma], items: {type: string}}
stages:
  - name: each
    type: echo
    map_over: terms
    with: {message: hi}
  - name: after
    type: echo
"""


def _dag(config: Path, text: str = FAN):
    from pipeline_factory.factory.dagfile import render_all

    (config / "pipelines" / "fan.yaml").write_text(text)
    rendered = render_all(auto_register=False)
    assert not rendered.problems, rendered.problems
    return rendered.dags["fan"]


def test_mapped_stage_runs_once_per_element_with_readable_map_indexes(config_copy: Path, dag_runner):
    from airflow.utils.session import create_session

    from pipeline_factory.workspace import run_dir

    dag = _dag(config_copy)
    assert [t.task_id for t in dag.get_task("each").upstream_list] == ["each_items"]
    run = dag_runner.run(dag, {"terms": ["TP53", "BRCA1 cancer", "CRISPR-Cas9"]})
    assert run.state == "success"
    with create_session() as session:
        mapped = sorted((ti.map_index, ti.rendered_map_index, ti.state)
                        for ti in run.get_task_instances(session=session) if ti.task_id == "each")
    assert mapped == [(0, "TP53", "success"), (1, "BRCA1 cancer", "success"), (2, "CRISPR-Cas9", "success")]
    folder = run_dir("fan", run.run_id) / "each"
    seen = [json.loads((folder / f"map-{i}" / "echo.json").read_text())["params"]["terms"] for i in range(3)]
    assert seen == [["TP53"], ["BRCA1 cancer"], ["CRISPR-Cas9"]]  # each task: its element only


def test_an_empty_list_maps_to_no_task(config_copy: Path, dag_runner):
    run = dag_runner.run(_dag(config_copy), {"terms": []})
    states = dag_runner.states(run)
    assert states["each_items"] == "success" and states.get("each") in (None, "skipped")


@pytest.mark.parametrize(("text", "path", "error_type"), [
    (FAN.replace("map_over: terms", "map_over: termz"), "stages.0.map_over", "unknown_param"),
    (FAN.replace("terms: {type: array, default: [alpha, beta, gamma], items: {type: string}}",
                 "terms: {type: string, default: alpha}"), "stages.0.map_over", "map_over_not_a_list"),
    (FAN.replace("    with: {message: hi}", "    compute: gpu\n    with: {message: hi}"), "stages.0.map_over",
     "map_over_unsupported"),
    (FAN.replace("  - name: after", "  - name: each_items"), "stages.0.map_over", "map_items_name_taken"),
])
def test_map_over_is_validated_with_positions(config_copy: Path, text, path, error_type):
    (config_copy / "pipelines" / "broken.yaml").write_text(text)
    specs = load_specs(config_dir=config_copy)
    found = [(p.path, p.type) for p in specs.problems if p.file.endswith("broken.yaml")]
    assert (path, error_type) in found, found
    assert all(p.line == 7 for p in specs.problems if p.type == error_type and p.file.endswith("broken.yaml"))
