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
from types import UnionType
from typing import TYPE_CHECKING, Annotated, Any, Protocol, Union, get_args, get_origin, runtime_checkable

from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator

if TYPE_CHECKING:
    from pipeline_factory.resilience.policy import Policy


class StageLog(Protocol):
    """What stage code logs through: a stdlib logger, or the task's own logger under Airflow."""

    def debug(self, *args: Any, **kwargs: Any) -> Any: ...
    def info(self, *args: Any, **kwargs: Any) -> Any: ...
    def warning(self, *args: Any, **kwargs: Any) -> Any: ...
    def error(self, *args: Any, **kwargs: Any) -> Any: ...
    def exception(self, *args: Any, **kwargs: Any) -> Any: ...


class StageParams(BaseModel):
    """Base for every stage type's ``with:`` model: unknown keys are typos.

    Numbers are finite (no ``.inf``/``.nan``) and never booleans: YAML reads
    ``yes`` as true, and pydantic would otherwise take it as 1.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    @classmethod
    def inputs_required_by(cls, params: Mapping[str, Any]) -> tuple[str, ...]:
        """Optional inputs that these ``with:`` values make required (checked by ``validate``)."""
        return ()

    @field_validator("*", mode="before")
    @classmethod
    def _no_booleans_as_numbers(cls, value: Any, info: ValidationInfo) -> Any:
        if isinstance(value, bool) and info.field_name and _numeric(cls.model_fields[info.field_name].annotation):
            raise ValueError(f"expected a number, got {str(value).lower()}")
        return value


def _numeric(annotation: Any) -> bool:
    """``int``, ``float`` or an optional / annotated form of one (not a union that also allows ``bool``)."""
    if annotation in (int, float):
        return True
    origin = get_origin(annotation)
    if origin is Annotated:
        return _numeric(get_args(annotation)[0])
    if origin in (Union, UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        return bool(args) and bool not in args and all(_numeric(a) for a in args)
    return False


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
    log: StageLog = field(default_factory=lambda: logging.getLogger("pipeline_factory.stage"))
    #: A mapped stage's task (fan-out): its index; it then works in a folder of its own.
    map_index: int | None = None

    @property
    def stage_dir(self) -> Path:
        """This stage's own folder in the workspace (created on first use); a mapped task's is below it."""
        path = self.run_dir / self.stage
        if self.map_index is not None:
            path = path / f"{MAP_FOLDER_PREFIX}{self.map_index}"
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
        result = read_stage_result(self.run_dir / stage)
        if result is None:
            raise KeyError(f"stage {stage!r} has no result in {self.run_dir}")
        return result


#: A mapped stage's tasks each keep their folder and result in ``<stage>/map-<index>/``.
MAP_FOLDER_PREFIX = "map-"


def read_stage_result(folder: Path) -> dict[str, Any] | None:
    """A stage's result from its workspace folder; a mapped stage's results merged (see :func:`merge_results`)."""
    path = folder / "result.json"
    if path.exists():
        return json.loads(path.read_text())
    parts = sorted(folder.glob(f"{MAP_FOLDER_PREFIX}*/result.json"),
                   key=lambda p: int(p.parent.name.removeprefix(MAP_FOLDER_PREFIX) or 0))
    if not parts:
        return None
    return merge_results([json.loads(p.read_text()) for p in parts])


def merge_results(results: list[Mapping[str, Any]]) -> dict[str, Any]:
    """The results of a fan-out as one: numbers added, mappings merged, lists joined, equal values kept.

    Downstream stages then read a mapped stage as they read any stage (for
    example ``papers_collected`` summed and ``pending_watermarks`` merged over
    the search terms); values that differ otherwise become the list of them.
    """
    merged: dict[str, Any] = {}
    for result in results:
        for key, value in result.items():
            merged[key] = _merge(merged[key], value) if key in merged else value
    return merged


def _merge(old: Any, new: Any) -> Any:
    number = (int, float)
    if isinstance(old, number) and isinstance(new, number) and not isinstance(old, bool) \
            and not isinstance(new, bool):
        return old + new
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        out = dict(old)
        for key, value in new.items():
            out[key] = _merge(out[key], value) if key in out else value
        return out
    if isinstance(old, list) and isinstance(new, list):
        return [*old, *new]
    if old == new:
        return old
    return [*old, new] if isinstance(old, list) else [old, new]


StageResult = dict[str, Any]


@runtime_checkable
class Stage(Protocol):
    """A stage implementation: ``run(ctx, params) -> result``."""

    def run(self, ctx: StageContext, params: Any) -> StageResult: ...
