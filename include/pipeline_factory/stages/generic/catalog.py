"""Generic stage types."""

from __future__ import annotations

from pipeline_factory.stages.registry import StageType

_P = "pipeline_factory.stages.generic"

STAGE_TYPES = [
    StageType(
        name="echo",
        family="generic",
        params=f"{_P}.params:EchoParams",
        impl=f"{_P}.echo:Echo",
        description="Write a message and the run's params to the workspace.",
    ),
    StageType(
        name="command",
        family="generic",
        params=f"{_P}.params:CommandParams",
        impl=f"{_P}.command:Command",
        description="Run one program (no shell) in the stage's workspace folder.",
    ),
]
