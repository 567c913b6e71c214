"""GraphRAG stage types (light: imported when specs are parsed)."""

from __future__ import annotations

from pipeline_factory.stages.registry import StageType

_P = "pipeline_factory.stages.graphrag"

STAGE_TYPES = [
    StageType(
        name="collect_pubmed",
        lineage=f"{_P}.lineage:collect_pubmed",
        retries_in_task=True,
        produces=("papers",),
        family="graphrag",
        params=f"{_P}.params:CollectPubmedParams",
        impl=f"{_P}.collect:CollectPubmed",
        description="Search PubMed per term (history server, date window since the last run), fetch new papers.",
    ),
    StageType(
        name="collect_genes",
        lineage=f"{_P}.lineage:collect_genes",
        retries_in_task=True,
        consumes=("papers",),
        produces=("genes",),
        family="graphrag",
        params=f"{_P}.params:CollectGenesParams",
        impl=f"{_P}.collect:CollectGenes",
        description="Link collected papers to NCBI Gene (elink), summarise the genes, filter by organism.",
    ),
    StageType(
        name="update_graph",
        lineage=f"{_P}.lineage:update_graph",
        consumes=("papers",),
        optional=("genes",),
        produces=("graph",),
        family="graphrag",
        params=f"{_P}.params:UpdateGraphParams",
        impl=f"{_P}.update:UpdateGraph",
        description="MERGE papers, authors, journals, MeSH terms and genes into Neo4j (or replace the graph).",
    ),
    StageType(
        name="update_vectors",
        lineage=f"{_P}.lineage:update_vectors",
        consumes=("papers",),
        produces=("vectors",),
        family="graphrag",
        params=f"{_P}.params:UpdateVectorsParams",
        impl=f"{_P}.update:UpdateVectors",
        description="Embed title + abstract per paper and upsert into Qdrant (or recreate the collection).",
    ),
    StageType(
        name="await_store_writers",
        family="graphrag",
        params=f"{_P}.params:AwaitStoreWritersParams",
        impl=f"{_P}.consistency:AwaitStoreWriters",
        description="Wait (holding no pool) until no run writes the GraphRAG stores, so a check sees them settled.",
    ),
    StageType(
        name="consistency_check",
        lineage=f"{_P}.lineage:consistency_check",
        produces=("consistency",),
        family="graphrag",
        params=f"{_P}.params:ConsistencyCheckParams",
        impl=f"{_P}.consistency:ConsistencyCheck",
        description="Compare paper and gene ids across the snapshot, Neo4j and Qdrant; optionally repair.",
    ),
    StageType(
        name="graphrag_report",
        lineage=f"{_P}.lineage:graphrag_report",
        optional=("papers",),
        family="graphrag",
        params=f"{_P}.params:GraphragReportParams",
        impl=f"{_P}.graphrag_report:WriteRunSummary",
        description="Write the run summary and, after a successful collection, move the per-term watermarks.",
    ),
]
