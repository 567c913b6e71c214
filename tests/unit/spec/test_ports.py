"""Stages are wired by the artifact kinds they exchange, never by each other's names."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from pipeline_factory.spec.loader import load_specs
from pipeline_factory.stages.registry import ARTIFACT_KINDS, default_registry

ROOT = Path(__file__).resolve().parents[3]
SHIPPED = sorted(p.stem for p in (ROOT / "config" / "pipelines").glob("*.yaml") if p.stem != "defaults")


def _load(config: Path, name: str, spec: dict):
    path = config / "pipelines" / f"{name}.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return load_specs([path], config_dir=config)


def _shipped(name: str) -> dict:
    return yaml.safe_load((ROOT / "config" / "pipelines" / f"{name}.yaml").read_text())


def test_every_stage_type_declares_known_kinds_and_every_consumed_kind_has_a_producer_type():
    registry = default_registry()
    produced = {kind for t in registry for kind in t.produces} | {"ir", "pdfs"}  # gates provide these two
    for stage_type in registry:
        for kind in (*stage_type.consumes, *stage_type.optional, *stage_type.produces):
            assert kind in ARTIFACT_KINDS
        for kind in stage_type.consumes:
            assert kind in produced, f"{stage_type.name} consumes {kind!r}, which no stage type produces"


@pytest.mark.parametrize("name", SHIPPED)
def test_renaming_every_stage_keeps_the_wiring_and_the_dag(config_copy: Path, renamed_pipeline, name: str):
    from pipeline_factory.factory.builder import build_dag
    from pipeline_factory.factory.describe import describe_dag

    original = load_specs(config_dir=ROOT / "config").specs[name]
    mapping = renamed_pipeline(name)
    specs = load_specs(config_dir=config_copy)
    assert not specs.problems, specs.problems
    renamed = specs.specs[name]
    for old, stage in original.stages.items():
        new = renamed.stages[mapping[old]]
        assert {k: mapping[v] for k, v in stage.inputs.items()} == dict(new.inputs)
        assert (stage.operator, stage.compute, stage.pool, stage.timeout, stage.budget) == (
            new.operator, new.compute, new.pool, new.timeout, new.budget)
    def shape(loaded, names):
        dag = build_dag(loaded, policies=specs.policies, profile_name=specs.profile_name, profile=specs.profile,
                        auto_register=False)
        tasks = describe_dag(dag)["tasks"]
        return sorted((names.get(t["task_id"], t["task_id"]), t["operator"], t["retries"], tuple(
            sorted(names.get(u, u) for u in t["upstream"]))) for t in tasks)
    assert shape(original, mapping) == shape(renamed, {})


def _producers(name: str) -> list[tuple[int, str, int, str]]:
    """(producer index, kind, consumer index, consumer) for each wired input of a shipped pipeline."""
    loaded = load_specs(config_dir=ROOT / "config").specs[name]
    index = {stage: i for i, stage in enumerate(loaded.stages)}
    return [(index[producer], kind, index[consumer], consumer)
            for consumer, stage in loaded.stages.items()
            for kind, producer in stage.inputs.items()
            if kind in stage.stage_type.consumes]


CASES = [(name, *wired) for name in SHIPPED for wired in _producers(name)]


@pytest.mark.parametrize(("name", "producer", "kind", "consumer_index", "consumer"), CASES,
                         ids=[f"{c[0]}-{c[4]}-{c[2]}" for c in CASES])
def test_removing_a_producer_is_an_error_at_the_consumer(config_copy: Path, name, producer, kind, consumer_index,
                                                         consumer):
    spec = _shipped(name)
    stages = spec["stages"]
    removed = stages[producer]
    # keep the graph connected: whoever ran after the removed stage now runs after what it ran after
    before = removed.get("depends_on", [stages[producer - 1]["name"]] if producer else [])
    for later in stages[producer + 1:]:
        if later.get("depends_on") is not None:
            later["depends_on"] = [d for dep in later["depends_on"] for d in (before if dep == removed["name"]
                                                                              else [dep])]
        elif stages.index(later) == producer + 1:
            later["depends_on"] = list(before)
    del stages[producer]
    specs = _load(config_copy, name, spec)
    text = (config_copy / "pipelines" / f"{name}.yaml").read_text().splitlines()
    missing = [p for p in specs.problems if p.type == "missing_input" and f"'{kind}'" in p.message]
    assert missing, specs.problems
    [problem] = [p for p in missing if f"'{consumer}'" in p.message]
    assert text[problem.line - 1].strip() == f"- name: {consumer}"
    assert problem.path == f"stages.{consumer_index - (consumer_index > producer)}"


def test_two_producers_are_ambiguous_until_the_spec_names_one(config_copy: Path):
    spec = {
        "name": "two_chunkers",
        "stages": [
            {"name": "ingest", "type": "ingest", "with": {"source": "folder", "path": "examples/documents"}},
            {"name": "parse", "type": "parse"},
            {"name": "chunk_small", "type": "chunk", "with": {"max_chars": 200}},
            {"name": "chunk_large", "type": "chunk", "with": {"max_chars": 2000}},
            {"name": "embed", "type": "embed"},
        ],
    }
    specs = _load(config_copy, "two_chunkers", spec)
    [problem] = specs.problems
    assert (problem.type, problem.path, problem.line) == ("ambiguous_input", "stages.4", 18)
    assert "chunk_large" in problem.message and "chunk_small" in problem.message
    assert problem.hint and "inputs:" in problem.hint

    spec["stages"][4]["inputs"] = {"chunks": "chunk_small"}
    specs = _load(config_copy, "two_chunkers", spec)
    assert not specs.problems
    assert specs.specs["two_chunkers"].stages["embed"].inputs == {"chunks": "chunk_small"}


@pytest.mark.parametrize(("inputs", "error_type"), [
    ({"pdfs": "parse"}, "unknown_input"),
    ({"chunks": "nowhere"}, "unknown_producer"),
    ({"chunks": "embed_other"}, "producer_not_upstream"),
    ({"chunks": "parse"}, "producer_wrong_kind"),
])
def test_bad_inputs_are_positioned(config_copy: Path, inputs, error_type):
    spec = {
        "name": "bad_inputs",
        "stages": [
            {"name": "ingest", "type": "ingest", "with": {"source": "folder", "path": "examples/documents"}},
            {"name": "parse", "type": "parse"},
            {"name": "chunk", "type": "chunk"},
            {"name": "embed", "type": "embed", "inputs": inputs},
            {"name": "embed_other", "type": "embed", "depends_on": ["chunk"]},
        ],
    }
    specs = _load(config_copy, "bad_inputs", spec)
    kind = next(iter(inputs))
    assert [(p.type, p.path) for p in specs.problems] == [(error_type, f"stages.3.inputs.{kind}")]


def test_transitive_producers_count():
    """update_vectors depends only on collect_genes, yet reads the papers collected before it."""
    loaded = load_specs(config_dir=ROOT / "config").specs["graphrag_incremental"]
    assert loaded.stages["update_vectors"].inputs == {"papers": "collect_pubmed"}
    assert loaded.stages["report"].inputs == {"papers": "collect_pubmed"}


def test_a_gate_provides_what_it_waits_for():
    loaded = load_specs(config_dir=ROOT / "config").specs["docs_pdf_two_phase"]
    assert loaded.stages["wait_for_pdf_ir"].produces == ("ir",)
    assert loaded.stages["chunk"].inputs == {"ir": "wait_for_pdf_ir"}


def test_no_stage_code_names_another_stage():
    """Stage code reads inputs through ports: no workspace folder or result looked up by a stage name."""
    stages = ROOT / "include" / "pipeline_factory" / "stages"
    names = {t.name for t in default_registry()}
    pattern = re.compile(r"""run_dir\s*/\s*["']|upstream_result\(|_stage\s*[:=]\s*str""")
    offenders = []
    for path in stages.rglob("*.py"):
        if path.name in ("catalog.py", "registry.py", "contracts.py"):
            continue
        source = path.read_text()
        offenders += [f"{path.name}: {m.group()}" for m in pattern.finditer(source)]
        offenders += [f"{path.name}: {n!r}" for n in names if re.search(rf"""["']{n}["']\s*\)?\s*/""", source)]
    assert not offenders, offenders


