"""Parameter models of the GraphRAG stages (pydantic only: imported at parse time)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from pipeline_factory.stages.contracts import StageParams

DEFAULT_COLLECTION = "pubmed_papers"


class CollectPubmedParams(StageParams):
    search_terms: list[str] = Field(..., min_length=1, description="PubMed queries, one search each.")
    max_results_per_term: int = Field(50, ge=1, le=10000, description="Newest papers kept per term.")
    batch_size: int = Field(200, ge=1, le=10000, description="Papers per efetch request.")
    mode: Literal["incremental", "full"] = Field(
        "incremental", description="incremental: only papers published since the term's last successful run."
    )
    refresh: bool = Field(False, description="Fetch papers again even when the snapshot already has them.")
    since: str | None = Field(None, description="Override the window start (YYYY/MM/DD) for every term.")
    concurrency: int = Field(
        3, ge=1, le=10, description="efetch requests in flight at once; the shared rate limiter spaces their starts."
    )

    @field_validator("search_terms")
    @classmethod
    def _terms_not_blank(cls, value: list[str]) -> list[str]:
        terms = [t.strip() for t in value]
        if any(not t for t in terms):
            raise ValueError("search terms must not be blank")
        return list(dict.fromkeys(terms))


class CollectGenesParams(StageParams):
    organisms: list[str] = Field(
        default_factory=lambda: ["Homo sapiens"], description="Scientific names or taxids kept; [] keeps all."
    )
    batch_size: int = Field(100, ge=1, le=5000, description="Ids per elink/esummary request.")
    refresh: bool = Field(False, description="Summarise genes again even when the snapshot has them.")
    concurrency: int = Field(3, ge=1, le=10, description="Requests in flight at once (rate-limited all the same).")


class UpdateGraphParams(StageParams):
    mode: Literal["merge", "replace"] = Field(
        "merge", description="merge: this run's papers; replace: delete the graph, rebuild from the snapshot."
    )
    batch_size: int = Field(500, ge=1, le=50000, description="Rows per write transaction.")


class UpdateVectorsParams(StageParams):
    collection: str = DEFAULT_COLLECTION
    recreate: bool = Field(False, description="Drop and recreate the collection, then load the whole snapshot.")
    batch_size: int = Field(256, ge=1, le=10000, description="Points per upsert.")
    embed_batch_size: int = Field(64, ge=1, le=4096)


class ConsistencyCheckParams(StageParams):
    collection: str = DEFAULT_COLLECTION
    repair: bool = Field(False, description="Write what is missing, remove what should not be there.")
    batch_size: int = Field(500, ge=1, le=50000)
    fail_on_mismatch: bool = Field(False, description="Fail the task when mismatches remain after the check.")
    wait_for_writers_seconds: float = Field(
        3 * 3600, ge=0, description="How long to wait for runs writing the stores; then report skipped."
    )
    poll_seconds: float = Field(30, gt=0, le=3600, description="How often to look whether the writers are done.")
    recheck_delay_seconds: float = Field(
        60, ge=0, le=3600, description="A mismatch counts only if still there this much later."
    )


class AwaitStoreWritersParams(StageParams):
    wait_for_writers_seconds: float = Field(
        3000, ge=0, description="How long to wait for runs writing the stores (keep it under the stage's timeout)."
    )
    poll_seconds: float = Field(30, gt=0, le=3600, description="How often to look whether the writers are done.")


class GraphragReportParams(StageParams):
    """No parameters: the pending watermarks come from the run's ``papers`` producer, if any."""
