"""One :class:`ResolvedStage` per stage: its effective settings, resolved once by the loader.

The builder, the runner, the DAG docs, the CLI's ``render`` and the UI all
read these objects instead of recomputing "the stage's policy, or the
pipeline's default", "the stage's compute, or its type's default", "the
stage's pool, or the runtime's GPU pool": computed in one place, they cannot
disagree.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pipeline_factory.resilience.policy import Policy, RetryBudget
from pipeline_factory.spec.models import GateCondition, PipelineSpec, RuntimeProfile, StageSpec
from pipeline_factory.stages.registry import StageRegistry, StageType

#: How the factory renders a stage: the worker (task), the runtime profile's GPU operator
#: (gpu), the ledger sensor (gate) or the human-in-the-loop operator (approval).
OperatorKind = Literal["task", "gpu", "gate", "approval"]


def upstream_of(spec: PipelineSpec) -> dict[str, list[str]]:
    """Each stage's upstream stages: ``depends_on``, or the previous stage when omitted."""
    result: dict[str, list[str]] = {}
    previous: str | None = None
    for stage in spec.stages:
        if stage.depends_on is not None:
            result[stage.name] = list(stage.depends_on)
        else:
            result[stage.name] = [previous] if previous else []
        previous = stage.name
    return result


@dataclass(frozen=True)
class ResolvedStage:
    """A stage with every effective setting decided."""

    spec: StageSpec
    stage_type: StageType
    operator: OperatorKind
    compute: Literal["cpu", "gpu"]
    policy: Policy
    budget: RetryBudget
    pool: str | None
    #: Seconds per attempt (the stage's ``timeout`` or its policy's); for a gate, its whole wait.
    timeout: float | None
    upstream: tuple[str, ...]
    #: Artifact kind -> the upstream stage that produces it (what ``ctx.input(kind)`` reads).
    inputs: Mapping[str, str] = field(default_factory=dict)
    produces: tuple[str, ...] = ()

    # What the control-stage builders read, under the names a StageSpec has.
    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def type(self) -> str:
        return self.spec.type

    @property
    def params(self) -> dict[str, Any]:
        return self.spec.params

    @property
    def description(self) -> str:
        return self.spec.description

    @property
    def queue(self) -> str | None:
        return self.spec.queue

    @property
    def condition(self) -> GateCondition | None:
        return self.spec.condition

    @property
    def poke_interval(self) -> float | None:
        return self.spec.poke_interval

    @property
    def image(self) -> str | None:
        return self.spec.image

    def summary(self) -> dict[str, Any]:
        """JSON-safe view for the CLI and the UI."""
        return {
            "name": self.name,
            "type": self.type,
            "operator": self.operator,
            "compute": self.compute,
            "policy": self.policy.name,
            "attempts": {"total": self.budget.total, "airflow_tries": self.budget.task_attempts,
                         "in_task_per_request": self.budget.in_task_attempts},
            "pool": self.pool,
            "timeout_seconds": self.timeout,
            "upstream": list(self.upstream),
            "inputs": dict(self.inputs),
            "produces": list(self.produces),
        }


def resolve_stages(
    spec: PipelineSpec,
    *,
    registry: StageRegistry,
    policies: Mapping[str, Policy],
    profile: RuntimeProfile,
    inputs: Mapping[str, Mapping[str, str]],
    produces: Mapping[str, tuple[str, ...]],
) -> dict[str, ResolvedStage]:
    """Resolve a spec that passed every check (names, references and ports are known to be good)."""
    upstream = upstream_of(spec)
    resolved: dict[str, ResolvedStage] = {}
    for stage in spec.stages:
        stage_type = registry.get(stage.type)
        compute = stage.compute or stage_type.default_compute
        operator: OperatorKind = stage_type.kind if stage_type.kind != "task" else (
            "gpu" if compute == "gpu" else "task")
        policy = policies[stage.policy or spec.default_policy]
        # A gate's timeout bounds its whole wait (the sensor's own default when unset), not one attempt.
        timeout = stage.timeout if stage.timeout is not None or operator == "gate" else policy.timeout_seconds
        resolved[stage.name] = ResolvedStage(
            spec=stage,
            stage_type=stage_type,
            operator=operator,
            compute=compute,
            policy=policy,
            budget=policy.budget(retries_in_task=stage_type.retries_in_task),
            pool=stage.pool or (profile.gpu_pool if compute == "gpu" else None),
            timeout=timeout,
            upstream=tuple(upstream[stage.name]),
            inputs=dict(inputs.get(stage.name, {})),
            produces=tuple(produces.get(stage.name, ())),
        )
    return resolved
