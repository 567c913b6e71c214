"""Registers the listener that writes task and DAG-run notes and pushes run metrics when a run ends.

See :mod:`pipeline_factory.observability.notes`.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from pipeline_factory.observability import listener


class PipelineNotesPlugin(AirflowPlugin):
    name = "pipeline_notes"
    listeners = [listener]
