"""The spec language as pydantic models.

These models are the contract with pipeline authors and editors (their JSON
Schema is exported to ``config/schema/``).  They check what one file can check
on its own; references to other things (stage types, policies, other stages)
are checked by :mod:`pipeline_factory.spec.checks`, which knows the registry.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Strict,
    StringConstraints,
    TypeAdapter,
    field_validator,
    model_validator,
)
from pydantic import Tag as Choice

from pipeline_factory.notify import NotifierSpec
from pipeline_factory.resilience.policy import MAX_SECONDS, Policy
from pipeline_factory.spec.alerts import AlertRule
from pipeline_factory.stores.gate_fields import GATE_FIELD_TYPES, JOB_STATES

Identifier = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Za-z][A-Za-z0-9_]{0,199}$"),
    Field(description="Letters, digits and underscores, starting with a letter."),
]

#: Seconds: a number (not a boolean, not a string), finite, positive and at most 30 days.
Seconds = Annotated[float, Strict(), Field(gt=0, le=MAX_SECONDS, allow_inf_nan=False)]
#: Airflow refuses longer tags when it builds the DAG.
Tag = Annotated[str, StringConstraints(min_length=1, max_length=100)]
#: Years a start date may fall in: Airflow's timetables and the UI work in this range.
START_YEARS = (1970, 2200)

SCHEDULE_PRESETS = frozenset(
    {"@once", "@continuous", "@hourly", "@daily", "@weekly", "@monthly", "@quarterly", "@yearly", "@annually"}
)
#: JSON-schema keywords a param may use (anything else is most likely a typo).
PARAM_KEYWORDS = frozenset(
    {
        "type", "default", "description", "title", "enum", "const", "format", "examples",
        "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf",
        "minLength", "maxLength", "pattern", "items", "minItems", "maxItems", "uniqueItems",
        "properties", "required", "additionalProperties", "anyOf", "oneOf", "allOf", "values_display",
    }
)
PARAM_TYPES = frozenset({"string", "integer", "number", "boolean", "array", "object", "null"})
_DURATION = TypeAdapter(timedelta)
_ISO_DURATION = re.compile(r"^P(?!$)(\d+W)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+(\.\d+)?S)?)?$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


#: An Airflow asset URI (``scheme://path``).
AssetURI = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Za-z][A-Za-z0-9+.\-]*://\S+$", max_length=1500),
    Field(description="An asset URI, scheme://path (e.g. pipeline://documents/pdfs-downloaded)."),
]


def _some_uris(value: list[str]) -> list[str]:
    if not value:
        raise ValueError("an asset schedule needs at least one asset URI")
    return value


#: The URIs of an asset schedule: every one of them, and at least one.
AssetURIs = Annotated[list[AssetURI], AfterValidator(_some_uris)]


class AssetsAll(_Strict):
    """Run when every listed asset (or condition) has been updated since the last run."""

    all: list[AssetTerm] = Field(min_length=1)


class AssetsAny(_Strict):
    """Run when any listed asset (or condition) has been updated."""

    any: list[AssetTerm] = Field(min_length=1)


def _condition_form(value: Any) -> str:
    """``all`` or ``any``, by the keys an author wrote: errors then speak of that form only.

    Serialization hands the validated model instead of the mapping.
    """
    if isinstance(value, AssetsAll | AssetsAny):
        return "all" if isinstance(value, AssetsAll) else "any"
    return "any" if "any" in value and "all" not in value else "all"


def _asset_term_form(value: Any) -> str:
    return _condition_form(value) if isinstance(value, dict | AssetsAll | AssetsAny) else "uri"


AssetTerm = Annotated[
    Annotated[AssetURI, Choice("uri")] | Annotated[AssetsAll, Choice("all")] | Annotated[AssetsAny, Choice("any")],
    Discriminator(_asset_term_form),
]
AssetsAll.model_rebuild()
AssetsAny.model_rebuild()


class AssetsOrCron(_Strict):
    """Run on asset updates, and also at cron slots: a sweep for work no asset event announced.

    Rendered as Airflow's ``AssetOrTimeSchedule``.  A consumer whose work can
    be left behind without a new event (a crashed run's claims taken again
    later, a backlog) sweeps on the slots.
    """

    assets: Annotated[
        Annotated[AssetURIs, Choice("uris")] | Annotated[AssetsAll, Choice("all")]
        | Annotated[AssetsAny, Choice("any")],
        Discriminator(lambda v: _condition_form(v) if isinstance(v, dict | AssetsAll | AssetsAny) else "uris"),
    ] = Field(description="Asset URIs (all of them) or an all/any condition, as in an asset schedule.")
    or_cron: str = Field(description="A 5-field cron expression (UTC): the sweep's slots.")

    @field_validator("or_cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        return check_cron(value)


def _schedule_form(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, list):
        return "uris"
    if isinstance(value, AssetsOrCron) or (isinstance(value, dict) and ("assets" in value or "or_cron" in value)):
        return "assets_or_cron"
    return _condition_form(value) if isinstance(value, dict | AssetsAll | AssetsAny) else "text"


Schedule = Annotated[
    Annotated[str, Choice("text")] | Annotated[AssetURIs, Choice("uris")] | Annotated[AssetsAll, Choice("all")]
    | Annotated[AssetsAny, Choice("any")] | Annotated[AssetsOrCron, Choice("assets_or_cron")]
    | Annotated[None, Choice("none")],
    Discriminator(_schedule_form),
]


class DeadlineSpec(_Strict):
    """A run must finish within ``within`` of its reference time, else the pipeline's notifiers are told."""

    within: str = Field(description="An ISO-8601 duration: PT3H for \"finished within 3 hours\".")
    after: Literal["logical_date", "queued_at"] = Field(
        "logical_date", description="logical_date: the scheduled time; queued_at: when the run was queued."
    )

    @field_validator("within")
    @classmethod
    def _positive(cls, value: str) -> str:
        try:
            seconds = parse_duration(value).total_seconds()
        except Exception:
            raise ValueError(f"{value!r} is not a duration: write an ISO-8601 duration such as PT3H") from None
        if not 0 < seconds <= MAX_SECONDS:
            raise ValueError(f"a deadline must be positive and at most {MAX_SECONDS:.0f} seconds")
        return value


