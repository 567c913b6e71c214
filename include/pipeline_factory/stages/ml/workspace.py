"""Finding other ml stages' results in the run workspace, whatever the spec named them.

Each ml stage's result carries ``kind: ml.<stage type>``.  A stage looks for
the result of the kind it needs among its upstream results first, then among
every ``result.json`` of the run, so authors may name stages freely and a
stage need not depend *directly* on the one whose output it reads.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pipeline_factory.exceptions import StageError
from pipeline_factory.stages.contracts import StageContext


def find_result(ctx: StageContext, kind: str, *, required: bool = True) -> Mapping[str, Any]:
    for result in ctx.upstream.values():
        if isinstance(result, Mapping) and result.get("kind") == kind:
            return result
    found = []
    for path in sorted(ctx.run_dir.glob("*/result.json")):
        try:
            result = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(result, Mapping) and result.get("kind") == kind:
            found.append(result)
    if len(found) == 1:
        return found[0]
    if len(found) > 1:
        raise StageError(f"{len(found)} stages of this run produced {kind}; make the one to use an upstream")
    if required:
        raise StageError(f"no {kind} result in {ctx.run_dir}: that stage must run before {ctx.stage}")
    return {}

