"""Plain lineage records -> the OpenLineage provider's ``OperatorLineage``.

The only module of the package that imports OpenLineage; the operators call it
from their ``get_openlineage_facets_on_*`` methods, which the provider's
listener runs in the worker only when lineage is configured.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pipeline_factory.lineage.datasets import LineageDataset, StageLineage

if TYPE_CHECKING:
    from airflow.providers.openlineage.extractors import OperatorLineage
    from openlineage.client.event_v2 import InputDataset, OutputDataset


def _dataset_facets(dataset: LineageDataset) -> dict:
    from openlineage.client.facet_v2 import schema_dataset

    if not dataset.fields:
        return {}
    return {
        "schema": schema_dataset.SchemaDatasetFacet(
            fields=[schema_dataset.SchemaDatasetFacetFields(name=name, type=type_) for name, type_ in dataset.fields]
        )
    }


def to_input(dataset: LineageDataset) -> InputDataset:
    from openlineage.client.event_v2 import InputDataset

    return InputDataset(namespace=dataset.namespace, name=dataset.name, facets=_dataset_facets(dataset))


def to_output(dataset: LineageDataset, *, statistics: bool) -> OutputDataset:
    from openlineage.client.event_v2 import OutputDataset
    from openlineage.client.facet_v2 import output_statistics_output_dataset

    output_facets: dict[str, Any] = {}
    if statistics and (dataset.row_count is not None or dataset.size is not None):
        output_facets["outputStatistics"] = output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet(
            rowCount=dataset.row_count, size=dataset.size
        )
    return OutputDataset(
        namespace=dataset.namespace, name=dataset.name, facets=_dataset_facets(dataset), outputFacets=output_facets
    )


def to_operator_lineage(declared: StageLineage, *, statistics: bool = True) -> OperatorLineage:
    """``statistics=False`` for START and FAIL: nothing was counted yet (or what was is not the outcome)."""
    from airflow.providers.openlineage.extractors import OperatorLineage

    return OperatorLineage(
        inputs=[to_input(d) for d in declared.inputs],
        outputs=[to_output(d, statistics=statistics) for d in declared.outputs],
    )
