"""Loading specs, policies and runtime profiles from the config folder.

Every file is loaded and checked on its own, and every problem of every file
is collected in one pass: one broken spec never hides the valid ones.  The CLI
``validate`` command and the DAG file call the same :func:`load_specs`, so
they cannot disagree.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from pipeline_factory import settings
from pipeline_factory.exceptions import SpecError, SpecProblem
from pipeline_factory.notify import LogNotifierSpec, SmtpNotifierSpec, WebhookNotifierSpec
from pipeline_factory.resilience.policy import Policy
from pipeline_factory.spec.alerts import (
    BreakerOpenRule,
    FailureRateRule,
    GateWaitingRule,
    NoSuccessRule,
    RunDurationRule,
)
from pipeline_factory.spec.checks import check_pipeline
from pipeline_factory.spec.errors import model_keys, problems_from_validation
from pipeline_factory.spec.models import (
    DeadlineSpec,
    GateCondition,
    Notifications,
    PipelineSpec,
    PoliciesFile,
    PoolsFile,
    PoolSpec,
    RuntimeConfig,
    RuntimeProfile,
    StageSpec,
)
from pipeline_factory.spec.ports import wire
from pipeline_factory.spec.resolve import ResolvedStage, resolve_stages, upstream_of
from pipeline_factory.spec.yaml_source import Position, SourceMap, YamlProblem, load_yaml
from pipeline_factory.stages.registry import StageRegistry, default_registry

log = logging.getLogger(__name__)
NOTIFIER_MODELS = (SmtpNotifierSpec, WebhookNotifierSpec, LogNotifierSpec)
M = TypeVar("M", bound=BaseModel)
ALERT_MODELS = (FailureRateRule, RunDurationRule, BreakerOpenRule, GateWaitingRule, NoSuccessRule)
DEFAULTS_FILE = "defaults.yaml"
SPEC_SUFFIXES = (".yaml", ".yml")
_SPEC_KEYS = model_keys(
    PipelineSpec, StageSpec, GateCondition, Notifications, DeadlineSpec, *NOTIFIER_MODELS, *ALERT_MODELS
)
#: Keys ``defaults.yaml`` may set: everything but a pipeline's identity and stages.
DEFAULTABLE = frozenset(PipelineSpec.model_fields) - {"name", "stages"}


@dataclass(frozen=True)
class LoadedSpec:
    spec: PipelineSpec
    file: Path
    display: str
    #: Where ``name:`` is written (for problems found across files).
    name_position: Position | None = None
    #: Every stage's effective settings, in spec order: what the builder, runner, docs, CLI and UI read.
    stages: dict[str, ResolvedStage] = field(default_factory=dict)


@dataclass
class SpecSet:
    """The outcome of loading a config folder: the valid specs and every problem."""

    specs: dict[str, LoadedSpec] = field(default_factory=dict)
    problems: list[SpecProblem] = field(default_factory=list)
    broken_files: list[str] = field(default_factory=list)
    policies: dict[str, Policy] = field(default_factory=dict)
    pools: dict[str, PoolSpec] = field(default_factory=dict)
    profile_name: str = "local"
    profile: RuntimeProfile = field(default_factory=RuntimeProfile)
    #: Each spec file's own outcome, in the order checked.
    outcomes: list[FileOutcome] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def display_path(path: Path) -> str:
    """Paths as an author would type them: relative to the working directory when inside it."""
    path = Path(path).absolute()
    cwd = Path.cwd()
    return str(path.relative_to(cwd)) if path.is_relative_to(cwd) else str(path)


def _load_mapping(path: Path, what: str) -> tuple[dict[str, Any], SourceMap]:
    display = display_path(path)
    try:
        data, smap = load_yaml(path, display=display)
    except YamlProblem as exc:
        raise SpecError([exc.problem]) from None
    except FileNotFoundError:
        raise SpecError([SpecProblem(display, 1, 1, "", f"{what} not found", "file_missing")]) from None
    except OSError as exc:
        raise SpecError([SpecProblem(display, 1, 1, "", f"cannot read the {what}: {exc.strerror or exc}",
                                     "file_unreadable")]) from None
    if data is None:
        raise SpecError([SpecProblem(display, 1, 1, "", f"empty file: expected a {what} mapping", "empty_file")])
    if not isinstance(data, dict):
        raise SpecError(
            [SpecProblem(display, 1, 1, "", f"expected a mapping at the top level, got {type(data).__name__}",
                         "not_a_mapping")]
        )
    return data, smap


def _load_config_file(path: Path, what: str, model: type[M], entry: type[BaseModel]) -> M:
    """One shared config file validated by ``model``; a SpecError names file, line and field of each problem."""
    data, smap = _load_mapping(path, what)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise SpecError(problems_from_validation(exc, data, smap, known_keys=model_keys(entry))) from None


def load_policies(config_dir: Path | None = None) -> dict[str, Policy]:
    """The named policies of ``policies.yaml``."""
    path = (config_dir or settings.config_dir()) / "policies.yaml"
    parsed = _load_config_file(path, "policies file", PoliciesFile, Policy)
    return {name: policy.model_copy(update={"name": name}) for name, policy in parsed.policies.items()}


def load_pools(config_dir: Path | None = None) -> dict[str, PoolSpec]:
    """The Airflow pools stages may use, from ``pools.yaml`` (none when the file is absent)."""
    path = (config_dir or settings.config_dir()) / "pools.yaml"
    if not path.exists():
        return {}
    return dict(_load_config_file(path, "pools file", PoolsFile, PoolSpec).pools)


def load_runtime(config_dir: Path | None = None, profile_name: str | None = None) -> RuntimeProfile:
    """The active runtime profile (``PIPELINE_RUNTIME``) from ``runtime.yaml``."""
    profile_name = profile_name or settings.runtime_profile()
    path = (config_dir or settings.config_dir()) / "runtime.yaml"
    parsed = _load_config_file(path, "runtime file", RuntimeConfig, RuntimeProfile)
    return parsed.profiles.get(profile_name) or RuntimeProfile()  # type: ignore[call-overload]


def _load_defaults(pipelines_dir: Path) -> tuple[dict[str, Any], SourceMap]:
    path = pipelines_dir / DEFAULTS_FILE
    if not path.exists():
        return {}, SourceMap(display_path(path))
    data, smap = _load_mapping(path, "defaults")
    problems = []
    for key in data:
        if key not in DEFAULTABLE:
            pos = smap.lookup((key,))
            problems.append(SpecProblem(pos.file, pos.line, pos.column, key,
                                        f"{key!r} cannot be set in {DEFAULTS_FILE}", "not_defaultable"))
    if problems:
        raise SpecError(problems)
    return data, smap


def spec_files(pipelines_dir: Path) -> list[Path]:
    return sorted(
        p for p in pipelines_dir.iterdir()
        if p.suffix in SPEC_SUFFIXES and p.name != DEFAULTS_FILE and not p.name.startswith(".")
    )


def load_spec_file(
    path: Path,
    *,
    defaults: tuple[dict[str, Any], SourceMap] = ({}, SourceMap("")),
    registry: StageRegistry,
    policies: dict[str, Policy],
    profile_name: str,
    profile: RuntimeProfile,
    pools: dict[str, PoolSpec] | None = None,
) -> LoadedSpec:
    """Load, validate and cross-check one spec file; SpecError lists all its problems."""
    data, smap = _load_mapping(path, "pipeline spec")
    default_data, default_smap = defaults
    inherited = {k for k in default_data if k not in data}
    merged = {**{k: default_data[k] for k in inherited}, **data}
    smap.merge_under(default_smap, inherited)
    try:
        spec = PipelineSpec.model_validate(merged)
    except ValidationError as exc:
        raise SpecError(problems_from_validation(exc, merged, smap, known_keys=_SPEC_KEYS)) from None
    problems = check_pipeline(
        spec, merged, smap, registry=registry, policies=policies, profile_name=profile_name, profile=profile,
        pools=pools,
    )
    if problems:
        raise SpecError(problems)
    wiring = wire(spec, registry, upstream_of(spec))
    stages = resolve_stages(spec, registry=registry, policies=policies, profile=profile, inputs=wiring.inputs,
                            produces=wiring.produces)
    return LoadedSpec(spec=spec, file=path, display=smap.file, name_position=smap.lookup(("name",)), stages=stages)


@dataclass(frozen=True)
class SharedConfig:
    """What every spec is checked against: policies, runtime profile, pools and ``defaults.yaml``."""

    policies: dict[str, Policy]
    profile_name: str
    profile: RuntimeProfile
    pools: dict[str, PoolSpec]
    defaults: tuple[dict[str, Any], SourceMap]


@dataclass(frozen=True)
class FileOutcome:
    """One spec file checked on its own: the spec when valid, else its problems.

    Problems found across files (two specs with one name) are not here: they
    depend on the other files and are added by :func:`load_specs`.
    """

    path: Path
    display: str
    loaded: LoadedSpec | None = None
    problems: tuple[SpecProblem, ...] = ()


def load_shared(config_dir: Path, profile_name: str) -> SharedConfig:
    """The shared config files; a SpecError names every problem in them."""
    return SharedConfig(
        policies=load_policies(config_dir),
        profile_name=profile_name,
        profile=load_runtime(config_dir, profile_name),
        pools=load_pools(config_dir),
        defaults=_load_defaults(config_dir / "pipelines"),
    )


def check_file(path: Path, shared: SharedConfig, registry: StageRegistry) -> FileOutcome:
    """Load and check one spec file against the shared config; never raises for a bad spec."""
    try:
        loaded = load_spec_file(
            path, defaults=shared.defaults, registry=registry, policies=shared.policies,
            profile_name=shared.profile_name, profile=shared.profile, pools=shared.pools,
        )
    except SpecError as exc:
        return FileOutcome(path, display_path(path), problems=tuple(exc.problems))
    except Exception as exc:  # a checker bug must not take the other specs down
        log.debug("checking %s failed", path, exc_info=True)  # the problem says what; no traceback on screen
        problem = SpecProblem(display_path(path), 1, 1, "",
                              f"the spec could not be checked: {type(exc).__name__}: {exc}", "internal_error")
        return FileOutcome(path, display_path(path), problems=(problem,))
    return FileOutcome(path, loaded.display, loaded=loaded)


def loaded_from_checked(path: Path, checked: dict[str, Any], shared: SharedConfig,
                        registry: StageRegistry) -> LoadedSpec:
    """A spec this exact file, config and code already passed (``CheckedSpec``): no YAML, no checks again.

    Only the cheap derived parts are recomputed (the wiring and each stage's
    resolved settings); a record that no longer validates raises, and the
    caller checks the file in full instead.
    """
    spec = PipelineSpec.model_validate(checked["spec"])
    wiring = wire(spec, registry, upstream_of(spec))
    stages = resolve_stages(spec, registry=registry, policies=shared.policies, profile=shared.profile,
                            inputs=wiring.inputs, produces=wiring.produces)
    name_at = checked.get("name_at")
    position = Position(*name_at) if name_at else None
    return LoadedSpec(spec=spec, file=path, display=display_path(path), name_position=position, stages=stages)


def duplicate_name_problem(display: str, name: str, position: Position | None, owner: str) -> SpecProblem:
    pos = position or Position(display, 1, 1)
    return SpecProblem(pos.file, pos.line, pos.column, "name",
                       f"duplicate pipeline name {name!r} (also in {owner})", "duplicate_pipeline")


def load_specs(
    paths: list[Path] | None = None,
    *,
    config_dir: Path | None = None,
    registry: StageRegistry | None = None,
    profile_name: str | None = None,
    checked: Callable[[Path], dict[str, Any] | None] | None = None,
) -> SpecSet:
    """Load every spec (or ``paths``), collecting all problems instead of stopping at the first.

    ``checked(path)`` may return the record of a spec that passed every check
    with exactly these bytes, config and code (the DAG file's record of the
    previous loop): it is then rebuilt from that record instead of parsed and
    checked again.
    """
    config_dir = config_dir or settings.config_dir()
    pipelines_dir = config_dir / "pipelines"
    result = SpecSet(profile_name=profile_name or settings.runtime_profile())
    registry = registry or default_registry()
    try:
        shared = load_shared(config_dir, result.profile_name)
    except SpecError as exc:
        # Shared files are broken: no spec can be trusted, and each would repeat the same error.
        result.problems.extend(exc.problems)
        result.broken_files.extend(sorted({p.file for p in exc.problems}))
        return result
    result.policies, result.profile, result.pools = shared.policies, shared.profile, shared.pools

    try:
        files = paths if paths is not None else spec_files(pipelines_dir)
    except OSError as exc:
        display = display_path(pipelines_dir)
        result.problems.append(SpecProblem(display, 1, 1, "", f"cannot list the specs: {exc.strerror or exc}",
                                           "file_unreadable"))
        result.broken_files.append(display)
        return result
    owner_of: dict[str, str] = {}
    for path in files:
        path = Path(path)
        if path.name == DEFAULTS_FILE:
            continue
        record = checked(path) if checked else None
        outcome = None
        if record is not None:
            try:
                outcome = FileOutcome(path, display_path(path), loaded=loaded_from_checked(path, record, shared,
                                                                                             registry))
            except Exception:  # an unusable record: check the file itself
                log.debug("record of %s unusable; checking the file", path, exc_info=True)
        if outcome is None:
            outcome = check_file(path, shared, registry)
        result.outcomes.append(outcome)
        loaded = outcome.loaded
        if loaded is None:
            result.problems.extend(outcome.problems)
            result.broken_files.append(outcome.display)
            continue
        name = loaded.spec.name
        if name in owner_of:
            result.problems.append(duplicate_name_problem(loaded.display, name, loaded.name_position,
                                                          owner_of[name]))
            result.broken_files.append(loaded.display)
            continue
        owner_of[name] = loaded.display
        result.specs[name] = loaded
    return result


def load_spec(name: str, *, config_dir: Path | None = None) -> LoadedSpec:
    """One valid spec by pipeline name (for the stage runner and the CLI)."""
    specs = load_specs(config_dir=config_dir)
    if name not in specs.specs:
        mine = [p for p in specs.problems if Path(p.file).stem == name]
        if mine:
            raise SpecError(mine)
        from pipeline_factory.exceptions import ConfigError

        raise ConfigError(f"no pipeline named {name!r} in {config_dir or settings.config_dir()}")
    return specs.specs[name]
