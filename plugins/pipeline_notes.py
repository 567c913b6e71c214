"""Registers the listener that turns the reasons tasks hand over into task and DAG-run notes.

See :mod:`pipeline_factory.observability.notes`.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from pipeline_factory.observability import notes_listener


class PipelineNotesPlugin(AirflowPlugin):
    name = "pipeline_notes"
    listeners = [notes_listener]
