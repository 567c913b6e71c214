"""Parameter models of the control stages (pydantic only: imported at parse time)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from pipeline_factory.stages.contracts import StageParams


class ApprovalParams(StageParams):
    subject: str | None = Field(None, description="Default: 'Promote <pipeline> run <run_id>?'.")
    body: str | None = Field(None, description="Markdown shown above the candidate's metrics.")
    response_timeout_seconds: float | None = Field(
        None, gt=0, description="After this, the default option is taken (or the task fails without one)."
    )
    default_option: Literal["Approve", "Reject"] | None = Field(
        None, description="Taken when the response times out."
    )
    assigned_users: list[str] = Field(default_factory=list, description="User ids allowed to respond.")
