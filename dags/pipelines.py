"""Every pipeline spec in config/pipelines/, rendered into an Airflow DAG.

The only place DAGs come from: the pipeline factory reads the YAML specs,
validates them and builds one DAG per spec.  Each spec's outcome is recorded
per content hash, so unchanged specs are rebuilt from their validated record
in later loops.  Broken specs are reported by pipeline_spec_errors.py beside
this file, from the same record.
"""

from __future__ import annotations

from pipeline_factory.factory.dagfile import register_dags

register_dags(globals())
