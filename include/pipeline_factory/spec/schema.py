"""JSON Schemas of the config files, for editor completion and validation.

Generated from the pydantic models, so they cannot drift from what the
loader accepts; ``tests/unit`` checks the committed copies are current.
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel

from pipeline_factory.spec.models import PipelineSpec, PoliciesFile, PoolsFile, RuntimeConfig

SCHEMAS: dict[str, type[BaseModel]] = {
    "pipeline.schema.json": PipelineSpec,
    "policies.schema.json": PoliciesFile,
    "runtime.schema.json": RuntimeConfig,
    "pools.schema.json": PoolsFile,
}


def schema_text(model: type[BaseModel]) -> str:
    schema = model.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def write_schemas(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, model in SCHEMAS.items():
        path = folder / name
        path.write_text(schema_text(model))
        written.append(path)
    return written
