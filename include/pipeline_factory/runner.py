"""``python -m pipeline_factory.runner PIPELINE STAGE``: run one stage, anywhere.

The single entrypoint of every runtime profile: the Airflow worker calls
:func:`run_stage` in-process for CPU stages, and GPU stages run this module in
a local process, a Docker container or a Kubernetes pod with the same
arguments.  The stage's spec is read from the config folder, so a pod needs
only names, the run id and the run's params.

Exit codes: 0 success, 99 skipped (nothing to do), 1 failed, 2 bad usage or
config.  99 is what the operators' ``skip_on_exit_code`` maps to "skipped".
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from pipeline_factory import settings
from pipeline_factory.exceptions import ConfigError, InputRefused, SpecError, StageParamsError, StageSkipped
from pipeline_factory.lineage.declared import LINEAGE_FILE
from pipeline_factory.observability import metrics
from pipeline_factory.spec.loader import load_spec
from pipeline_factory.spec.references import substitute
from pipeline_factory.stages.contracts import StageContext, StageLog, StageResult, read_stage_result
from pipeline_factory.stores.events import emit_stage_event, lineage_run
from pipeline_factory.workspace import apply_umask_from_env, write_json_atomic
from pipeline_factory.workspace import run_dir as workspace_run_dir

log = logging.getLogger(__name__)

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_SKIPPED = 0, 1, 2, 99
RESULT_FILE = "result.json"


def run_params(spec_params: Mapping[str, Mapping[str, Any]], given: Mapping[str, Any] | None) -> dict[str, Any]:
    """The run's params: each declared param's default, overridden by what the run was given."""
    values = {name: schema.get("default") for name, schema in spec_params.items()}
    values.update(given or {})
    return values


def run_stage(
    pipeline: str,
    stage: str,
    *,
    run_id: str,
    params: Mapping[str, Any] | None = None,
    try_number: int = 1,
    run_dir: Path | None = None,
    logger: StageLog | None = None,
    lineage_run_id: str | None = None,
    map_item: Any = None,
    map_index: int | None = None,
) -> StageResult:
    """Run one stage of one pipeline and return its (small) result.

    The result is also written to ``<run_dir>/<stage>/result.json``, which is
    how downstream stages read it in any runtime, and the datasets it read and
    wrote to ``lineage.json`` beside it (what the operator reports to
    OpenLineage).  ``lineage_run_id`` is the task run's OpenLineage run id: the
    stage's CloudEvents carry it, linking the ledger to the lineage backend.
    """
    loaded = load_spec(pipeline)
    spec = loaded.spec
    resolved = loaded.stages.get(stage)
    if resolved is None:
        raise ConfigError(f"pipeline {pipeline!r} has no stage {stage!r}")
    stage_spec, stage_type = resolved.spec, resolved.stage_type
    values = run_params(spec.params, params)
    if stage_spec.map_over is not None and map_index is not None:
        values = {**values, stage_spec.map_over: [map_item]}  # one task of a fan-out: its element only
    try:
        stage_params = stage_type.params_model().model_validate(substitute(stage_spec.params, values))
    except ValidationError as exc:
        raise StageParamsError(f"stage {stage!r}: its parameters are invalid for this run:\n{exc}") from None
    directory = run_dir or workspace_run_dir(pipeline, run_id)
    directory.mkdir(parents=True, exist_ok=True)
    upstream = {}
    for name in resolved.upstream:
        found = read_stage_result(directory / name)
        if found is not None:
            upstream[name] = found
    ctx = StageContext(
        pipeline=pipeline,
        stage=stage,
        run_id=run_id,
        run_dir=directory,
        data_dir=settings.data_dir(),
        params=values,
        upstream=upstream,
        inputs=resolved.inputs,
        policy=resolved.policy.for_task(resolved.budget),
        compute=resolved.compute,
        try_number=try_number,
        log=logger or logging.getLogger(f"pipeline_factory.stages.{stage_spec.type}"),
        map_index=map_index if stage_spec.map_over is not None else None,
    )
    (ctx.stage_dir / LINEAGE_FILE).unlink(missing_ok=True)  # a cleared task's old datasets are not this run's
    started = time.monotonic()
    ctx.log.info("stage %s.%s (%s) starting, try %s, workspace %s", pipeline, stage, stage_spec.type,
                 try_number, directory)
    emit_stage_event(pipeline, stage, run_id, "started",
                     {"type": stage_spec.type, "try_number": try_number, "compute": ctx.compute},
                     lineage_run_id=lineage_run_id)
    with metrics.collecting(pipeline, stage, stage_spec.type) as figures:
        try:
            with lineage_run(lineage_run_id):  # what the stage records in the ledger (job events) carries it too
                result = stage_type.load().run(ctx, stage_params) or {}
        except StageSkipped as exc:
            emit_stage_event(pipeline, stage, run_id, "skipped", {"reason": str(exc), "try_number": try_number},
                             lineage_run_id=lineage_run_id)
            metrics.push_stage(figures, outcome="skipped", seconds=time.monotonic() - started)
            raise
        except Exception as exc:
            emit_stage_event(pipeline, stage, run_id, "failed",
                             {"error": f"{type(exc).__name__}: {exc}"[:4000], "try_number": try_number},
                             lineage_run_id=lineage_run_id)
            metrics.push_stage(figures, outcome="failed", seconds=time.monotonic() - started)
            raise
    metrics.push_stage(figures, outcome="success", seconds=time.monotonic() - started, result=result)
    write_json_atomic(ctx.stage_dir / RESULT_FILE, result)
    _keep_lineage(ctx, resolved, stage_params, result)
    seconds = time.monotonic() - started
    emit_stage_event(pipeline, stage, run_id, "completed",
                     {"result": json.loads(json.dumps(result, default=str)), "seconds": round(seconds, 3),
                      "try_number": try_number},
                     lineage_run_id=lineage_run_id)
    ctx.log.info("stage %s.%s finished in %.2fs: %s", pipeline, stage, seconds, json.dumps(result, default=str)[:2000])
    return result


def _keep_lineage(ctx: StageContext, resolved: Any, params: Any, result: StageResult) -> None:
    """Write ``lineage.json``: lineage is observability, so a failure here never fails the stage."""
    from pipeline_factory.lineage.declared import stage_lineage, write_lineage

    try:
        write_lineage(ctx.stage_dir, stage_lineage(ctx, resolved, params, result))
    except Exception:
        ctx.log.warning("could not work out the datasets of stage %s", ctx.stage, exc_info=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline_factory.runner", description=__doc__.splitlines()[0])
    parser.add_argument("pipeline")
    parser.add_argument("stage")
    parser.add_argument("--run-id", default=None, help="The Airflow run id (default: a manual id made now).")
    parser.add_argument("--run-dir", type=Path, default=None, help="Default: <data dir>/runs/PIPELINE/RUN_ID.")
    parser.add_argument("--params", default="{}", help="The run's params as a JSON object.")
    parser.add_argument("--try-number", type=int, default=1)
    parser.add_argument("--lineage-run-id", default=None, help="The task run's OpenLineage run id.")
    args = parser.parse_args(argv)
    try:
        apply_umask_from_env()
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    run_id = args.run_id or time.strftime("manual__%Y-%m-%dT%H:%M:%S")
    try:
        params = json.loads(args.params)
        if not isinstance(params, dict):
            raise ValueError("not a JSON object")
    except ValueError as exc:
        print(f"--params: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        result = run_stage(args.pipeline, args.stage, run_id=run_id, params=params,
                           try_number=args.try_number, run_dir=args.run_dir,
                           lineage_run_id=args.lineage_run_id)
    except StageSkipped as exc:
        log.info("skipped: %s", exc)
        print(json.dumps({"skipped": str(exc)}))  # the last line: the operator's note says why
        return EXIT_SKIPPED
    except (ConfigError, SpecError, InputRefused) as exc:  # a refused run input: its reason, no traceback
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except Exception:
        log.exception("stage %s.%s failed", args.pipeline, args.stage)
        return EXIT_FAILED
    print(json.dumps(result, default=str))
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
