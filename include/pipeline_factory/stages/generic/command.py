"""Generic stage implementations."""

from __future__ import annotations

import json
import os
import subprocess
from typing import Any

from pipeline_factory.exceptions import StageError, StageSkipped
from pipeline_factory.stages.contracts import StageContext, StageResult
from pipeline_factory.stages.generic.params import CommandParams, EchoParams


class Echo:
    """Writes a message and the run's params to the workspace; proves the plumbing end to end."""

    def run(self, ctx: StageContext, params: EchoParams) -> StageResult:
        if params.fail:
            raise StageError(f"stage {ctx.stage} was asked to fail")
        if params.skip:
            raise StageSkipped(f"stage {ctx.stage} was asked to skip")
        payload: dict[str, Any] = {
            "message": params.message,
            "values": params.values,
            "params": dict(ctx.params),
            "upstream": sorted(ctx.upstream),
        }
        (ctx.stage_dir / "echo.json").write_text(json.dumps(payload, indent=2, sort_keys=True, default=str))
        ctx.log.info("%s: %s", ctx.stage, params.message)
        return {"message": params.message, **params.values}


class Command:
    """Runs one program (no shell) in the stage folder and keeps its output there."""

    def run(self, ctx: StageContext, params: CommandParams) -> StageResult:
        env = {**os.environ, **params.env, "PIPELINE_RUN_DIR": str(ctx.run_dir)}
        try:
            proc = subprocess.run(
                params.argv,
                cwd=ctx.stage_dir,
                env=env,
                capture_output=True,
                text=True,
                timeout=params.timeout_seconds,
                check=False,
            )
        except FileNotFoundError as exc:
            raise StageError(f"{params.argv[0]}: program not found") from exc
        except subprocess.TimeoutExpired as exc:
            raise StageError(f"{params.argv[0]} did not finish within {params.timeout_seconds}s") from exc
        (ctx.stage_dir / "stdout.txt").write_text(proc.stdout)
        (ctx.stage_dir / "stderr.txt").write_text(proc.stderr)
        if proc.returncode != 0:
            tail = proc.stderr.strip().splitlines()[-5:]
            raise StageError(f"{params.argv[0]} exited with {proc.returncode}: {' | '.join(tail)}")
        return {"returncode": proc.returncode, "stdout_lines": len(proc.stdout.splitlines())}
