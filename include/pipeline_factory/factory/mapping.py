"""Fan-out: a stage mapped over a list run param, as Airflow dynamic task mapping.

``map_over: PARAM`` renders two tasks: ``<stage>_items`` returns the run's
list (so the number of mapped tasks is decided per run, from ``--conf``), and
the stage itself, expanded over it, one task per element.  Each mapped task
shows its element as its map index (``map_index_template``) and runs the
stage with the param narrowed to a one-element list, so the stage's own code
and parameter model are unchanged.  Shared limits hold across the mapped
tasks because they already live outside the process (the rate limiter's
schedule and the breaker's state in the ledger database or Redis).
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import BaseOperator

from pipeline_factory.operators.stage import StageOperator
from pipeline_factory.spec.checks import MAP_ITEMS_SUFFIX
from pipeline_factory.spec.models import PipelineSpec
from pipeline_factory.spec.resolve import ResolvedStage

#: How a mapped task is labelled in the UI: its element, not 0, 1, 2.
MAP_INDEX_TEMPLATE = "{{ task.map_item }}"


class MapItemsOperator(BaseOperator):
    """Returns the run param a mapped stage fans out over (a list; an empty list maps to no task)."""

    ui_color = "#f3ecfb"

    def __init__(self, *, param: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.param = param

    def execute(self, context: Any) -> list[Any]:
        params = context.get("params") or {}
        value = params.get(self.param) if hasattr(params, "get") else None
        if not isinstance(value, list):
            from airflow.sdk.exceptions import AirflowFailException

            raise AirflowFailException(f"run param {self.param!r} must be a list to map over, got {value!r}")
        return value


def build_mapped_task(spec: PipelineSpec, stage: ResolvedStage, kwargs: dict[str, Any]) -> tuple[Any, Any]:
    """``(items task, mapped stage)``: upstream edges end at the first, downstream ones start at the second."""
    param = stage.spec.map_over
    assert param is not None
    items = MapItemsOperator(
        task_id=f"{stage.name}{MAP_ITEMS_SUFFIX}", param=param, owner=kwargs.get("owner", spec.owner),
        task_group=kwargs.get("task_group"),
        doc_md=f"The elements of run param `{param}` that `{stage.name}` maps over.",
    )
    mapped = StageOperator.partial(
        pipeline=spec.name, stage=stage.name, stage_type=stage.type, map_index_template=MAP_INDEX_TEMPLATE, **kwargs,
    ).expand(map_item=items.output)
    items >> mapped
    return items, mapped
