"""``describe``, ``new`` and the generated stage reference, as an author uses them."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest
import yaml

from pipeline_factory.cli import main
from pipeline_factory.spec.loader import load_specs
from pipeline_factory.spec.schema import MODELINE
from pipeline_factory.stages.reference import stages_markdown
from pipeline_factory.stages.registry import default_registry

ROOT = Path(__file__).resolve().parents[3]


def test_generated_stage_reference_is_current_and_linked():
    committed = (ROOT / "docs" / "stages.md").read_text()
    assert committed == stages_markdown(), "docs/stages.md is stale: run `python -m pipeline_factory docs`"
    for stage_type in default_registry():
        assert f"\n## {stage_type.name}\n" in committed
    assert "docs/stages.md" in (ROOT / "README.md").read_text()


def test_describe_prints_parameters_ports_and_defaults(capsys):
    assert main(["describe", "collect_pubmed"]) == 0
    out = capsys.readouterr().out
    assert "search_terms: list[string]  [required]" in out
    assert "max_results_per_term: integer (>= 1, <= 10000)  [default `50`]" in out
    assert "produces:  papers" in out
    assert main(["describe", "collect_pubmed", "--format", "json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["produces"] == ["papers"] and info["compute"] == "cpu" and info["retries_in_task"] is True
    params = {p["name"]: p for p in info["params"]}
    assert params["search_terms"]["required"] and params["max_results_per_term"]["default"] == 50


def test_describe_unknown_type_lists_the_known_ones(capsys):
    assert main(["describe", "ecoh"]) == 2
    assert "echo" in capsys.readouterr().err


@pytest.mark.parametrize("type_name", default_registry().names())
def test_describe_covers_every_type(type_name, capsys):
    assert main(["describe", type_name]) == 0
    assert capsys.readouterr().out.startswith(type_name)


def _schema_ok(text: str) -> None:
    schema = json.loads((ROOT / "config" / "schema" / "pipeline.schema.json").read_text())
    jsonschema.validate(json.loads(json.dumps(yaml.safe_load(text), default=str)), schema)


@pytest.mark.parametrize("options", [[], ["--from", "docs_pdf_two_phase"], ["--from", "model_training"],
                                     ["--type", "collect_pubmed", "collect_genes", "update_graph"],
                                     ["--type", "ingest", "parse", "chunk", "embed", "index"],
                                     ["--type", "fetch_data", "preprocess", "train"], ["--type", "echo", "echo"]])
def test_new_writes_a_spec_that_validates(config_copy: Path, capsys, options):
    assert main(["new", "fresh_one", *options]) == 0, capsys.readouterr()
    path = config_copy / "pipelines" / "fresh_one.yaml"
    text = path.read_text()
    assert text.splitlines()[0] == MODELINE
    specs = load_specs([path])
    assert specs.problems == [] and list(specs.specs) == ["fresh_one"]
    _schema_ok(text)
    assert main(["new", "fresh_one"]) == 2  # never overwrites by accident


def test_new_says_what_a_chain_lacks(config_copy: Path, capsys):
    assert main(["new", "half", "--type", "chunk"]) == 1
    out = capsys.readouterr().out
    assert "needs 'ir'" in out and "parse" in out


def test_new_refuses_bad_names_and_types(config_copy: Path, capsys):
    assert main(["new", "my dag"]) == 2
    assert main(["new", "ok", "--type", "ecoh"]) == 2
    assert main(["new", "ok", "--from", "no_such"]) == 2
    assert not (config_copy / "pipelines" / "ok.yaml").exists()


def test_pre_commit_hook_runs_validate():
    [hook] = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    assert hook["entry"].split()[-1] == "validate"
    assert hook["language"] == "python" and hook["pass_filenames"] is True
    files = re.compile(hook["files"])
    assert files.search("config/pipelines/docs_auto.yaml") and files.search("config/pipelines/x.yml")
    assert not files.search("config/pipelines/defaults.yaml") and not files.search("config/policies.yaml")
