"""Pipeline factory: YAML pipeline specs rendered into Airflow 3 DAGs.

Importing this package must stay cheap: the dag-processor imports it on every
parse loop, so heavy libraries are only imported inside stage code.
"""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
