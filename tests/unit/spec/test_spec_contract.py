"""What ``validate`` accepts renders, registers and can run: a property over mutations of every shipped spec.

Each example takes one shipped spec and applies one to three random
mutations: type changes, removed and added keys, renamed, re-wired,
reordered, dropped and duplicated stages, random scalars (booleans, huge or
infinite numbers, dates, cron strings, names of real stage types, policies
and ledger fields) and, sometimes, random byte edits of the YAML text.  For
each: ``validate`` never raises, every problem has a file, line and column;
a spec that validates builds into a DAG that Airflow accepts (``validate()``,
serialization); and, for about one example in eight, a real DagBag over
``dags/`` with the mutant beside the shipped specs keeps every shipped DAG.
"""

from __future__ import annotations

import copy
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from pipeline_factory.spec.loader import load_specs

ROOT = Path(__file__).resolve().parents[3]
PIPELINES = ROOT / "config" / "pipelines"
SHIPPED = {p.stem: yaml.safe_load(p.read_text()) for p in sorted(PIPELINES.glob("*.yaml")) if p.stem != "defaults"}
MUTANT = "zz_mutant.yaml"  # sorts last: a mutant reusing a shipped name is the duplicate, never the original

WORDS = [
    "echo", "command", "gate", "approval", "ingest", "parse", "chunk", "embed", "index", "extract", "kg",
    "download_pdf", "pdf_to_ir", "collect_pubmed", "collect_genes", "update_graph", "update_vectors",
    "consistency_check", "graphrag_report", "fetch_data", "preprocess", "train", "validate_artifacts", "evaluate",
    "register", "promote", "notify", "default", "gpu-bound", "polite-api", "fast-fail", "training", "gpu",
    "cpu", "ncbi", "qdrant_local", "pdf_ir_ready", "pdf_downloaded", "state", "current_stage", "completed",
    "0 2 * * 0", "0 0 * * * *", "0 0 30 2 *", "61 * * * *", "@daily", "@never", "P15D", "P0D", "PT1S",
    "s3://bucket/key", "{{ params.greeting }}", "{{ params.nope }}", "{{ params.collection }}", "string",
    "integer", "boolean", "array", "yes", "", " ", "x" * 120,
]
KEYS = [
    "name", "type", "description", "with", "depends_on", "policy", "compute", "pool", "timeout", "image",
    "condition", "poke_interval", "ledger_field", "equals", "schedule", "start_date", "catchup",
    "max_active_runs", "params", "tags", "owner", "default_policy", "notifications", "on_failure", "default",
    "minimum", "ports", "inputs", "from", "stages", "applicable_sources", "max_attempts", "retries",
]

TOP_KEYS = ["schedule", "start_date", "catchup", "max_active_runs", "tags", "owner", "default_policy",
            "description", "params", "applicable_sources"]
STAGE_KEYS = ["timeout", "poke_interval", "pool", "policy", "compute", "condition", "depends_on", "image",
              "description", "type", "with", "inputs"]
KINDS = ["documents", "ir", "chunks", "embeddings", "papers", "genes", "dataset", "features", "models", "metrics",
         "approval", "graph"]

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 3), st.integers(), st.just(10**26),
    st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([0.5, 1e300, -0.0, float("inf")]),
    st.sampled_from(WORDS), st.text(max_size=8), st.dates(), st.datetimes(),
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=5),
                                                                inner, max_size=3),
    max_leaves=6,
)
GATE_CONDITIONS = st.fixed_dictionaries(
    {"ledger_field": st.sampled_from(["pdf_ir_ready", "pdf_ir_redy", "state", "error", "attempts", "current_stage"])},
    optional={"equals": st.sampled_from([True, False, 1, "true", "completed", "done", None, 2.5])},
)
identifiers = st.sampled_from(["a", "renamed", "stage_2", "ingest", "chunk", "kg", "x" * 201, "1bad", "with space"])


