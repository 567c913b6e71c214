"""The published JSON Schemas: current, and checked by a real JSON Schema validator.

An editor with the YAML language server validates specs against
``config/schema/pipeline.schema.json``; it must accept every spec the loader
accepts and reject what a schema can express of what the loader rejects.
"""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline_factory.spec.schema import schema_texts
from pipeline_factory.stages.registry import default_registry

from .test_invalid_specs import CASES

ROOT = Path(__file__).resolve().parents[3]
SHIPPED = sorted(p for p in (ROOT / "config" / "pipelines").glob("*.yaml") if p.name != "defaults.yaml")
EXAMPLES = sorted((ROOT / "examples" / "specs").glob("*.yaml"))
#: Invalid catalog entries a JSON Schema can express (the rest need the YAML text, the registry's
#: ports, the graph, cron parsing or the run params, which only the loader has).
EXPRESSIBLE = {
    "python_tag": False, "empty_file": True, "not_a_mapping": True, "unknown_stage_type": True,
    "unknown_policy": True, "unknown_default_policy": True, "gate_without_condition": True,
    "condition_on_task_stage": True, "wrong_type": True, "wrong_type_in_stage_params": True, "unknown_key": True,
    "unknown_stage_key": True, "unknown_param_key": True, "missing_stages": True, "bad_name": True,
    "unknown_notifier_type": True, "notifier_typo": True, "unknown_pool": True,
}


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    schema = json.loads((ROOT / "config" / "schema" / "pipeline.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def _as_json(text: str):
    """What an editor's YAML language server validates: the document, dates as strings."""
    return json.loads(json.dumps(yaml.safe_load(text), default=str))


def test_committed_schemas_are_current():
    for name, text in schema_texts(ROOT / "config").items():
        committed = (ROOT / "config" / "schema" / name).read_text()
        assert committed == text, f"config/schema/{name} is stale: run `python -m pipeline_factory schema`"


@pytest.mark.parametrize("path", SHIPPED + EXAMPLES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_every_shipped_and_example_spec_is_accepted(validator, path: Path):
    errors = [f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(
        _as_json(path.read_text()))]
    assert errors == []


@pytest.mark.parametrize("case", sorted(k for k, v in EXPRESSIBLE.items() if v))
def test_invalid_specs_a_schema_can_express_are_rejected(validator, case: str):
    assert list(validator.iter_errors(_as_json(CASES[case][0])))


def test_with_is_typed_per_stage_type(validator):
    params = {"search_terms": ["TP53"], "max_results_per_term": "many"}
    spec = {"name": "x", "stages": [{"name": "a", "type": "collect_pubmed", "with": params}]}
    [error] = validator.iter_errors(spec)
    assert error.json_path == "$.stages[0].with.max_results_per_term"
    params["max_results_per_term"] = "{{ params.max_results_per_term }}"
    assert not list(validator.iter_errors(spec))  # a run-param reference stands in for any value


def test_gate_condition_values_are_typed(validator):
    gate = {"name": "wait", "type": "gate", "condition": {"ledger_field": "pdf_ir_ready", "equals": "yes"}}
    assert list(validator.iter_errors({"name": "x", "stages": [gate]}))
    gate["condition"]["equals"] = True
    assert not list(validator.iter_errors({"name": "x", "stages": [gate]}))
    gate["condition"] = {"ledger_field": "state", "equals": "exploded"}
    assert list(validator.iter_errors({"name": "x", "stages": [gate]}))


@settings(max_examples=40, deadline=None)
@given(type_name=st.sampled_from(default_registry().names()), key=st.from_regex(r"\A[a-z]{3,12}_zz\Z"))
def test_every_stage_type_rejects_an_unknown_parameter(validator, type_name: str, key: str):
    stage = {"name": "a", "type": type_name, "with": {key: 1}}
    if default_registry().get(type_name).kind == "gate":
        stage["condition"] = {"ledger_field": "pdf_ir_ready"}
    assert list(validator.iter_errors({"name": "x", "stages": [stage]}))


def test_example_specs_validate():
    from pipeline_factory.spec.loader import load_specs

    specs = load_specs(EXAMPLES)
    assert specs.problems == [] and len(specs.specs) == len(EXAMPLES) >= 3


def test_asset_conditions_are_typed(validator):
    stage = {"name": "a", "type": "echo"}
    good = {"any": ["pipeline://a", {"all": ["pipeline://b", "pipeline://c"]}]}
    assert not list(validator.iter_errors({"name": "x", "schedule": good, "stages": [stage]}))
    for bad in ({"any": []}, {"either": ["pipeline://a"]}, {"all": ["not a uri"]}):
        assert list(validator.iter_errors({"name": "x", "schedule": bad, "stages": [stage]})), bad
    assert list(validator.iter_errors({"name": "x", "stages": [{**stage, "outlets": ["nope"]}]}))
