"""The small typed contract every stage implements.

Stage code is plain Python with no Airflow imports, so the same stage runs in a
worker, in a container or in a pod: it receives a :class:`StageContext` and its
validated parameters and returns a small JSON-safe result.  Bulk data goes to
the run workspace (``ctx.run_dir``), never through the result.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:
    from pipeline_factory.resilience.policy import Policy


class StageParams(BaseModel):
    """Base for every stage type's ``with:`` model: unknown keys are typos."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class NoParams(StageParams):
    """For stage types that take no parameters."""


@dataclass
class StageContext:
    """What a stage knows about the run it belongs to.

    ``params`` are the DAG run's params (defaults merged with ``--conf``);
    ``upstream`` holds the results of the stages this one depends on, read back
    from the workspace so it works the same in a pod.  ``inputs`` maps each
    artifact kind the stage reads to the stage that produced it, as the loader
    wired it: stage code asks for ``ctx.input("chunks")`` or
    ``ctx.input_dir("chunks")`` and never names another stage.
    """

    pipeline: str
    stage: str
    run_id: str
    run_dir: Path
    data_dir: Path
    params: Mapping[str, Any] = field(default_factory=dict)
    upstream: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    inputs: Mapping[str, str] = field(default_factory=dict)
    policy: Policy | None = None
    compute: str = "cpu"
    try_number: int = 1
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("pipeline_factory.stage"))

    @property
    def stage_dir(self) -> Path:
        """This stage's own folder in the workspace (created on first use)."""
        path = self.run_dir / self.stage
        path.mkdir(parents=True, exist_ok=True)
        return path

    def has_input(self, kind: str) -> bool:
        """Whether an upstream stage provides ``kind`` (always true for a required input)."""
        return kind in self.inputs

    def input_dir(self, kind: str) -> Path:
        """The workspace folder of the stage that produced ``kind``."""
        return self.run_dir / self._producer(kind)

    def input(self, kind: str, *, required: bool = True) -> Mapping[str, Any]:
        """The result of the stage that produced ``kind``; ``{}`` for an optional input nobody provides."""
        if kind not in self.inputs and not required:
            return {}
        producer = self._producer(kind)
        try:
            return self.upstream_result(producer)
        except KeyError:
            if not required:
                return {}
            from pipeline_factory.exceptions import StageError

            raise StageError(f"stage {producer!r} produced no {kind!r} result in this run") from None

    def _producer(self, kind: str) -> str:
        if kind not in self.inputs:
            from pipeline_factory.exceptions import StageError

            wired = ", ".join(f"{k} <- {v}" for k, v in sorted(self.inputs.items())) or "none"
            raise StageError(f"stage {self.stage!r} has no {kind!r} input (wired: {wired}); declare it in the "
                             "stage type's ports")
        return self.inputs[kind]

    def upstream_result(self, stage: str) -> Mapping[str, Any]:
        """The result of an upstream stage, read from the workspace."""
        if stage in self.upstream:
            return self.upstream[stage]
        path = self.run_dir / stage / "result.json"
        if not path.exists():
            raise KeyError(f"stage {stage!r} has no result in {self.run_dir}")
        return json.loads(path.read_text())


StageResult = dict[str, Any]


@runtime_checkable
class Stage(Protocol):
    """A stage implementation: ``run(ctx, params) -> result``."""

    def run(self, ctx: StageContext, params: Any) -> StageResult: ...
