"""Plain lineage records -> the OpenLineage provider's OperatorLineage."""

from __future__ import annotations

from pipeline_factory.lineage.datasets import LineageDataset, StageLineage
from pipeline_factory.lineage.facets import to_operator_lineage

DECLARED = StageLineage(
    inputs=(LineageDataset("file", "/in/batches"),),
    outputs=(LineageDataset("file", "/data/ml/datasets/bc", fields=(("radius", "double"), ("diagnosis", "string")),
                            row_count=190),),
)


def test_complete_carries_columns_and_row_counts():
    lineage = to_operator_lineage(DECLARED, statistics=True)
    (out,) = lineage.outputs
    assert [(f.name, f.type) for f in out.facets["schema"].fields] == [("radius", "double"), ("diagnosis", "string")]
    assert out.outputFacets["outputStatistics"].rowCount == 190
    assert [(d.namespace, d.name) for d in lineage.inputs] == [("file", "/in/batches")]


def test_start_and_fail_carry_the_datasets_without_counts():
    lineage = to_operator_lineage(DECLARED, statistics=False)
    (out,) = lineage.outputs
    assert out.outputFacets == {} and "schema" in out.facets
