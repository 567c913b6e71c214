"""Values ``validate`` used to accept that ``render`` crashed on or that could never work at run time.

Gate conditions are checked against the ledger's real fields and types, cron
is exactly Airflow's 5 fields, numbers are finite and bounded and never
booleans, and params resolve the way Airflow's ``Param`` resolves them.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline_factory.spec.loader import load_specs

STAGE = "stages:\n  - name: a\n    type: echo\n"
GATE = ("stages:\n  - name: a\n    type: echo\n  - name: wait\n    type: gate\n"
        "    condition: {{ledger_field: {field}, equals: {equals}}}\n")

#: text -> (line, path, type)
CASES = {
    "gate_field_typo": ("name: x\n" + GATE.format(field="pdf_ir_redy", equals="true"), 7, "stages.1.condition",
                        "value_error"),
    "gate_field_not_gateable": ("name: x\n" + GATE.format(field="error", equals="x"), 7, "stages.1.condition",
                                "value_error"),
    "gate_string_for_boolean": ("name: x\n" + GATE.format(field="pdf_ir_ready", equals="'true'"), 7,
                                "stages.1.condition", "value_error"),
    "gate_int_for_boolean": ("name: x\n" + GATE.format(field="pdf_ir_ready", equals="1"), 7, "stages.1.condition",
                             "value_error"),
    "gate_unknown_state": ("name: x\n" + GATE.format(field="state", equals="done"), 7, "stages.1.condition",
                           "value_error"),
    "cron_with_seconds": ("name: x\nschedule: '0 0 2 * * 0'\n" + STAGE, 2, "schedule", "value_error"),
    "cron_with_years": ("name: x\nschedule: '0 2 * * 0 2027 1'\n" + STAGE, 2, "schedule", "value_error"),
    "cron_four_fields": ("name: x\nschedule: '0 2 * *'\n" + STAGE, 2, "schedule", "value_error"),
    "cron_never_fires": ("name: x\nschedule: '0 0 30 2 *'\n" + STAGE, 2, "schedule", "value_error"),
    "sweep_cron_with_seconds": ("name: x\nschedule:\n  assets: [a://b]\n  or_cron: '0 0 2 * * 0'\n" + STAGE, 4,
                                "schedule.or_cron", "value_error"),
    "sweep_preset": ("name: x\nschedule:\n  assets: [a://b]\n  or_cron: '@daily'\n" + STAGE, 4, "schedule.or_cron",
                     "value_error"),
    "sweep_without_cron": ("name: x\nschedule:\n  assets: [a://b]\n" + STAGE, 2, "schedule.or_cron", "missing"),
    "assets_empty_list": ("name: x\nschedule: []\n" + STAGE, 2, "schedule", "value_error"),
    "sweep_without_assets": ("name: x\nschedule:\n  assets: []\n  or_cron: '0 * * * *'\n" + STAGE, 3,
                             "schedule.assets", "value_error"),
    "sweep_bad_uri": ("name: x\nschedule:\n  assets: {any: [a://b, nope]}\n  or_cron: '0 * * * *'\n" + STAGE, 3,
                      "schedule.assets.any.1", "string_pattern_mismatch"),
    "timeout_infinite": ("name: x\n" + STAGE + "    timeout: .inf\n", 5, "stages.0.timeout", "finite_number"),
    "timeout_nan": ("name: x\n" + STAGE + "    timeout: .nan\n", 5, "stages.0.timeout", "finite_number"),
    "timeout_boolean": ("name: x\n" + STAGE + "    timeout: yes\n", 5, "stages.0.timeout", "float_type"),
    "timeout_string": ("name: x\n" + STAGE + "    timeout: '600'\n", 5, "stages.0.timeout", "float_type"),
    "timeout_huge": ("name: x\n" + STAGE + "    timeout: 100000000000000000000000000\n", 5, "stages.0.timeout",
                     "less_than_equal"),
    "poke_interval_boolean": ("name: x\n" + GATE.format(field="pdf_ir_ready", equals="true")
                              + "    poke_interval: true\n", 8, "stages.1.poke_interval", "float_type"),
    "max_active_runs_boolean": ("name: x\nmax_active_runs: true\n" + STAGE, 2, "max_active_runs", "int_type"),
    "max_active_runs_huge": ("name: x\nmax_active_runs: 10000000000000000000000000\n" + STAGE, 2,
                             "max_active_runs", "less_than_equal"),
    "catchup_number": ("name: x\ncatchup: 1\n" + STAGE, 2, "catchup", "bool_type"),
    "start_date_year_1": ("name: x\nstart_date: 0001-01-01\n" + STAGE, 2, "start_date", "value_error"),
    "tag_too_long": ("name: x\ntags: [" + "t" * 101 + "]\n" + STAGE, 2, "tags.0", "string_too_long"),
    "scheduled_param_without_default": ("name: x\nschedule: '@daily'\nparams:\n  n: {type: integer}\n" + STAGE, 4,
                                        "params.n", "param_without_default"),
    "null_default_for_string": ("name: x\nschedule: '@daily'\nparams:\n  s: {type: string, default: null}\n"
                                + STAGE, 4, "params.s.default", "param_default"),
    "date_default": ("name: x\nparams:\n  d: {type: string, default: 2026-01-01}\n" + STAGE, 3, "params.d",
                     "param_schema"),
    "bad_format_default": ("name: x\nparams:\n  d: {type: string, format: date, default: '2026-02-30'}\n" + STAGE,
                           3, "params.d.default", "param_default"),
    "invalid_param_schema": ("name: x\nparams:\n  n: {type: integer, minimum: low}\n" + STAGE, 3, "params.n",
                             "param_schema"),
}


@pytest.mark.parametrize(("text", "line", "path", "error_type"), CASES.values(), ids=CASES.keys())
def test_value_that_cannot_run_is_a_spec_problem(config_copy: Path, text, line, path, error_type):
    (config_copy / "pipelines" / "bad.yaml").write_text(text)
    specs = load_specs(config_dir=config_copy)
    mine = [(p.line, p.path, p.type) for p in specs.problems if p.file.endswith("bad.yaml")]
    assert (line, path, error_type) in mine, mine
    assert "x" not in specs.specs


@pytest.mark.parametrize("schedule", ["0 2 * * 0", "*/2 * * * *", "0 0 L * *", "@daily", "P15D", None,
                                      "{assets: [a://b], or_cron: '0 * * * *'}",
                                      "{assets: {any: [a://b, {all: [c://d, e://f]}]}, or_cron: '*/30 * * * *'}"])
def test_valid_schedules_still_pass(config_copy: Path, schedule):
    written = schedule if schedule is None or schedule.startswith("{") else repr(schedule)
    text = f"name: ok\nschedule: {written}\n" + STAGE
    (config_copy / "pipelines" / "ok.yaml").write_text(text.replace("schedule: None", "schedule: null"))
    specs = load_specs(config_dir=config_copy)
    assert "ok" in specs.specs, specs.problems


@pytest.mark.parametrize(("schedule", "paths"), [
    ("{any: []}", ["schedule.any"]),
    ("{assets: [a://b], or_cron: '0 0 2 * * 0'}", ["schedule.or_cron"]),
    ("{any: [a://b, {all: [c://d, x]}]}", ["schedule.any.1.all.1"]),
    ("5", ["schedule"]),
])
def test_a_schedule_error_speaks_of_the_form_written_only(config_copy: Path, schedule: str, paths: list[str]):
    """The mapping forms are told apart by their keys: no problems from the forms the author did not write."""
    (config_copy / "pipelines" / "bad.yaml").write_text(f"name: x\nschedule: {schedule}\n" + STAGE)
    specs = load_specs(config_dir=config_copy)
    assert [p.path for p in specs.problems if p.file.endswith("bad.yaml")] == paths


_URIS = st.sampled_from(["a://b", "c://d", "nope", ""])
_CONDITION = st.recursive(
    _URIS, lambda inner: st.dictionaries(st.sampled_from(["all", "any", "x"]), st.lists(inner, max_size=3),
                                         min_size=1, max_size=2), max_leaves=6)
_SCHEDULE_MAPPING = st.dictionaries(
    st.sampled_from(["all", "any", "assets", "or_cron", "x"]),
    _CONDITION | st.lists(_CONDITION, max_size=3) | st.sampled_from(["0 * * * *", "0 0 2 * * 0", "@daily", 5]),
    min_size=1, max_size=3)


def _form_keys(mapping: dict) -> set[str]:
    """The keys the form chosen by an author's keys may ask for: the ones written, and that form's own."""
    if "assets" in mapping or "or_cron" in mapping:
        return set(mapping) | {"assets", "or_cron"}
    return set(mapping) | ({"any"} if "any" in mapping and "all" not in mapping else {"all"})


@settings(max_examples=80, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(schedule=_SCHEDULE_MAPPING)
def test_any_schedule_mapping_is_judged_as_the_form_its_keys_name(config_copy: Path, schedule: dict):
    """Whatever mapping an author writes, no problem speaks of a key of another form, and none is unplaced."""
    path = config_copy / "pipelines" / "bad.yaml"
    path.write_text(f"name: x\nschedule: {json.dumps(schedule)}\n" + STAGE)
    specs = load_specs([path], config_dir=config_copy)
    allowed = _form_keys(schedule)
    for problem in specs.problems:
        assert problem.line == 2 and problem.column >= 1, problem
        parts = problem.path.split(".")
        assert parts[0] == "schedule", problem
        if len(parts) > 1:
            assert parts[1] in allowed, (problem, schedule)


def test_numbers_in_policies_are_bounded(config_copy: Path):
    policies = config_copy / "policies.yaml"
    policies.write_text(policies.read_text().replace("max_attempts: 5", "max_attempts: true"))
    specs = load_specs(config_dir=config_copy)
    assert [(p.path, p.type) for p in specs.problems] == [("policies.polite-api.max_attempts", "int_type")]


def test_gate_fields_match_the_ledger_table():
    """The light copy the spec checks read agrees with the ledger's real table and the gate's query."""
    from pipeline_factory.stores.gate_fields import GATE_FIELD_TYPES, JOB_STATES
    from pipeline_factory.stores.ledger import GATE_FIELDS
    from pipeline_factory.stores.ledger_schema import JOB_STATES as TABLE_STATES
    from pipeline_factory.stores.ledger_schema import Job

    assert set(GATE_FIELD_TYPES) == set(GATE_FIELDS)
    for field, python_type in GATE_FIELD_TYPES.items():
        assert Job.__table__.columns[field].type.python_type is python_type
    assert JOB_STATES == TABLE_STATES


def test_every_registered_stage_type_renders(config_copy: Path):
    """Each stage type the registry offers, alone in a spec with default params, renders and validates."""
    from airflow.serialization.serialized_objects import DagSerialization

    from pipeline_factory.factory.builder import build_dag
    from pipeline_factory.stages.registry import default_registry

    for stage_type in default_registry():
        (config_copy / "pipelines" / "one.yaml").write_text(
            f"name: one_{stage_type.name}\nstages:\n  - name: s\n    type: {stage_type.name}\n"
            + ("    condition: {ledger_field: pdf_ir_ready}\n" if stage_type.kind == "gate" else ""))
        specs = load_specs([config_copy / "pipelines" / "one.yaml"], config_dir=config_copy)
        for loaded in specs.specs.values():
            dag = build_dag(loaded, policies=specs.policies, profile_name=specs.profile_name,
                            profile=specs.profile, auto_register=False)
            dag.validate()
            DagSerialization.to_dict(dag)
