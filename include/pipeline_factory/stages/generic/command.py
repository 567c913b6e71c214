"""``command``: run an argv in the run's workspace."""

from __future__ import annotations

import os
import subprocess

from pipeline_factory.exceptions import StageError
from pipeline_factory.stages.contracts import StageContext, StageResult
from pipeline_factory.stages.generic.params import CommandParams


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
