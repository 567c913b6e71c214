"""JSON Schemas of the config files, for editor completion and validation.

Generated from the same pydantic models and registry that validate, so the
schema, the loader and the generated docs cannot disagree;
``tests/unit/spec/test_schema.py`` checks the committed copies are current and
runs a real JSON Schema validator over every shipped and every invalid spec.

The pipeline schema is more than ``PipelineSpec.model_json_schema()``: a
stage's ``with:`` block is typed by its ``type`` (a discriminated union
written as ``if``/``then`` on the ``type`` constant, which editors complete),
the gate's condition knows the ledger's fields and the type each holds, and
policies and pools are enumerated by name from the config folder.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from pipeline_factory.spec.models import GateCondition, PipelineSpec, PoliciesFile, PoolsFile, RuntimeConfig
from pipeline_factory.spec.references import REFERENCE
from pipeline_factory.stages.registry import StageRegistry, default_registry
from pipeline_factory.stores.gate_fields import GATE_FIELD_TYPES, JOB_STATES

DRAFT = "https://json-schema.org/draft/2020-12/schema"
#: The modeline that points the YAML language server (VS Code, JetBrains, Neovim) at the schema.
MODELINE = "# yaml-language-server: $schema=../schema/pipeline.schema.json"
SCHEMAS: dict[str, type[BaseModel]] = {
    "pipeline.schema.json": PipelineSpec,
    "policies.schema.json": PoliciesFile,
    "runtime.schema.json": RuntimeConfig,
    "pools.schema.json": PoolsFile,
}
_JSON_TYPES = {bool: "boolean", int: "integer", str: "string"}


def _accept_references(schema: dict[str, Any]) -> None:
    """Every stage parameter may instead be a whole ``{{ params.NAME }}`` reference (checked at load)."""
    for name, prop in list(schema.get("properties", {}).items()):
        schema["properties"][name] = {"anyOf": [prop, {"$ref": "#/$defs/ParamReference"}]}


def _gate_condition(schema: dict[str, Any]) -> None:
    schema["properties"]["ledger_field"]["enum"] = sorted(GATE_FIELD_TYPES)
    rules = []
    for field, kind in sorted(GATE_FIELD_TYPES.items()):
        equals: dict[str, Any] = {"type": _JSON_TYPES[kind]}
        if field == "state":
            equals = {"enum": list(JOB_STATES)}
        rules.append({"if": {"properties": {"ledger_field": {"const": field}}, "required": ["ledger_field"]},
                      "then": {"properties": {"equals": equals}}})
    schema["allOf"] = rules


def _names(values: list[str], description: str) -> dict[str, Any]:
    return {"anyOf": [{"enum": values}, {"type": "null"}], "default": None, "description": description}


def pipeline_schema(
    registry: StageRegistry | None = None, *, policies: list[str] | None = None, pools: list[str] | None = None
) -> dict[str, Any]:
    """The pipeline spec's JSON Schema with every stage type's own parameters."""
    registry = registry or default_registry()
    types = list(registry)
    models: list[tuple[type[BaseModel], Literal["validation"]]] = [(PipelineSpec, "validation")]
    models += [(t.params_model(), "validation") for t in types]
    refs, top = models_json_schema(models, by_alias=True, ref_template="#/$defs/{model}")
    defs: dict[str, Any] = top["$defs"]
    schema: dict[str, Any] = defs.pop("PipelineSpec")
    spec_defs = set(PipelineSpec.model_json_schema(by_alias=True).get("$defs", {}))
    for name, definition in defs.items():
        if name not in spec_defs:  # a stage parameter model, or a model nested in one
            _accept_references(definition)
    params_ref = {t.name: refs[(t.params_model(), "validation")]["$ref"] for t in types}
    defs["ParamReference"] = {"type": "string", "pattern": REFERENCE.pattern,
                              "description": "A whole `{{ params.NAME }}` reference to a run param."}
    stage = defs["StageSpec"]
    stage["properties"]["type"] = {"enum": registry.names(), "description": stage["properties"]["type"]["description"]}
    stage["required"] = sorted({*stage.get("required", []), "type"})
    rules = []
    for stage_type in types:
        then: dict[str, Any] = {"properties": {"with": {"$ref": params_ref[stage_type.name]}}}
        if stage_type.kind != "gate":
            then["not"] = {"anyOf": [{"required": ["condition"]}, {"required": ["poke_interval"]}]}
        else:
            then["required"] = ["condition"]
        rules.append({"if": {"properties": {"type": {"const": stage_type.name}}, "required": ["type"]},
                      "then": then})
    stage["allOf"] = rules
    _gate_condition(defs[GateCondition.__name__])
    if policies is not None:
        stage["properties"]["policy"] = _names(policies, "A policy from policies.yaml; default: the pipeline's.")
        schema["properties"]["default_policy"] = {"enum": policies, "default": "default",
                                                  "description": "The policy of stages that name none."}
    if pools is not None:
        stage["properties"]["pool"] = _names(pools, "A pool from pools.yaml limiting how many such tasks run at once.")
    schema["$defs"] = dict(sorted(defs.items()))
    schema["$schema"] = DRAFT
    return schema


def pipeline_schema_for(config_dir: Path) -> dict[str, Any]:
    """The pipeline schema with the policies and pools of ``config_dir``."""
    from pipeline_factory.spec.loader import load_policies, load_pools

    return pipeline_schema(policies=sorted(load_policies(config_dir)), pools=sorted(load_pools(config_dir)))


def _dump(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def schema_text(model: type[BaseModel]) -> str:
    schema = model.model_json_schema(by_alias=True)
    schema["$schema"] = DRAFT
    return _dump(schema)


def schema_texts(config_dir: Path) -> dict[str, str]:
    """File name -> the text of every schema, as committed under ``<config>/schema/``."""
    texts = {name: schema_text(model) for name, model in SCHEMAS.items()}
    texts["pipeline.schema.json"] = _dump(pipeline_schema_for(config_dir))
    return texts


def write_schemas(folder: Path, config_dir: Path | None = None) -> list[Path]:
    from pipeline_factory import settings

    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in schema_texts(config_dir or settings.config_dir()).items():
        path = folder / name
        path.write_text(text)
        written.append(path)
    return written