def schedule_kind(schedule: Schedule) -> str:
    """``none``, ``preset``, ``duration``, ``assets``, ``assets_or_cron`` or ``cron``."""
    if schedule is None:
        return "none"
    if isinstance(schedule, AssetsOrCron):
        return "assets_or_cron"
    if isinstance(schedule, list | AssetsAll | AssetsAny):
        return "assets"
    if schedule in SCHEDULE_PRESETS:
        return "preset"
    if _ISO_DURATION.match(schedule):
        return "duration"
    return "cron"


def check_cron(value: str) -> str:
    """Exactly the 5-field cron Airflow schedules with, and one that fires; presets are not cron here."""
    from croniter import croniter

    if value in SCHEDULE_PRESETS:
        raise ValueError(f"{value!r} is a preset; write it as a 5-field cron expression here")
    if value.startswith("@"):
        presets = ", ".join(sorted(SCHEDULE_PRESETS))
        raise ValueError(f"unknown schedule preset {value!r}; expected one of {presets}")
    fields = value.split()
    if len(fields) != 5:
        raise ValueError(f"{value!r} has {len(fields)} fields; a cron schedule has exactly 5 "
                         "(minute hour day-of-month month day-of-week)")
    if not croniter.is_valid(value):
        raise ValueError(f"{value!r} is not a valid cron expression")
    try:
        croniter(value, datetime(2026, 1, 1)).get_next(datetime)
    except Exception:  # croniter's bad-date errors: the expression never fires
        raise ValueError(f"{value!r} never fires (no such date)") from None
    return value


def parse_duration(value: str) -> timedelta:
    return _DURATION.validate_python(value)


class GateCondition(_Strict):
    """What every job of the run must show in the ledger before the gate opens.

    Checked against the ledger's own columns: a field the gate cannot read, or
    a value of another type (``"true"`` for a boolean), would make a gate that
    fails at run time or can only time out.
    """

    ledger_field: str = Field(description=f"A ledger field: {', '.join(sorted(GATE_FIELD_TYPES))}.")
    equals: bool | int | str = True

    @model_validator(mode="after")
    def _known_field_and_type(self) -> GateCondition:
        expected = GATE_FIELD_TYPES.get(self.ledger_field)
        if expected is None:
            known = ", ".join(sorted(GATE_FIELD_TYPES))
            raise ValueError(f"the ledger has no gate field {self.ledger_field!r}; one of {known}")
        if type(self.equals) is not expected:
            raise ValueError(f"ledger field {self.ledger_field!r} holds a {expected.__name__}, so 'equals' must be "
                             f"a {expected.__name__}, got {self.equals!r}")
        if self.ledger_field == "state" and self.equals not in JOB_STATES:
            raise ValueError(f"a job's state is one of {', '.join(JOB_STATES)}, got {self.equals!r}")
        return self


class StageSpec(_Strict):
    name: Identifier = Field(description="The task id; unique within the pipeline.")
    type: str = Field(description="A registered stage type (`python -m pipeline_factory list --types`).")
    description: str = ""
    params: dict[str, Any] = Field(
        default_factory=dict,
        alias="with",
        description="The stage type's own parameters; `{{ params.NAME }}` refers to a run param.",
    )
    depends_on: list[Identifier] | None = Field(
        None, description="Upstream stages; omitted means the previous stage in the list, [] means none."
    )
    policy: str | None = Field(None, description="A policy from policies.yaml; default: the pipeline's.")
    compute: Literal["cpu", "gpu"] | None = Field(None, description="Default: the stage type's.")
    pool: str | None = Field(None, description="An Airflow pool limiting how many such tasks run at once.")
    queue: str | None = Field(
        None, description="CeleryExecutor only: the worker queue the task goes to (e.g. workers with a GPU)."
    )
    timeout: Seconds | None = Field(None, description="Seconds; overrides the policy's timeout.")
    image: str | None = Field(None, description="Container image for GPU stages; default: the runtime profile's.")
    inputs: dict[str, Identifier] | None = Field(
        None,
        description="Which upstream stage provides an artifact kind this stage reads (`{chunks: chunk_a}`); "
        "needed only when two upstream stages produce the same kind.",
    )
    condition: GateCondition | None = Field(None, description="Gate stages only.")
    outlets: list[AssetURI] = Field(
        default_factory=list,
        description="Assets this stage updates: each successful run of the task emits an asset event for them.",
    )
    group: Identifier | None = Field(None, description="A task group to draw the stage in (task ids stay the same).")
    map_over: Identifier | None = Field(
        None,
        description="Fan-out: a run param holding a list. The stage runs once per element, in parallel (dynamic "
        "task mapping, the element as map index); each task sees the param as a one-element list.",
    )
    poke_interval: Seconds | None = Field(None, description="Gate stages only: seconds between checks.")


