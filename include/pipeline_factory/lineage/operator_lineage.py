"""The ``get_openlineage_facets_on_start/complete/failure`` methods of the stage operators.

Airflow's OpenLineage provider calls them from its listener in the worker (and
only when a transport is configured); each returns the stage's datasets as an
``OperatorLineage``.  START and FAIL carry the datasets the spec and the run's
params name; COMPLETE carries what the runner recorded after the stage ran
(``lineage.json``: the same datasets with row counts and columns), so it is
right whichever runtime ran the stage.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pipeline_factory.lineage.datasets import StageLineage

if TYPE_CHECKING:
    from airflow.providers.openlineage.extractors import OperatorLineage

log = logging.getLogger(__name__)


def _run_values(task_instance: Any = None) -> tuple[str, dict[str, Any]]:
    """``(run_id, params)`` of the running task, from the task instance or the current context."""
    if task_instance is not None and hasattr(task_instance, "get_template_context"):
        context: Mapping[str, Any] = task_instance.get_template_context()
    else:
        from airflow.sdk import get_current_context

        context = get_current_context()
    params = context.get("params") or {}
    params = params.dump() if hasattr(params, "dump") else dict(params)
    run_id = context.get("run_id") or getattr(task_instance, "run_id", None)
    return str(run_id), params


def openlineage_run_id(context: Mapping[str, Any]) -> str | None:
    """The task run's OpenLineage run id (the provider's ``lineage_run_id`` macro), or None when lineage is off."""
    try:
        from airflow.providers.openlineage import conf

        if conf.is_disabled():
            return None
        from airflow.providers.openlineage.plugins.macros import lineage_run_id

        return str(lineage_run_id(context["ti"]))
    except Exception:  # lineage is observability: never a reason to fail a task
        log.debug("no OpenLineage run id for this task", exc_info=True)
        return None


class StageLineageMixin:
    """Mixed into the operators that run a stage (they have ``pipeline`` and ``stage``)."""

    pipeline: str
    stage: str

    def _declared_lineage(self, task_instance: Any = None) -> StageLineage:
        from pipeline_factory.lineage.declared import lineage_for_run

        run_id, params = _run_values(task_instance)
        return lineage_for_run(self.pipeline, self.stage, run_id=run_id, params=params)

    def get_openlineage_facets_on_start(self) -> OperatorLineage:
        from pipeline_factory.lineage.facets import to_operator_lineage

        return to_operator_lineage(self._declared_lineage(), statistics=False)

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> OperatorLineage:
        from pipeline_factory.lineage.declared import read_lineage
        from pipeline_factory.lineage.facets import to_operator_lineage
        from pipeline_factory.stages.contracts import MAP_FOLDER_PREFIX
        from pipeline_factory.workspace import run_dir

        folder = run_dir(self.pipeline, task_instance.run_id) / self.stage
        map_index = getattr(task_instance, "map_index", -1)
        if isinstance(map_index, int) and map_index >= 0:  # one element of a fan-out keeps its own folder
            folder = folder / f"{MAP_FOLDER_PREFIX}{map_index}"
        recorded = read_lineage(folder)
        if recorded is None:  # skipped, or a runtime that could not write it: what the spec names
            return to_operator_lineage(self._declared_lineage(task_instance), statistics=False)
        return to_operator_lineage(recorded, statistics=True)

    def get_openlineage_facets_on_failure(self, task_instance: Any) -> OperatorLineage:
        from pipeline_factory.lineage.facets import to_operator_lineage

        return to_operator_lineage(self._declared_lineage(task_instance), statistics=False)
