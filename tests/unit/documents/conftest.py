from __future__ import annotations

import pytest


@pytest.fixture
def stage_ctx(tmp_path, monkeypatch, ledger):
    """``stage_ctx(stage, pipeline=..., run_id=...)``: a StageContext on a private data dir and ledger."""
    from pipeline_factory.stages.contracts import StageContext

    data = tmp_path / "data"
    monkeypatch.setenv("PIPELINE_DATA_DIR", str(data))

    def make(stage: str, pipeline: str = "docs_auto", run_id: str = "manual__1", policy=None) -> StageContext:
        return StageContext(
            pipeline=pipeline,
            stage=stage,
            run_id=run_id,
            run_dir=data / "runs" / pipeline / run_id,
            data_dir=data,
            policy=policy,
            inputs=default_inputs(stage),
        )

    return make


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