class Notifications(_Strict):
    on_failure: list[NotifierSpec] = Field(default_factory=list)
    on_success: list[NotifierSpec] = Field(default_factory=list)


class PipelineSpec(_Strict):
    name: Identifier = Field(description="The dag_id.")
    description: str = ""
    owner: Annotated[str, StringConstraints(min_length=1, max_length=500)] = "airflow"
    tags: list[Tag] = Field(default_factory=list)
    schedule: Schedule = Field(
        None,
        description="Cron, a preset (@daily), an ISO-8601 duration (P15D), null, asset URIs (all of them), "
        "an asset condition {all: [...]} / {any: [...]} (nestable), or {assets: ..., or_cron: CRON}: on asset "
        "updates and also at the cron's slots.",
    )
    deadline: DeadlineSpec | None = Field(
        None, description="Finish within this long of the run's scheduled time, else notify (on_failure notifiers)."
    )
    start_date: date | datetime = date(2026, 1, 1)
    catchup: Annotated[bool, Strict()] = False
    max_active_runs: Annotated[int, Strict()] = Field(1, ge=1, le=1000)
    params: dict[Identifier, dict[str, Any]] = Field(
        default_factory=dict, description="JSON-schema typed run parameters (become Airflow Params)."
    )
    applicable_sources: list[str] = Field(
        default_factory=list, description="Kinds of source this pipeline is meant for (shown in its DAG docs)."
    )
    default_policy: str = "default"
    notifications: Notifications = Field(default_factory=Notifications)
    alerts: list[AlertRule] = Field(
        default_factory=list,
        description="Alert rules Prometheus evaluates and Alertmanager sends to notifications.on_failure "
        "(docs/observability.md).",
    )
    stages: list[StageSpec] = Field(min_length=1)

    @field_validator("start_date")
    @classmethod
    def _sane_start_date(cls, value: date | datetime) -> date | datetime:
        low, high = START_YEARS
        if not low <= value.year <= high:
            raise ValueError(f"start_date must fall between the years {low} and {high}")
        return value

    @field_validator("schedule")
    @classmethod
    def _valid_schedule(cls, value: Schedule) -> Schedule:
        kind = schedule_kind(value)
        if kind == "duration":
            assert isinstance(value, str)
            if parse_duration(value) <= timedelta(0):
                raise ValueError("a duration schedule must be positive")
        elif kind == "cron":
            assert isinstance(value, str)
            check_cron(value)
        return value


class RuntimeProfile(_Strict):
    """How GPU stages run in one kind of deployment."""

    image: str | None = Field(None, description="The stage-runner image (docker and kubernetes).")
    namespace: str = "default"
    gpu_resource: str = "nvidia.com/gpu"
    gpu_count: Annotated[int, Strict()] = Field(1, ge=0, le=64)
    cpu_request: str | None = None
    memory_request: str | None = None
    memory_limit: str | None = None
    node_selector: dict[str, str] = Field(default_factory=dict)
    tolerations: list[dict[str, Any]] = Field(default_factory=list)
    service_account: str | None = None
    run_as_user: Annotated[int, Strict()] = Field(1000, ge=1, le=2**31 - 1,
                                                  description="Pods and containers run as this non-root user.")
    workspace_volume: str | None = Field(
        None, description="The PVC (kubernetes) or named volume (docker) with the data dir, mounted into containers."
    )
    data_dir: str = Field("/opt/pipeline/data", description="Where the data dir is inside a container.")
    env: dict[str, str] = Field(default_factory=dict, description="Extra environment for stage containers.")
    docker_url: str = "unix://var/run/docker.sock"
    network_mode: str | None = None
    gpu_pool: str | None = Field(None, description="Pool every GPU stage runs in (one GPU: a 1-slot pool).")


class RuntimeConfig(_Strict):
    profiles: dict[Literal["local", "docker", "kubernetes"], RuntimeProfile]


class PoolSpec(_Strict):
    slots: Annotated[int, Strict()] = Field(1, ge=1, le=10_000)
    description: str = ""
    include_deferred: bool = False


class PoolsFile(_Strict):
    pools: dict[str, PoolSpec]


class PoliciesFile(_Strict):
    policies: dict[str, Policy]
