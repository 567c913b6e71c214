"""``echo``: write a message and the run's params to the workspace (smoke tests of a deployment)."""

from __future__ import annotations

import json
from typing import Any

from pipeline_factory.exceptions import StageError, StageSkipped
from pipeline_factory.stages.contracts import StageContext, StageResult
from pipeline_factory.stages.generic.params import EchoParams


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
