"""The project's exception hierarchy.

::

    PipelineFactoryError
    ├── ConfigError                 bad environment or config file outside the specs
    ├── SpecError                   every problem found in the specs (file, line, field each)
    ├── StageError                  a stage failed for a reason worth a clear message
    │   ├── StageSkipped            nothing to do: the task shows as skipped
    │   └── StageParamsError        the stage's parameters are invalid for this run: no retry helps
    │       └── InputRefused        a run input would cross a boundary (path, URL, name): refused
    └── ExternalServiceError        an API or store misbehaved
        ├── TransientServiceError   worth retrying (429, 5xx, timeouts)
        └── CircuitOpenError        the breaker is open: fail without calling

Errors carry their context as keyword-only attributes so callers never parse
messages.
"""

from __future__ import annotations

from dataclasses import dataclass


class PipelineFactoryError(Exception):
    """Base class for every error the project raises on purpose."""


class ConfigError(PipelineFactoryError):
    """The environment or a config file outside the pipeline specs is wrong."""


@dataclass(frozen=True)
class SpecProblem:
    """One finding about one spec, printable as ``FILE:LINE:COL: path: message``."""

    file: str
    line: int
    column: int
    path: str
    message: str
    type: str
    hint: str | None = None

    def format(self) -> str:
        where = f"{self.file}:{self.line}:{self.column}"
        text = f"{where}: {self.path or '<root>'}: {self.message}"
        if self.hint:
            text += f" ({self.hint})"
        return text


class SpecError(PipelineFactoryError):
    """A spec is invalid; ``problems`` lists every finding."""

    def __init__(self, problems: list[SpecProblem]):
        self.problems = list(problems)
        super().__init__("\n".join(p.format() for p in self.problems))



class StageError(PipelineFactoryError):
    """A stage failed with a message meant for the person reading the task log."""


class StageSkipped(StageError):
    """The stage has nothing to do; Airflow marks the task (and its dependants) skipped."""


class StageParamsError(StageError):
    """The stage's ``with:`` values, after the run's params were substituted, are invalid."""


class InputRefused(StageParamsError):
    """A run input (a path, a URL, a run id, a doc id) would reach past what the deployment allows.

    ``what`` names the input (``source_path``, ``pdf_url``, ``run id``); the
    message says why and never echoes credentials.
    """

    def __init__(self, message: str, *, what: str, reason: str):
        super().__init__(message)
        self.what = what
        self.reason = reason


class ExternalServiceError(PipelineFactoryError):
    """An external API or store answered wrongly or not at all."""

    def __init__(self, message: str, *, service: str = "", status: int | None = None):
        super().__init__(message)
        self.service = service
        self.status = status


class TransientServiceError(ExternalServiceError):
    """Worth retrying: rate limited, a server error, a timeout, a truncated body."""

    def __init__(
        self, message: str, *, service: str = "", status: int | None = None, retry_after: float | None = None
    ):
        super().__init__(message, service=service, status=status)
        self.retry_after = retry_after


class CircuitOpenError(ExternalServiceError):
    """The circuit breaker for a service is open; the call was not made."""
