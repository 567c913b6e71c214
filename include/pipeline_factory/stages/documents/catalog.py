"""Document stage types."""

from __future__ import annotations

from pipeline_factory.stages.registry import StageType

_P = "pipeline_factory.stages.documents"

STAGE_TYPES = [
    StageType(
        name="ingest",
        retries_in_task=True,
        produces=("documents",),
        family="documents",
        params=f"{_P}.params:IngestParams",
        impl=f"{_P}.ingest:Ingest",
        description="Read documents from a source adapter (folder of JSON/JSONL/text, HTTP JSON) and record jobs.",
    ),
    StageType(
        name="parse",
        consumes=("documents",),
        produces=("ir",),
        family="documents",
        params=f"{_P}.params:ParseParams",
        impl=f"{_P}.parse:Parse",
        description="Turn ingested text documents into the document IR (sections, text).",
    ),
    StageType(
        name="download_pdf",
        retries_in_task=True,
        consumes=("documents",),
        produces=("pdfs",),
        family="documents",
        params=f"{_P}.params:DownloadPdfParams",
        impl=f"{_P}.download_pdf:DownloadPdf",
        description="Download each job's PDF politely (rate limit, retries, checks) and gate the job.",
    ),
    StageType(
        name="pdf_to_ir",
        produces=("ir",),
        family="documents",
        params=f"{_P}.params:PdfToIrParams",
        impl=f"{_P}.pdf_to_ir:PdfToIr",
        default_compute="gpu",
        description="Convert downloaded PDFs to the document IR (MinerU on GPU, pypdf locally); set pdf_ir_ready.",
    ),
    StageType(
        name="chunk",
        consumes=("ir",),
        produces=("chunks",),
        family="documents",
        params=f"{_P}.params:ChunkParams",
        impl=f"{_P}.chunk:Chunk",
        description="Sentence-aware windows with overlap; chunk ids doc_id:chunk:i.",
    ),
    StageType(
        name="embed",
        consumes=("chunks",),
        produces=("embeddings",),
        family="documents",
        params=f"{_P}.params:EmbedParams",
        impl=f"{_P}.embed:Embed",
        description="Sentence-transformers embeddings of every chunk (CPU here, CUDA on GPU nodes).",
    ),
    StageType(
        name="index",
        consumes=("chunks", "embeddings"),
        produces=("vectors",),
        family="documents",
        params=f"{_P}.params:IndexParams",
        impl=f"{_P}.index:Index",
        description="Upsert chunk vectors into Qdrant with deterministic ids (reruns overwrite).",
    ),
    StageType(
        name="extract",
        consumes=("chunks",),
        produces=("mentions",),
        family="documents",
        params=f"{_P}.params:ExtractParams",
        impl=f"{_P}.extract:Extract",
        description="Genes, diseases, chemicals by a dictionary built from lexicon data and the corpus.",
    ),
    StageType(
        name="kg",
        consumes=("ir", "chunks"),
        optional=("mentions",),
        produces=("graph",),
        family="documents",
        params=f"{_P}.params:KgParams",
        impl=f"{_P}.kg:KnowledgeGraph",
        description="MERGE Document, Chunk, Entity nodes and their relationships into Neo4j; complete the jobs.",
    ),
]
