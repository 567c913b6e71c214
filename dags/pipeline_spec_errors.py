"""Reports broken pipeline specs as an Airflow DAG import error.

This file defines no DAG.  When a spec in config/pipelines/ is invalid it
raises one error whose first line names the broken YAML files, followed by
every problem as FILE:LINE:COL: field: message, so the broken spec shows up in
the UI's DAG import errors while the valid DAGs from pipelines.py keep running.
It reads the outcomes pipelines.py recorded and checks only specs that changed
since: each spec is loaded and built once per parsing loop.
"""

from __future__ import annotations

from pipeline_factory.factory.dagfile import raise_spec_errors

raise_spec_errors()
