"""The ledger fields a gate may wait on, and the type of each.

A light copy of what the ``jobs`` table holds (see
:mod:`pipeline_factory.stores.ledger_schema`), so that checking a spec's gate
condition needs no database library; a test keeps the two in step.
"""

from __future__ import annotations

#: The states a job moves through (``jobs.state``).
JOB_STATES = ("pending", "running", "gated", "completed", "failed")

#: Gate field -> the Python type its column holds.
GATE_FIELD_TYPES: dict[str, type] = {
    "pdf_downloaded": bool,
    "pdf_ir_ready": bool,
    "state": str,
    "current_stage": str,
}

#: What a gate waiting for ``field == True`` makes available downstream (its ports): the PDF
#: converter writes the IR of each job before it sets ``pdf_ir_ready``.
GATE_FIELD_KINDS: dict[str, str] = {
    "pdf_downloaded": "pdfs",
    "pdf_ir_ready": "ir",
}
