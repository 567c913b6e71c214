"""A stage's datasets: its ports' workspace folders plus what its type declares.

Called in two places with the same inputs: the operator asks before the stage
runs (``result=None``: the datasets the spec and run params name), and the
runner asks after it succeeded (with the result: row counts, columns) and
keeps the answer next to the result as ``lineage.json``, so the operator reads
it back whatever runtime ran the stage (worker, process, container, pod).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from pipeline_factory.lineage.datasets import StageLineage, file_dataset, lineage

if TYPE_CHECKING:
    from pipeline_factory.spec.resolve import ResolvedStage
    from pipeline_factory.stages.contracts import StageContext, StageParams

log = logging.getLogger(__name__)

LINEAGE_FILE = "lineage.json"


class LineageFunction(Protocol):
    """``StageType.lineage``: the datasets a stage reads and writes outside the run workspace."""

    def __call__(self, ctx: StageContext, params: Any, result: Mapping[str, Any] | None) -> StageLineage: ...


def workspace_lineage(ctx: StageContext) -> StageLineage:
    """The ports as files: each consumed kind is its producer's workspace folder; every stage writes its own
    (``result.json`` at least)."""
    producers = sorted(set(ctx.inputs.values()))
    return lineage(
        inputs=[file_dataset(ctx.run_dir / producer) for producer in producers],
        outputs=[file_dataset(ctx.run_dir / ctx.stage)],
    )


def stage_lineage(
    ctx: StageContext,
    resolved: ResolvedStage,
    params: StageParams,
    result: Mapping[str, Any] | None = None,
) -> StageLineage:
    """Everything the stage reads and writes: workspace folders (from its ports) and its type's own datasets."""
    declared = workspace_lineage(ctx)
    function_path = resolved.stage_type.lineage
    if function_path:
        from pipeline_factory.stages.registry import import_dotted

        function: LineageFunction = import_dotted(function_path)  # type: ignore[assignment]
        declared = declared + function(ctx, params, result)
    return declared


def lineage_for_run(
    pipeline: str,
    stage: str,
    *,
    run_id: str,
    params: Mapping[str, Any] | None = None,
    result: Mapping[str, Any] | None = None,
    run_dir: Path | None = None,
) -> StageLineage:
    """The datasets of one stage of one run, from the spec and the run's params (before the stage runs)."""
    from pipeline_factory import settings
    from pipeline_factory.runner import run_params
    from pipeline_factory.spec.loader import load_spec
    from pipeline_factory.spec.references import substitute
    from pipeline_factory.stages.contracts import StageContext
    from pipeline_factory.workspace import run_dir as workspace_run_dir

    loaded = load_spec(pipeline)
    resolved = loaded.stages[stage]
    values = run_params(loaded.spec.params, params)
    stage_params = resolved.stage_type.params_model().model_validate(substitute(resolved.spec.params, values))
    ctx = StageContext(
        pipeline=pipeline,
        stage=stage,
        run_id=run_id,
        run_dir=run_dir or workspace_run_dir(pipeline, run_id),
        data_dir=settings.data_dir(),
        params=values,
        inputs=resolved.inputs,
        compute=resolved.compute,
    )
    return stage_lineage(ctx, resolved, stage_params, result)


def write_lineage(stage_dir: Path, declared: StageLineage) -> None:
    from pipeline_factory.workspace import write_json_atomic

    write_json_atomic(stage_dir / LINEAGE_FILE, declared.to_json())


def read_lineage(stage_dir: Path) -> StageLineage | None:
    """The lineage the runner kept for a finished stage; ``None`` when there is none (or it is unreadable)."""
    path = stage_dir / LINEAGE_FILE
    try:
        return StageLineage.from_json(json.loads(path.read_text()))
    except FileNotFoundError:
        return None
    except (ValueError, KeyError, TypeError):
        log.warning("ignoring an unreadable %s", path, exc_info=True)
        return None
