"""Checks that need more than one file's schema: the stage graph and references.

Each finding names the entries involved (the stages of a cycle, the unknown
name and its closest match), because "cycle detected" alone sends an author
hunting.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from pipeline_factory.exceptions import SpecProblem
from pipeline_factory.resilience.policy import Policy
from pipeline_factory.spec.errors import did_you_mean, dotted, problems_from_validation
from pipeline_factory.spec.models import (
    PARAM_KEYWORDS,
    PARAM_TYPES,
    PipelineSpec,
    RuntimeProfile,
    StageSpec,
    schedule_kind,
)
from pipeline_factory.spec.ports import Wiring, wire
from pipeline_factory.spec.references import find_references, substitute
from pipeline_factory.spec.resolve import upstream_of
from pipeline_factory.spec.yaml_source import SourceMap
from pipeline_factory.stages.registry import StageRegistry

Loc = tuple[str | int, ...]


class _Collector:
    def __init__(self, smap: SourceMap):
        self.smap = smap
        self.problems: list[SpecProblem] = []

    def add(self, path: Loc, message: str, error_type: str, hint: str | None = None) -> None:
        pos = self.smap.lookup(path)
        self.problems.append(SpecProblem(pos.file, pos.line, pos.column, dotted(path), message, error_type, hint))


def check_pipeline(
    spec: PipelineSpec,
    raw: Mapping[str, Any],
    smap: SourceMap,
    *,
    registry: StageRegistry,
    policies: Mapping[str, Policy],
    profile_name: str,
    profile: RuntimeProfile,
    pools: Mapping[str, Any] | None = None,
) -> list[SpecProblem]:
    """Every cross-reference problem of one spec.  ``pools=None`` skips the pool check."""
    out = _Collector(smap)
    stage_names = [s.name for s in spec.stages]

    if spec.default_policy not in policies:
        out.add(("default_policy",), f"unknown policy {spec.default_policy!r}", "unknown_policy",
                did_you_mean(spec.default_policy, policies) or f"defined: {', '.join(sorted(policies))}")

    _check_params(out, spec)
    seen: dict[str, int] = {}
    for index, stage in enumerate(spec.stages):
        if stage.name in seen:
            out.add(("stages", index, "name"),
                    f"duplicate stage name {stage.name!r} (first used by stages.{seen[stage.name]})",
                    "duplicate_stage")
        else:
            seen[stage.name] = index
        _check_stage(out, spec, stage, index, stage_names, registry, policies, profile_name, profile)
        _check_stage_params(out, spec, stage, index, raw, registry)
        if pools is not None and stage.pool is not None and stage.pool not in pools:
            out.add(("stages", index, "pool"), f"unknown pool {stage.pool!r}", "unknown_pool",
                    did_you_mean(stage.pool, pools) or f"declare it in pools.yaml ({', '.join(sorted(pools))})")

    _check_airflow_features(out, spec, stage_names)
    _check_cycles(out, spec)
    if not out.problems:  # ports need known types and a sound graph to mean anything
        check_ports(out, wire(spec, registry, upstream_of(spec)))
    _check_alerts(out, spec, registry)
    return out.problems


def check_ports(out: _Collector, wiring: Wiring) -> None:
    for finding in wiring.findings:
        out.add(finding.path, finding.message, finding.type, finding.hint)


def _check_params(out: _Collector, spec: PipelineSpec) -> None:
    """Params are JSON schemas: known keywords, known types, a valid schema and defaults that match.

    Checked the way Airflow's ``Param`` resolves them (jsonschema with format
    checks, JSON-serialisable values), because a scheduled DAG whose params
    do not resolve is refused when it is built.
    """
    import json

    import jsonschema

    scheduled = schedule_kind(spec.schedule) != "none"
    for name, schema in spec.params.items():
        here: Loc = ("params", name)
        for key in schema:
            if key not in PARAM_KEYWORDS:
                out.add((*here, key), f"unknown JSON-schema keyword {key!r}", "unknown_param_keyword",
                        did_you_mean(key, PARAM_KEYWORDS))
        types = schema.get("type")
        for t in types if isinstance(types, list) else [types]:
            if t is not None and t not in PARAM_TYPES:
                out.add((*here, "type"), f"unknown param type {t!r}", "unknown_param_type",
                        did_you_mean(str(t), PARAM_TYPES))
        if "description" in schema and not isinstance(schema["description"], str | None):
            out.add((*here, "description"), "a param's description must be text", "param_schema")
        checker = {k: v for k, v in schema.items() if k in PARAM_KEYWORDS - {"default", "values_display"}}
        try:
            json.dumps(schema, allow_nan=False)
            jsonschema.validators.validator_for(checker).check_schema(checker)
        except (TypeError, ValueError):
            out.add(here, "a param's schema must be plain JSON (quote dates and times; no .inf or .nan)",
                    "param_schema")
            continue
        except jsonschema.SchemaError as exc:
            out.add(here, f"invalid JSON schema: {exc.message}", "param_schema")
            continue
        if "default" not in schema:
            if scheduled:
                out.add(here, f"run param {name!r} needs a default: the pipeline is scheduled and a scheduled run "
                        "gets no --conf", "param_without_default")
            continue
        try:
            jsonschema.validate(schema["default"], checker, format_checker=jsonschema.FormatChecker())
        except jsonschema.ValidationError as exc:
            out.add((*here, "default"), f"default does not match the param's schema: {exc.message}",
                    "param_default")
        except jsonschema.SchemaError as exc:
            out.add(here, f"invalid JSON schema: {exc.message}", "param_schema")


#: The task that lists a mapped stage's elements: ``<stage>_items``.
MAP_ITEMS_SUFFIX = "_items"


def _check_airflow_features(out: _Collector, spec: PipelineSpec, stage_names: list[str]) -> None:
    """Groups, outlets and deadlines: what Airflow would refuse at build time, or would silently do wrong."""
    for index, stage in enumerate(spec.stages):
        if stage.group is not None and stage.group in stage_names:
            out.add(("stages", index, "group"), f"group {stage.group!r} has the name of a stage; "
                    "Airflow keeps task and group ids in one namespace", "group_name_taken")
        seen: set[str] = set()
        for uri_index, uri in enumerate(stage.outlets):
            if uri in seen:
                out.add(("stages", index, "outlets", uri_index), f"asset {uri!r} is listed twice", "duplicate_outlet")
            seen.add(uri)
        if stage.map_over is not None:
            _check_map_over(out, spec, stage, index, stage_names)
    if spec.deadline is not None and not spec.notifications.on_failure:
        out.add(("deadline",), "a deadline notifies the pipeline's notifiers, and it has none",
                "deadline_without_notifiers", "add notifications.on_failure (smtp, webhook or log)")


def _check_map_over(out: _Collector, spec: PipelineSpec, stage: StageSpec, index: int,
                    stage_names: list[str]) -> None:
    here: Loc = ("stages", index, "map_over")
    schema = spec.params.get(stage.map_over or "")
    if schema is None:
        out.add(here, f"map_over names no run param: {stage.map_over!r}", "unknown_param",
                did_you_mean(stage.map_over or "", spec.params) or "declare it under params: with type: array")
    elif schema.get("type") != "array":
        out.add(here, f"run param {stage.map_over!r} must be of type array to map over it", "map_over_not_a_list")
    if f"{stage.name}{MAP_ITEMS_SUFFIX}" in stage_names:
        out.add(here, f"a mapped stage adds the task {stage.name}{MAP_ITEMS_SUFFIX}, and a stage has that name",
                "map_items_name_taken")


def _check_stage(
    out: _Collector,
    spec: PipelineSpec,
    stage: StageSpec,
    index: int,
    stage_names: list[str],
    registry: StageRegistry,
    policies: Mapping[str, Policy],
    profile_name: str,
    profile: RuntimeProfile,
) -> None:
    here: Loc = ("stages", index)
    for dep_index, dep in enumerate(stage.depends_on or []):
        if dep == stage.name:
            out.add((*here, "depends_on", dep_index), f"stage {stage.name!r} depends on itself", "self_dependency")
        elif dep not in stage_names:
            out.add((*here, "depends_on", dep_index), f"unknown stage {dep!r}", "unknown_dependency",
                    did_you_mean(dep, stage_names))
    if stage.policy is not None and stage.policy not in policies:
        out.add((*here, "policy"), f"unknown policy {stage.policy!r}", "unknown_policy",
                did_you_mean(stage.policy, policies) or f"defined: {', '.join(sorted(policies))}")
    if stage.type not in registry:
        out.add((*here, "type"), f"unknown stage type {stage.type!r}", "unknown_stage_type",
                did_you_mean(stage.type, registry.names()) or f"registered: {', '.join(registry.names())}")
        return
    stage_type = registry.get(stage.type)
    _check_policy_applies(out, stage, here, stage_type.retries_in_task, policies)
    if stage_type.kind == "gate":
        if stage.condition is None:
            out.add(here, f"gate stage {stage.name!r} needs a condition (ledger_field, equals)", "gate_condition")
    else:
        for key in ("condition", "poke_interval"):
            if getattr(stage, key) is not None:
                out.add((*here, key), f"{key!r} is only allowed on gate stages", "gate_only")
    compute = stage.compute or stage_type.default_compute
    if stage.map_over is not None and (stage_type.kind != "task" or compute == "gpu"):
        out.add((*here, "map_over"), f"only cpu task stages can be mapped; {stage.name!r} is a "
                f"{'gpu' if compute == 'gpu' else stage_type.kind} stage", "map_over_unsupported")
    if compute == "gpu":
        if stage_type.kind != "task":
            out.add((*here, "compute"), f"a {stage_type.kind} stage cannot run on a GPU", "gpu_control_stage")
        elif profile_name in ("docker", "kubernetes") and not (stage.image or profile.image):
            out.add((*here, "compute"),
                    f"GPU stage {stage.name!r} has no container image in the {profile_name} profile",
                    "gpu_image_missing", f"set 'image:' on the stage or 'image' in runtime.yaml's {profile_name}")


def _check_policy_applies(
    out: _Collector, stage: StageSpec, here: Loc, guarded: bool, policies: Mapping[str, Policy]
) -> None:
    """A breaker or a rate limit on a stage type that calls nothing out through a guard would be ignored."""
    policy = policies.get(stage.policy) if stage.policy is not None else None
    if policy is None or guarded:
        return
    ignored = [name for name, value in (("circuit_breaker", policy.circuit_breaker),
                                        ("rate_limit_per_second", policy.rate_limit_per_second)) if value]
    if ignored:
        out.add((*here, "policy"),
                f"policy {stage.policy!r} sets {' and '.join(ignored)}, but stage type {stage.type!r} makes no "
                "external calls through a guard: they would be ignored", "policy_not_applied",
                "choose a policy without them (retries still apply as Airflow task retries)")


def _check_stage_params(
    out: _Collector,
    spec: PipelineSpec,
    stage: StageSpec,
    index: int,
    raw: Mapping[str, Any],
    registry: StageRegistry,
) -> None:
    if stage.type not in registry:
        return
    here: Loc = ("stages", index, "with")
    defaults: dict[str, Any] = {}
    ok = True
    for path, name in find_references(stage.params):
        if name not in spec.params:
            out.add((*here, *path), f"unknown run param {name!r}", "unknown_param",
                    did_you_mean(name, spec.params) or f"declared: {', '.join(sorted(spec.params)) or 'none'}")
            ok = False
        elif "default" not in spec.params[name]:
            out.add((*here, *path), f"run param {name!r} is referenced here but has no default",
                    "param_without_default")
            ok = False
        else:
            defaults[name] = spec.params[name]["default"]
    if not ok:
        return
    model = registry.get(stage.type).params_model()
    resolved = substitute(stage.params, defaults)
    try:
        model.model_validate(resolved)
    except ValidationError as exc:
        out.problems.extend(
            problems_from_validation(exc, resolved, out.smap, prefix=here, known_keys=model.model_fields)
        )


def _check_cycles(out: _Collector, spec: PipelineSpec) -> None:
    graph = upstream_of(spec)
    index_of = {s.name: i for i, s in enumerate(spec.stages)}
    state: dict[str, int] = {}  # 1 = on the stack, 2 = done
    reported: set[frozenset[str]] = set()

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        stack.append(node)
        for dep in graph.get(node, []):
            if dep not in graph or dep == node:
                continue  # reported as unknown / self dependency
            if state.get(dep) == 1:
                cycle = [*stack[stack.index(dep):], dep]
                key = frozenset(cycle)
                if key not in reported:
                    reported.add(key)
                    first = min(cycle[:-1], key=lambda n: index_of[n])
                    out.add(("stages", index_of[first], "depends_on"),
                            f"dependency cycle: {' -> '.join(cycle)}", "dependency_cycle")
            elif state.get(dep) is None:
                visit(dep, stack)
        stack.pop()
        state[node] = 2

    for stage in spec.stages:
        if stage.name not in state:
            visit(stage.name, [])


def _check_alerts(out: _Collector, spec: PipelineSpec, registry: StageRegistry) -> None:
    """A gate rule must name a gate stage of this pipeline (or the pipeline must have one)."""
    gates = [s.name for s in spec.stages if s.type in registry and registry.get(s.type).kind == "gate"]
    for index, rule in enumerate(spec.alerts):
        if rule.kind != "gate_waiting":
            continue
        if rule.stage is not None and rule.stage not in gates:
            out.add(("alerts", index, "stage"), f"{rule.stage!r} is not a gate stage of this pipeline",
                    "unknown_gate", did_you_mean(rule.stage, gates) or f"gates: {', '.join(gates) or 'none'}")
        elif rule.stage is None and not gates:
            out.add(("alerts", index, "kind"), "a gate_waiting rule needs a gate stage; this pipeline has none",
                    "no_gate")
