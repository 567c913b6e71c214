"""Stage lifecycle events: CloudEvents 1.0 in the ledger's append-only event table.

The runner emits them for every stage, whatever its family and runtime, so a
run's history (started, completed with its result, skipped, failed with the
error) can be read from one place: ``python -m pipeline_factory ledger show``,
the Pipelines view, or SQL.  Events are observability: a ledger that cannot be
written is logged, and the stage's own outcome stands.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

log = logging.getLogger(__name__)

#: The OpenLineage run of the stage this process is running (a worker runs one task at a time); every
#: CloudEvent recorded meanwhile carries it, job events from stage code included.  Process-wide, not a
#: context variable, so events recorded from a stage's worker threads carry it too.
_lineage_run_id: str | None = None


@contextmanager
def lineage_run(run_id: str | None) -> Iterator[None]:
    """Within the block, ledger events carry ``run_id`` as ``openlineagerunid`` unless given another."""
    global _lineage_run_id
    previous, _lineage_run_id = _lineage_run_id, run_id
    try:
        yield
    finally:
        _lineage_run_id = previous


def current_lineage_run_id() -> str | None:
    return _lineage_run_id


def emit_stage_event(
    pipeline: str, stage: str, run_id: str, kind: str, data: Mapping[str, Any], *, lineage_run_id: str | None = None
) -> None:
    """Append ``org.pipeline-factory.stage.<kind>`` for one stage of one run.

    ``lineage_run_id`` (the task run's OpenLineage run id) travels as the
    ``openlineagerunid`` extension attribute, so an event found in the ledger
    leads to the same run in the lineage backend and back.
    """
    try:
        from pipeline_factory.stores.ledger import run_key
        from pipeline_factory.stores.ledger_db import shared_ledger

        shared_ledger().record_event(
            f"stage.{kind}",
            source=f"{pipeline}/{stage}",
            subject=stage,
            dag_run_id=run_key(pipeline, run_id),
            data=dict(data),
            openlineage_run_id=lineage_run_id or current_lineage_run_id(),
        )
    except Exception:
        log.warning("could not record stage.%s for %s.%s in the ledger", kind, pipeline, stage, exc_info=True)
