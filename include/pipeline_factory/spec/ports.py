"""Wiring stages by what they exchange: each consumed artifact kind gets exactly one producer.

A stage type declares the kinds it ``consumes`` (required), uses when present
(``optional``) and ``produces``.  For every stage, each kind is looked up
among the stages upstream of it, transitively: none is an error for a
required kind, two or more is an error unless the stage's ``inputs:`` names
the one to use.  The result, kind -> producing stage, is what the stage's
context hands out at run time (``ctx.input("chunks")``), so stage code never
names another stage and YAML owns the topology.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from pipeline_factory.spec.models import PipelineSpec, StageSpec
from pipeline_factory.stages.registry import StageRegistry, StageType
from pipeline_factory.stores.gate_fields import GATE_FIELD_KINDS

Loc = tuple[str | int, ...]


@dataclass(frozen=True)
class Finding:
    path: Loc
    message: str
    type: str
    hint: str | None = None


@dataclass
class Wiring:
    #: stage -> kind -> the upstream stage that produces it
    inputs: dict[str, dict[str, str]] = field(default_factory=dict)
    #: stage -> kinds it produces
    produces: dict[str, tuple[str, ...]] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)


def produced_kinds(stage: StageSpec, stage_type: StageType) -> tuple[str, ...]:
    """What ``stage`` makes available downstream; a gate provides what its condition waits for."""
    if stage_type.kind == "gate" and stage.condition is not None and stage.condition.equals is True:
        kind = GATE_FIELD_KINDS.get(stage.condition.ledger_field)
        return (*stage_type.produces, kind) if kind else stage_type.produces
    return stage_type.produces


def ancestors(upstream: Mapping[str, list[str]], name: str) -> list[str]:
    """Every stage ``name`` runs after, nearest first (cycles and unknown names tolerated)."""
    seen: list[str] = []
    frontier = list(upstream.get(name, []))
    while frontier:
        current = frontier.pop(0)
        if current in seen or current == name or current not in upstream:
            continue
        seen.append(current)
        frontier.extend(upstream[current])
    return seen


def wire(spec: PipelineSpec, registry: StageRegistry, upstream: Mapping[str, list[str]]) -> Wiring:
    """Resolve every stage's inputs; problems become findings with the place to report them."""
    out = Wiring()
    types = {s.name: registry.get(s.type) for s in spec.stages if s.type in registry}
    for stage in spec.stages:
        if stage.name in types:
            out.produces[stage.name] = produced_kinds(stage, types[stage.name])
    for index, stage in enumerate(spec.stages):
        stage_type = types.get(stage.name)
        if stage_type is None:
            continue
        here: Loc = ("stages", index)
        before = ancestors(upstream, stage.name)
        named = dict(stage.inputs or {})
        wired: dict[str, str] = {}
        accepted = (*stage_type.consumes, *stage_type.optional)
        required = (*stage_type.consumes, *_required_by_params(stage, stage_type))
        for kind, producer in named.items():
            where = (*here, "inputs", kind)
            if kind not in accepted:
                out.findings.append(Finding(where, f"a {stage.type} stage has no input {kind!r}", "unknown_input",
                                            f"its inputs: {', '.join(accepted) or 'none'}"))
            elif producer not in out.produces:
                out.findings.append(Finding(where, f"unknown stage {producer!r}", "unknown_producer"))
            elif producer not in before:
                out.findings.append(Finding(where, f"stage {producer!r} does not run before {stage.name!r}",
                                            "producer_not_upstream", "add it to depends_on, directly or through "
                                            "another stage"))
            elif kind not in out.produces[producer]:
                out.findings.append(Finding(where, f"stage {producer!r} does not produce {kind!r}",
                                            "producer_wrong_kind",
                                            f"it produces: {', '.join(out.produces[producer]) or 'nothing'}"))
            else:
                wired[kind] = producer
        for kind in accepted:
            if kind in named:
                continue
            candidates = [name for name in before if kind in out.produces.get(name, ())]
            if len(candidates) == 1:
                wired[kind] = candidates[0]
            elif len(candidates) > 1:
                out.findings.append(Finding(
                    here, f"stage {stage.name!r} reads {kind!r}, produced upstream by {len(candidates)} stages: "
                    f"{', '.join(sorted(candidates))}", "ambiguous_input",
                    f"name the one to use: inputs: {{{kind}: {sorted(candidates)[0]}}}"))
            elif kind in required:
                makers = sorted(t.name for t in registry if kind in t.produces)
                makers += [f"gate on {f}" for f, k in GATE_FIELD_KINDS.items() if k == kind]
                out.findings.append(Finding(
                    here, f"stage {stage.name!r} ({stage.type}) needs {kind!r}, and no stage upstream produces it",
                    "missing_input", f"produced by: {', '.join(makers) or 'no stage type'}"))
        out.inputs[stage.name] = wired
    return out


def _required_by_params(stage: StageSpec, stage_type: StageType) -> tuple[str, ...]:
    """Optional inputs the stage's ``with:`` makes required (``promote`` with ``approval: required``)."""
    try:
        return tuple(stage_type.params_model().inputs_required_by(stage.params))
    except Exception:  # a params model that cannot be imported is reported by the params check
        return ()
