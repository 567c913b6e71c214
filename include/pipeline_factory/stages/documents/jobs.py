"""How document stages use the job ledger: the run's live jobs, failing a job, advancing jobs.

Stage lifecycle events come from the runner (``pipeline_factory.stores.events``) for
every stage; these helpers record what happens to each job.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from pipeline_factory.stages.contracts import StageContext

if TYPE_CHECKING:
    from pipeline_factory.stores.ledger import Ledger

log = logging.getLogger(__name__)


def ledger() -> Ledger:
    """The process's ledger (``PIPELINE_LEDGER_URL`` or the SQLite default), opened once."""
    from pipeline_factory.stores.ledger_db import shared_ledger

    return shared_ledger()


def run_key(ctx: StageContext) -> str:
    from pipeline_factory.stores.ledger import run_key as key

    return key(ctx.pipeline, ctx.run_id)


def event_source(ctx: StageContext) -> str:
    return f"{ctx.pipeline}/{ctx.stage}"


def live_jobs(ctx: StageContext) -> dict[str, dict[str, Any]]:
    """The run's jobs that have not failed, by job id."""
    return {job["job_id"]: job for job in ledger().live_jobs_for_run(run_key(ctx))}


def fail_job(ctx: StageContext, job_id: str, reason: str) -> None:
    """Fail one job at once, so a waiting gate fails now and no later stage works on it."""
    ledger().fail(job_id, f"{ctx.stage}: {reason}", stage=ctx.stage, source=event_source(ctx))


def advance(ctx: StageContext, job_ids: list[str], **fields: Any) -> int:
    """Record that live jobs reached this stage (never touching a job someone failed meanwhile)."""
    if not job_ids:
        return 0
    return ledger().mark_many(job_ids, only_if_state=("pending", "running", "gated"), current_stage=ctx.stage, **fields)
