"""Run ml stages directly on a workspace, as the stage runner would, without Airflow or MLflow."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from pipeline_factory.stages.contracts import StageContext

SOURCE = "incoming"


def default_inputs(stage: str) -> dict[str, str]:
    """The inputs the loader would wire for a stage named after its type, in a pipeline whose other
    stages are also named after their types (the shipped layout)."""
    from pipeline_factory.stages.registry import default_registry

    registry = default_registry()
    if stage not in registry:
        return {}
    stage_type = registry.get(stage)
    inputs = {}
    for kind in (*stage_type.consumes, *stage_type.optional):
        producers = [t.name for t in registry if kind in t.produces and t.family == stage_type.family]
        if producers:
            inputs[kind] = producers[0]
    return inputs


class Workspace:
    def __init__(self, data_dir: Path):
        self.data_dir = data_dir

    def run(self, impl: Any, params: Any, *, stage: str, run_id: str = "r1",
            run_params: Mapping[str, Any] | None = None) -> dict:
        ctx = StageContext(pipeline="unit", stage=stage, run_id=run_id, run_dir=self.data_dir / "runs" / run_id,
                           data_dir=self.data_dir, params=dict(run_params or {}), inputs=default_inputs(stage))
        result = impl.run(ctx, params)
        (ctx.stage_dir / "result.json").write_text(json.dumps(result, default=str))
        return result

    def add_batches(self, batches: str, **kwargs: Any) -> list[Path]:
        from pipeline_factory.stages.ml.sample_data import parse_batches, write_batches

        return write_batches(self.data_dir / SOURCE, parse_batches(batches), **kwargs)


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    return Workspace(tmp_path / "data")


@pytest.fixture
def preprocess_params() -> Callable[..., Any]:
    from pipeline_factory.stages.ml.params import PreprocessParams
    from pipeline_factory.stages.ml.sample_data import COMPONENTS, feature_columns

    def make(**overrides: Any) -> PreprocessParams:
        values = {"label": "diagnosis", "label_classes": ["benign", "malignant"], "time_column": "measured_at",
                  "features": feature_columns(), "components": COMPONENTS, **overrides}
        return PreprocessParams(**values)

    return make
