"""Parameter models of the document stages (pydantic only: imported at DAG-parse time)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from pipeline_factory.stages.contracts import StageParams


class IngestParams(StageParams):
    source: Literal["folder", "http_json"] = Field("folder", description="Which source adapter reads documents.")
    path: str | None = Field(
        None, description="folder: a folder of .json/.jsonl/.txt/.md files (relative paths: to the project root)."
    )
    url: str | None = Field(None, description="http_json: a URL answering a JSON list (or {documents: [...]}).")
    pattern: str = Field("*", description="folder: glob of the files to read, e.g. '*.jsonl'.")
    limit: int | None = Field(None, ge=1, description="Read at most this many documents.")
    tenant: str = Field("default", description="Recorded with every job in the ledger.")
    require_pdf_url: bool = Field(False, description="PDF sources: records without a pdf_url are rejected.")

    @model_validator(mode="after")
    def _where(self) -> IngestParams:
        if self.source == "folder" and not self.path:
            raise ValueError("source 'folder' needs path")
        if self.source == "http_json" and not self.url:
            raise ValueError("source 'http_json' needs url")
        return self


class ParseParams(StageParams):
    min_chars: int = Field(20, ge=0, description="Documents with less text than this fail as empty.")


class DownloadPdfParams(StageParams):
    max_bytes: int = Field(50 * 1024 * 1024, gt=0, description="A PDF larger than this fails its job.")
    timeout_seconds: float = Field(60.0, gt=0, description="Per request.")
    allowed_content_types: list[str] = Field(
        default_factory=lambda: ["application/pdf", "application/x-pdf"],
        description="A response with another Content-Type fails its job.",
    )
    user_agent: str = "pipeline-factory/0.1 (+https://example.org/pipeline-factory)"
    rate_limiter: str = Field("pdf-hosts", description="Name of the shared rate limiter (per host group).")


class PdfToIrParams(StageParams):
    engine: Literal["auto", "pypdf", "mineru"] = Field(
        "auto", description="auto: MinerU in the kubernetes profile or where `mineru` is installed, else pypdf."
    )
    pipeline: str = Field("docs_pdf_two_phase", description="Convert PDFs downloaded by this pipeline.")
    max_jobs: int = Field(
        100, ge=1, description="Jobs claimed at a time; a run converts batches until none is waiting."
    )
    stale_after_seconds: float = Field(
        3600.0, gt=0, description="A job 'running' in pdf_to_ir for this long (a dead converter) is taken again."
    )
    mineru_command: list[str] = Field(
        default_factory=lambda: ["mineru", "-b", "pipeline"], description="MinerU CLI; -p PDF -o DIR are appended."
    )
    min_chars: int = Field(20, ge=0, description="A PDF yielding less text than this fails (scanned, no text layer).")


class ChunkParams(StageParams):
    max_chars: int = Field(800, ge=50, description="Upper bound of a chunk's length (whole sentences).")
    overlap_sentences: int = Field(1, ge=0, description="Sentences repeated at the start of the next chunk.")


class EmbedParams(StageParams):
    model: str | None = Field(None, description="Default: PIPELINE_EMBEDDING_MODEL, else the shipped MiniLM.")
    batch_size: int = Field(64, ge=1)
    device: str | None = Field(None, description="cpu, cuda; default: cuda where available.")


class IndexParams(StageParams):
    collection: str = Field("documents", description="Qdrant collection (created on first use).")
    batch_size: int = Field(256, ge=1)


class ExtractParams(StageParams):
    dictionaries: list[str] = Field(
        default_factory=lambda: ["config/dictionaries"],
        description="Folders/files of TSV lexicons (term, type, id, synonyms); relative paths: to the project root.",
    )
    mine_corpus: bool = Field(True, description="Add gene symbols and disease names found by rules in the corpus.")
    min_mentions: int = Field(2, ge=1, description="A mined term enters the dictionary after this many mentions.")


class KgParams(StageParams):
    batch_size: int = Field(500, ge=1)
    database: str | None = Field(None, description="Neo4j database; default: NEO4J_DATABASE or the server's.")
