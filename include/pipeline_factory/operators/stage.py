"""The operators task stages become: thin shells around the stage runner.

They hold names, not logic: the stage code runs through
:func:`pipeline_factory.runner.run_stage` (in the worker) or the runner module
(in a local process), exactly as it does in a container or a pod.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from pipeline_factory.lineage.operator_lineage import StageLineageMixin, openlineage_run_id

if TYPE_CHECKING:
    from airflow.sdk import Context


def _params(context: Context) -> dict[str, Any]:
    params = context.get("params") or {}
    return params.dump() if hasattr(params, "dump") else dict(params)


class StageOperator(StageLineageMixin, BaseOperator):
    """Runs a CPU stage inside the worker process; mapped (``map_item``), one element of a fan-out.

    Its datasets go to OpenLineage when configured.
    """

    ui_color = "#e8f1fb"
    _NOT_MAPPED = object()

    def __init__(self, *, pipeline: str, stage: str, stage_type: str, map_item: Any = _NOT_MAPPED,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.pipeline = pipeline
        self.stage = stage
        self.stage_type = stage_type
        self.map_item = map_item

    def execute(self, context: Context) -> Any:
        from pipeline_factory.exceptions import (
            CircuitOpenError,
            ConfigError,
            SpecError,
            StageParamsError,
            StageSkipped,
        )
        from pipeline_factory.observability.notes import record_note, refused_note, result_note, skipped_note
        from pipeline_factory.runner import run_stage

        try:
            mapped = {} if self.map_item is self._NOT_MAPPED else {
                "map_item": self.map_item, "map_index": context["ti"].map_index}
            result = run_stage(
                self.pipeline,
                self.stage,
                run_id=context["run_id"],
                params=_params(context),
                try_number=context["ti"].try_number,
                logger=self.log,
                lineage_run_id=openlineage_run_id(context),
                **mapped,
            )
        except StageSkipped as exc:
            record_note(context, skipped_note(str(exc)))
            raise AirflowSkipException(str(exc)) from exc
        except (ConfigError, SpecError, StageParamsError) as exc:
            # A retry cannot fix a broken spec, environment or run conf.
            record_note(context, refused_note(exc))
            raise AirflowFailException(str(exc)) from exc
        except CircuitOpenError as exc:
            record_note(context, refused_note(exc))
            raise
        record_note(context, result_note(result))
        return result


class LocalProcessStageOperator(StageLineageMixin, BaseOperator):
    """Runs a GPU stage as ``python -m pipeline_factory.runner`` in a child process.

    The local profile's stand-in for a container: the stage gets a process of
    its own (its own CUDA context, its memory returned on exit), and killing
    the task kills the child.
    """

    ui_color = "#fdf0d5"
    SKIP_EXIT_CODE = 99

    def __init__(self, *, pipeline: str, stage: str, stage_type: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.pipeline = pipeline
        self.stage = stage
        self.stage_type = stage_type
        self._process: subprocess.Popen[str] | None = None

    def command(self, context: Context) -> list[str]:
        argv = [
            sys.executable, "-m", "pipeline_factory.runner", self.pipeline, self.stage,
            "--run-id", context["run_id"],
            "--params", json.dumps(_params(context), default=str),
            "--try-number", str(context["ti"].try_number),
        ]
        if lineage_run := openlineage_run_id(context):
            argv += ["--lineage-run-id", lineage_run]
        return argv

    def execute(self, context: Context) -> Any:
        self._process = subprocess.Popen(
            self.command(context),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        last_line = ""
        assert self._process.stdout is not None
        for line in self._process.stdout:
            line = line.rstrip("\n")
            if line:
                self.log.info("%s", line)
                last_line = line
        returncode = self._process.wait()
        from pipeline_factory.observability.notes import record_note, result_note, skipped_note

        try:
            outcome = json.loads(last_line)
        except ValueError:
            outcome = None
        if returncode == self.SKIP_EXIT_CODE:
            reason = outcome.get("skipped") if isinstance(outcome, dict) else None
            reason = reason or f"stage {self.stage} had nothing to do"
            record_note(context, skipped_note(reason))
            raise AirflowSkipException(reason)
        if returncode != 0:
            raise RuntimeError(f"stage {self.stage} exited with {returncode}: {last_line}")
        record_note(context, result_note(outcome))
        return outcome

    def on_kill(self) -> None:
        if self._process and self._process.poll() is None:
            os.killpg(self._process.pid, signal.SIGTERM)
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self._process.pid, signal.SIGKILL)
