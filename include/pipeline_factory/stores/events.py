"""Stage lifecycle events: CloudEvents 1.0 in the ledger's append-only event table.

The runner emits them for every stage, whatever its family and runtime, so a
run's history (started, completed with its result, skipped, failed with the
error) can be read from one place: ``python -m pipeline_factory ledger show``,
the Pipelines view, or SQL.  Events are observability: a ledger that cannot be
written is logged, and the stage's own outcome stands.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

log = logging.getLogger(__name__)


def emit_stage_event(pipeline: str, stage: str, run_id: str, kind: str, data: Mapping[str, Any]) -> None:
    """Append ``org.pipeline-factory.stage.<kind>`` for one stage of one run."""
    try:
        from pipeline_factory.stores.ledger import run_key
        from pipeline_factory.stores.ledger_db import shared_ledger

        shared_ledger().record_event(
            f"stage.{kind}",
            source=f"{pipeline}/{stage}",
            subject=stage,
            dag_run_id=run_key(pipeline, run_id),
            data=dict(data),
        )
    except Exception:
        log.warning("could not record stage.%s for %s.%s in the ledger", kind, pipeline, stage, exc_info=True)
