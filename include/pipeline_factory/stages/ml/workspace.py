"""Compatibility: ml stages read their inputs through ports (``ctx.input("models")``).

``find_result(ctx, "ml.train")`` maps the old result kinds onto the artifact
kinds the stage types declare, so code written against it keeps working.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pipeline_factory.stages.contracts import StageContext

#: Old result kind -> the artifact kind its stage type produces.
RESULT_KINDS = {
    "ml.fetch_data": "dataset",
    "ml.preprocess": "features",
    "ml.train": "models",
    "ml.evaluate": "metrics",
    "ml.register": "registered",
    "ml.promote": "promotion",
    "ml.approval": "approval",
}


def find_result(ctx: StageContext, kind: str, *, required: bool = True) -> Mapping[str, Any]:
    return ctx.input(RESULT_KINDS.get(kind, kind), required=required)