def _paths(node: Any, here: tuple = ()) -> list[tuple]:
    out = [here] if here else []
    if isinstance(node, dict):
        for key, value in node.items():
            out += _paths(value, (*here, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            out += _paths(value, (*here, index))
    return out


def _parent(data: Any, path: tuple) -> Any:
    for part in path[:-1]:
        data = data[part]
    return data


@st.composite
def mutated_spec(draw) -> tuple[str, bytes]:
    name = draw(st.sampled_from(sorted(SHIPPED)))
    data = copy.deepcopy(SHIPPED[name])
    for _ in range(draw(st.integers(1, 3))):
        data = _mutate(draw, data)
    text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True).encode()
    if draw(st.integers(0, 9)) == 0:  # byte-level edits of the YAML text
        for _ in range(draw(st.integers(1, 3))):
            at = draw(st.integers(0, len(text)))
            text = text[:at] + draw(st.binary(max_size=3)) + text[at + draw(st.integers(0, 3)):]
    return name, text


def _mutate(draw, data: Any) -> Any:
    stages = data.get("stages") if isinstance(data, dict) else None
    ops = ["delete", "replace", "retype", "add_key", "set_known"]
    if isinstance(stages, list) and stages and all(isinstance(s, dict) for s in stages):
        ops += ["rename_stage", "rewire", "reorder", "drop_stage", "duplicate_stage"]
    op = draw(st.sampled_from(ops))
    paths = _paths(data)
    if op in ("delete", "replace", "retype") and paths:
        path = draw(st.sampled_from(paths))
        parent = _parent(data, path)
        if op == "delete":
            del parent[path[-1]]
        elif op == "replace":
            parent[path[-1]] = draw(values)
        else:
            old = parent[path[-1]]
            parent[path[-1]] = draw(st.sampled_from([str(old), [old], {"value": old}, bool(old), 1]))
    elif op == "add_key":
        dict_paths = [()] + [p for p in paths if isinstance(_parent(data, (*p, None)), dict)]
        target = _parent(data, (*draw(st.sampled_from(dict_paths)), None))
        target[draw(st.sampled_from(KEYS) | st.text(max_size=6))] = draw(values)
    elif op == "set_known":  # a key the spec language knows, at its level, set to a random value
        level = draw(st.sampled_from(["top", "stage"] if stages else ["top"]))
        if level == "top" or not isinstance(stages, list) or not stages:
            data[draw(st.sampled_from(TOP_KEYS))] = draw(values)
        else:
            stage = stages[draw(st.integers(0, len(stages) - 1))]
            key = draw(st.sampled_from(STAGE_KEYS))
            if key == "inputs":  # name a producer: a real upstream one, another stage, or none at all
                names = [s.get("name") for s in stages if isinstance(s, dict)] + ["nope"]
                stage[key] = draw(st.dictionaries(st.sampled_from(KINDS), st.sampled_from(names), max_size=2))
            else:
                stage[key] = draw(GATE_CONDITIONS if key == "condition" else values)
    elif op == "rename_stage":
        index = draw(st.integers(0, len(stages) - 1))
        old, new = stages[index].get("name"), draw(identifiers)
        stages[index]["name"] = new
        if draw(st.booleans()):
            for stage in stages:
                deps = stage.get("depends_on")
                if isinstance(deps, list):
                    stage["depends_on"] = [new if d == old else d for d in deps]
    elif op == "rewire":
        index = draw(st.integers(0, len(stages) - 1))
        names = [s.get("name") for s in stages] + ["unknown_stage"]
        stages[index]["depends_on"] = draw(st.lists(st.sampled_from(names), max_size=3))
    elif op == "reorder":
        data["stages"] = draw(st.permutations(stages))
    elif op == "drop_stage":
        del stages[draw(st.integers(0, len(stages) - 1))]
    else:
        stages.append(copy.deepcopy(draw(st.sampled_from(stages))))
    return data


def _renders(loaded, specs) -> None:
    """What the dag-processor does with a DAG: build it, validate it, serialize it."""
    from airflow.serialization.serialized_objects import DagSerialization

    from pipeline_factory.factory.builder import build_dag

    dag = build_dag(loaded, policies=specs.policies, profile_name=specs.profile_name, profile=specs.profile,
                    auto_register=False)
    dag.validate()
    dag.check_cycle()
    DagSerialization.to_dict(dag)


@pytest.fixture(scope="module")
def mutant_config(tmp_path_factory) -> Path:
    target = tmp_path_factory.mktemp("mutants") / "config"
    shutil.copytree(ROOT / "config", target, ignore=shutil.ignore_patterns("schema"))
    return target


@settings(max_examples=int(os.environ.get("SPEC_PROPERTY_EXAMPLES", "100")), deadline=None,
          derandomize=not os.environ.get("SPEC_PROPERTY_RANDOM"),
          suppress_health_check=list(HealthCheck))
@given(case=mutated_spec(), with_dagbag=st.integers(0, 7))
def test_mutated_specs_validate_render_and_hide_nothing(mutant_config: Path, case, with_dagbag: int):
    _original, text = case
    path = mutant_config / "pipelines" / MUTANT
    path.write_bytes(text)
    specs = load_specs([path], config_dir=mutant_config)  # never raises
    event("valid" if specs.specs else "invalid")
    lines = text.count(b"\n") + text.count(b"\r") + 2
    for problem in specs.problems:
        assert problem.file.endswith(MUTANT), problem
        assert 1 <= problem.line <= lines and problem.column >= 1, problem
    for loaded in specs.specs.values():
        _renders(loaded, specs)  # validate OK => render OK
    if with_dagbag == 0:
        _assert_dagbag_keeps_shipped(mutant_config, specs)


def _assert_dagbag_keeps_shipped(config: Path, specs) -> None:
    from airflow.dag_processing.dagbag import DagBag

    old = os.environ["PIPELINE_FACTORY_CONFIG"]
    os.environ["PIPELINE_FACTORY_CONFIG"] = str(config)
    try:
        bag = DagBag(dag_folder=str(ROOT / "dags"))
    finally:
        os.environ["PIPELINE_FACTORY_CONFIG"] = old
    assert set(SHIPPED) <= set(bag.dag_ids)
    errors = {Path(k).name: v for k, v in bag.import_errors.items()}
    assert set(errors) <= {"pipeline_spec_errors.py"}, errors
    for name in set(specs.specs) - set(SHIPPED):
        assert name in bag.dag_ids
