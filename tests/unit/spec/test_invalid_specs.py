"""Every kind of bad input gets an error naming its file, line and field.

Assertions are on line, path and error type, never on message wording.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from pipeline_factory.spec.loader import load_specs

VALID = """\
name: {name}
schedule: "0 2 * * 0"
stages:
  - name: first
    type: echo
    with: {{message: hi}}
  - name: second
    type: echo
"""

CASES = {
    "yaml_syntax": ("name: x\nstages: [\n  - name: a\n", 3, "", "yaml_syntax"),
    "duplicate_yaml_key": ("name: x\nname: y\nstages: []\n", 2, "name", "duplicate_key"),
    "python_tag": ("name: !!python/name:os.system x\nstages: []\n", 1, "name", "yaml_tag"),
    "empty_file": ("", 1, "", "empty_file"),
    "not_a_mapping": ("- name: x\n", 1, "", "not_a_mapping"),
    "unknown_stage_type": (
        "name: x\nstages:\n  - name: a\n    type: ecoh\n", 4, "stages.0.type", "unknown_stage_type"),
    "unknown_policy": (
        "name: x\nstages:\n  - name: a\n    type: echo\n    policy: polite-apy\n", 5, "stages.0.policy",
        "unknown_policy"),
    "policy_not_applied": (
        "name: x\nstages:\n  - name: a\n    type: echo\n    policy: polite-api\n", 5, "stages.0.policy",
        "policy_not_applied"),
    "unknown_default_policy": (
        "name: x\ndefault_policy: nope\nstages:\n  - name: a\n    type: echo\n", 2, "default_policy",
        "unknown_policy"),
    "unknown_dependency": (
        "name: x\nstages:\n  - name: a\n    type: echo\n    depends_on: [b]\n", 5, "stages.0.depends_on.0",
        "unknown_dependency"),
    "self_dependency": (
        "name: x\nstages:\n  - name: a\n    type: echo\n    depends_on: [a]\n", 5, "stages.0.depends_on.0",
        "self_dependency"),
    "cycle": (
        "name: x\nstages:\n  - name: a\n    type: echo\n    depends_on: [b]\n"
        "  - name: b\n    type: echo\n    depends_on: [a]\n", 5, "stages.0.depends_on", "dependency_cycle"),
    "duplicate_stage": (
        "name: x\nstages:\n  - name: a\n    type: echo\n  - name: a\n    type: echo\n", 5, "stages.1.name",
        "duplicate_stage"),
    "invalid_cron": ("name: x\nschedule: '61 2 * * *'\nstages:\n  - name: a\n    type: echo\n", 2, "schedule",
                     "value_error"),
    "unknown_preset": ("name: x\nschedule: '@fortnightly'\nstages:\n  - name: a\n    type: echo\n", 2,
                       "schedule", "value_error"),
    "gate_without_condition": (
        "name: x\nstages:\n  - name: a\n    type: echo\n  - name: wait\n    type: gate\n", 5, "stages.1",
        "gate_condition"),
    "condition_on_task_stage": (
        "name: x\nstages:\n  - name: a\n    type: echo\n    condition: {ledger_field: pdf_ir_ready}\n", 5,
        "stages.0.condition", "gate_only"),
    "wrong_type": ("name: x\nmax_active_runs: many\nstages:\n  - name: a\n    type: echo\n", 2,
                   "max_active_runs", "int_type"),
    "wrong_type_in_stage_params": (
        "name: x\nstages:\n  - name: a\n    type: command\n    with:\n      argv: ls\n", 6,
        "stages.0.with.argv", "list_type"),
    "unknown_key": ("name: x\nshedule: '@daily'\nstages:\n  - name: a\n    type: echo\n", 2, "shedule",
                    "extra_forbidden"),
    "unknown_stage_key": ("name: x\nstages:\n  - name: a\n    type: echo\n    dependson: []\n", 5,
                          "stages.0.dependson", "extra_forbidden"),
    "unknown_param_key": ("name: x\nstages:\n  - name: a\n    type: echo\n    with: {mesage: hi}\n", 5,
                          "stages.0.with.mesage", "extra_forbidden"),
    "missing_stages": ("name: x\ndescription: no stages\n", 1, "stages", "missing"),
    "bad_name": ("name: 'my dag'\nstages:\n  - name: a\n    type: echo\n", 1, "name", "string_pattern_mismatch"),
    "unknown_param_reference": (
        "name: x\nstages:\n  - name: a\n    type: echo\n    with: {message: '{{ params.nope }}'}\n", 5,
        "stages.0.with.message", "unknown_param"),
    "param_default_mismatch": (
        "name: x\nparams:\n  n: {type: integer, default: ten}\nstages:\n  - name: a\n    type: echo\n", 3,
        "params.n.default", "param_default"),
    "unknown_notifier_type": (
        "name: x\nnotifications:\n  on_failure:\n    - {type: pager}\nstages:\n  - name: a\n    type: echo\n", 4,
        "notifications.on_failure.0", "union_tag_invalid"),
    "notifier_typo": (
        "name: x\nnotifications:\n  on_success: [{type: smtp, too: [a@b.c]}]\nstages:\n  - name: a\n    type: echo\n",
        3, "notifications.on_success.0.too", "extra_forbidden"),
    "unknown_pool": ("name: x\nstages:\n  - name: a\n    type: echo\n    pool: ncbii\n", 5, "stages.0.pool",
                     "unknown_pool"),
}


def _load_one(config: Path, text: str, name: str = "broken.yaml"):
    path = config / "pipelines" / name
    path.write_text(text)
    return load_specs(config_dir=config)


@pytest.mark.parametrize(("text", "line", "path", "error_type"), CASES.values(), ids=CASES.keys())
def test_bad_spec_names_file_line_and_field(config_copy: Path, text, line, path, error_type):
    specs = _load_one(config_copy, text)
    mine = [p for p in specs.problems if p.file.endswith("broken.yaml")]
    assert mine, specs.problems
    found = [(p.line, p.path, p.type) for p in mine]
    assert (line, path, error_type) in found
    formatted = mine[0].format()
    assert formatted.startswith(f"{mine[0].file}:{mine[0].line}:{mine[0].column}: ")


@pytest.mark.parametrize("case", ["unknown_stage_type", "yaml_syntax", "cycle", "empty_file"])
def test_a_broken_spec_does_not_hide_the_valid_ones(config_copy: Path, case):
    (config_copy / "pipelines" / "other_ok.yaml").write_text(VALID.format(name="other_ok"))
    specs = _load_one(config_copy, CASES[case][0])
    assert "other_ok" in specs.specs
    assert "example_hello" in specs.specs
    assert [p for p in specs.problems if p.file.endswith("broken.yaml")]


def test_duplicate_pipeline_name_names_both_files(config_copy: Path):
    (config_copy / "pipelines" / "a_first.yaml").write_text(VALID.format(name="twin"))
    specs = _load_one(config_copy, VALID.format(name="twin"), name="b_second.yaml")
    assert "twin" in specs.specs
    assert specs.specs["twin"].file.name == "a_first.yaml"
    problem = next(p for p in specs.problems if p.type == "duplicate_pipeline")
    assert problem.file.endswith("b_second.yaml")
    assert problem.line == 1 and problem.path == "name"
    assert "a_first.yaml" in problem.message


def test_hints_suggest_the_closest_name(config_copy: Path):
    specs = _load_one(config_copy, CASES["unknown_policy"][0])
    problem = next(p for p in specs.problems if p.type == "unknown_policy")
    assert problem.hint and "'polite-api'" in problem.hint


def test_gpu_stage_without_image_in_kubernetes_profile(config_copy: Path, monkeypatch):
    runtime = config_copy / "runtime.yaml"
    runtime.write_text(runtime.read_text().replace("image: ghcr.io/pipeline-factory/stage-runner:0.1.0", ""))
    text = "name: x\nstages:\n  - name: a\n    type: command\n    compute: gpu\n    with: {argv: [nvidia-smi]}\n"
    def image_problems(specs):
        return [p for p in specs.problems if p.type == "gpu_image_missing" and p.file.endswith("broken.yaml")]

    specs = _load_one(config_copy, text)
    assert not image_problems(specs)  # local profile: no image needed
    [problem] = image_problems(load_specs(config_dir=config_copy, profile_name="kubernetes"))
    assert (problem.line, problem.path) == (5, "stages.0.compute")
    text_with_image = text + "    image: registry.example/gpu-runner:1.0\n"
    (config_copy / "pipelines" / "broken.yaml").write_text(text_with_image)
    assert not image_problems(load_specs(config_dir=config_copy, profile_name="kubernetes"))


def test_all_problems_of_a_file_are_reported_in_one_pass(config_copy: Path):
    text = textwrap.dedent("""\
        name: x
        stages:
          - name: a
            type: ecoh
          - name: b
            type: echo
            policy: nope
            depends_on: [zz]
        """)
    specs = _load_one(config_copy, text)
    types = {p.type for p in specs.problems}
    assert {"unknown_stage_type", "unknown_policy", "unknown_dependency"} <= types


def test_defaults_are_inherited_and_overridden(config_copy: Path):
    specs = _load_one(config_copy, VALID.format(name="inherits") + "owner: someone-else\n")
    spec = specs.specs["inherits"].spec
    assert spec.owner == "someone-else"
    assert spec.default_policy == "default"
    assert str(spec.start_date) == "2026-01-01"


def test_error_in_defaults_points_into_defaults_file(config_copy: Path):
    defaults = config_copy / "pipelines" / "defaults.yaml"
    defaults.write_text(defaults.read_text() + "max_active_runs: lots\n")
    specs = load_specs(config_dir=config_copy)
    problem = next(p for p in specs.problems if p.path == "max_active_runs")
    assert problem.file.endswith("defaults.yaml")
    assert problem.line == defaults.read_text().count("\n")


def test_broken_policies_file_is_reported_with_its_line(config_copy: Path):
    policies = config_copy / "policies.yaml"
    policies.write_text(policies.read_text().replace("max_attempts: 5", "max_attempts: 0"))
    specs = load_specs(config_dir=config_copy)
    assert not specs.specs
    problem = specs.problems[0]
    assert problem.file.endswith("policies.yaml")
    assert problem.path == "policies.polite-api.max_attempts"
    assert problem.type == "greater_than_equal"