def test_context_input_reads_the_wired_producer(tmp_path: Path):
    import json

    from pipeline_factory.exceptions import StageError
    from pipeline_factory.stages.contracts import StageContext

    (tmp_path / "any_name").mkdir()
    (tmp_path / "any_name" / "result.json").write_text(json.dumps({"chunks": 3}))
    ctx = StageContext(pipeline="p", stage="embed", run_id="r", run_dir=tmp_path, data_dir=tmp_path,
                       inputs={"chunks": "any_name"})
    assert ctx.input("chunks") == {"chunks": 3}
    assert ctx.input_dir("chunks") == tmp_path / "any_name"
    assert ctx.input("mentions", required=False) == {}
    with pytest.raises(StageError, match="no 'mentions' input"):
        ctx.input("mentions")


def test_no_stage_parameter_names_a_stage():
    """A ``with:`` parameter whose default is a stage type's name is a stage wired by name."""
    registry = default_registry()
    names = {t.name for t in registry}
    offenders = []
    for stage_type in registry:
        for field_name, info in stage_type.params_model().model_fields.items():
            if isinstance(info.default, str) and info.default in names and info.default != stage_type.name:
                offenders.append(f"{stage_type.name}.{field_name} = {info.default!r}")
    assert not offenders, offenders


@pytest.mark.parametrize(("value", "error"), [("true", "value_error"), (".inf", "finite_number")])
def test_stage_parameters_take_neither_booleans_nor_infinity_as_numbers(config_copy: Path, value, error):
    (config_copy / "pipelines" / "p.yaml").write_text(
        "name: p\nstages:\n  - name: c\n    type: collect_pubmed\n"
        f"    with: {{search_terms: [x], batch_size: {value}}}\n")
    specs = load_specs(config_dir=config_copy)
    assert [(p.path, p.type) for p in specs.problems] == [("stages.0.with.batch_size", error)]


def test_promote_with_required_approval_needs_an_approval_stage_upstream(config_copy: Path):
    spec = _shipped("model_training")
    promote = next(s for s in spec["stages"] if s["type"] == "promote")
    promote["with"]["approval"] = "required"
    specs = _load(config_copy, "model_training", spec)
    [problem] = specs.problems
    assert (problem.type, problem.path) == ("missing_input", f"stages.{spec['stages'].index(promote)}")
    assert "'approval'" in problem.message
    index = spec["stages"].index(promote)
    spec["stages"].insert(index, {"name": "sign_off", "type": "approval"})
    specs = _load(config_copy, "model_training", spec)
    assert not specs.problems, specs.problems
    assert specs.specs["model_training"].stages["promote"].inputs["approval"] == "sign_off"
    assert specs.specs["model_training"].stages["sign_off"].inputs == {"metrics": "evaluate"}
