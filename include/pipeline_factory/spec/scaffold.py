"""``new NAME``: a starting spec that validates, with the schema modeline for editors.

From an existing pipeline (``--from``: its text, renamed, comments kept) or
from stage types (``--type``: one stage per type, chained in order, each
required parameter wired to a run param of the parameter's own JSON type so
the file validates and the author sees what to fill in).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

from pipeline_factory.spec.schema import MODELINE
from pipeline_factory.stages.registry import StageRegistry, default_registry

_NAME_LINE = re.compile(r"^name:[^\n]*$", re.M)


def from_pipeline(name: str, source: Path) -> str:
    """The source spec's text under a new name (the first top-level ``name:`` line is replaced)."""
    text = source.read_text(encoding="utf-8")
    text, count = _NAME_LINE.subn(f"name: {name}", text, count=1)
    if not count:
        text = f"name: {name}\n{text}"
    lines = [line for line in text.splitlines() if not line.startswith("# yaml-language-server:")]
    return "\n".join([MODELINE, *lines]) + "\n"


def _param_schema(prop: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """A run param's JSON schema for a stage parameter (only what Airflow's Param understands)."""
    if "anyOf" in prop:
        options = [p for p in prop["anyOf"] if p.get("type") != "null"]
        prop = options[0] if options else {"type": "string"}
    if "$ref" in prop:
        return {"type": "object"}
    keep = {k: v for k, v in prop.items() if k in ("type", "enum", "items", "minimum", "maximum", "minItems")}
    keep.setdefault("type", "string")
    if ("items" in keep and not isinstance(keep["items"], dict)) or "$ref" in keep.get("items", {}):
        keep["items"] = {"type": "object"}
    return keep


def shipped_examples() -> dict[str, dict[str, Any]]:
    """Stage type -> the ``with:`` block of its first use in the valid specs, run-param references resolved."""
    from pipeline_factory.spec.loader import load_specs
    from pipeline_factory.spec.references import substitute

    examples: dict[str, dict[str, Any]] = {}
    for loaded in load_specs().specs.values():
        defaults = {k: v["default"] for k, v in loaded.spec.params.items() if "default" in v}
        for stage in loaded.spec.stages:
            if stage.type not in examples:
                try:
                    examples[stage.type] = substitute(stage.params, defaults)
                except KeyError:  # references a param without default: not a self-contained example
                    continue
    return examples


def from_types(name: str, types: list[str], registry: StageRegistry | None = None,
               examples: dict[str, dict[str, Any]] | None = None) -> str:
    """One stage per type, chained, each with the parameters of its use in a shipped spec when there is one;
    otherwise its required parameters become run params the author fills in."""
    registry = registry or default_registry()
    examples = shipped_examples() if examples is None else examples
    unknown = [t for t in types if t not in registry]
    if unknown:
        raise ValueError(f"unknown stage type(s): {', '.join(unknown)}; see `python -m pipeline_factory list --types`")
    params: dict[str, Any] = {}
    stages: list[dict[str, Any]] = []
    used: set[str] = set()
    for type_name in types:
        stage_type = registry.get(type_name)
        stage_name = type_name
        index = 2
        while stage_name in used:
            stage_name, index = f"{type_name}_{index}", index + 1
        used.add(stage_name)
        stage: dict[str, Any] = {"name": stage_name, "type": type_name}
        schema = stage_type.params_model().model_json_schema(by_alias=True)
        with_: dict[str, Any] = dict(examples.get(type_name, {}))
        for param in (p for p in schema.get("required", []) if p not in with_):
            prop = schema["properties"][param]
            run_param = f"{stage_name}_{param}"
            params[run_param] = {**_param_schema(prop, schema.get("$defs", {})),
                                 "description": prop.get("description", f"{type_name}: {param}")}
            with_[param] = f"{{{{ params.{run_param} }}}}"
        if with_:
            stage["with"] = with_
        if stage_type.kind == "gate":
            stage["condition"] = {"ledger_field": "pdf_ir_ready", "equals": True}
        stages.append(stage)
    spec: dict[str, Any] = {"name": name, "description": f"TODO: what {name} does.", "schedule": None}
    if params:
        spec["params"] = params
    spec["stages"] = stages
    body = yaml.safe_dump(spec, sort_keys=False, default_flow_style=False, width=100)
    return f"{MODELINE}\n{body}"


def minimal(name: str) -> str:
    spec = {"name": name, "description": f"TODO: what {name} does.", "schedule": None,
            "stages": [{"name": "hello", "type": "echo", "with": {"message": f"hello from {name}"}}]}
    return f"{MODELINE}\n" + yaml.safe_dump(spec, sort_keys=False, width=100)


def as_json(text: str) -> Any:
    return json.loads(json.dumps(yaml.safe_load(text), default=str))
