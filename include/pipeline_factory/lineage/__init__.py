"""Lineage: which datasets each stage reads and writes, in OpenLineage's naming.

Stage types declare their datasets through a small function (``StageType.lineage``)
that sees the stage's context, its validated parameters and, once it has run,
its result.  Nothing here imports OpenLineage: :mod:`.facets` turns the plain
records into the provider's ``OperatorLineage`` inside the worker, and only
when the provider asks (``get_openlineage_facets_on_*``), so parsing stays cheap
and stage code stays free of Airflow.
"""

from __future__ import annotations

from pipeline_factory.lineage.datasets import LineageDataset, StageLineage

__all__ = ["LineageDataset", "StageLineage"]
