"""Parameter models of the generic stages (pydantic only: imported at parse time)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from pipeline_factory.stages.contracts import StageParams


class EchoParams(StageParams):
    message: str = Field("", description="Written to the stage's result and log.")
    values: dict[str, Any] = Field(default_factory=dict, description="Extra values copied into the result.")
    fail: bool = Field(False, description="Raise instead of succeeding (for testing alerting and retries).")
    skip: bool = Field(False, description="Report nothing to do: the task and its dependants show as skipped.")


class CommandParams(StageParams):
    argv: list[str] = Field(..., min_length=1, description="The program and its arguments; no shell.")
    env: dict[str, str] = Field(default_factory=dict, description="Added to the stage's environment.")
    timeout_seconds: float | None = Field(None, gt=0)
