"""The stage registry: the only names a spec may use in ``type:``.

Specs never name Python callables.  Each stage type is declared once, with its
parameter model and its implementation given as dotted paths so that parsing
a spec imports only the (light, pydantic-only) parameter models and never the
implementation, which may pull in torch, neo4j or mlflow.

Families declare their types in ``pipeline_factory.stages.<family>.catalog``
(a ``STAGE_TYPES`` list); third-party packages may add types through the
``pipeline_factory.stages`` entry-point group, each entry point resolving to
such a list.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from importlib.metadata import entry_points
from typing import Literal

from pipeline_factory.stages.contracts import Stage, StageParams

#: Families shipped with the project, in the order they are listed to authors.
BUILTIN_FAMILIES: tuple[str, ...] = ("control", "documents", "generic", "ml", "graphrag")

ENTRY_POINT_GROUP = "pipeline_factory.stages"

#: The artifact kinds stages exchange, and what each is.  Ports name these, never stage names.
ARTIFACT_KINDS: dict[str, str] = {
    "documents": "ingested source records, one per job",
    "pdfs": "downloaded PDFs, recorded on the jobs in the ledger",
    "ir": "the document IR (sections, text) of each job",
    "chunks": "sentence-aware text chunks",
    "embeddings": "one vector per chunk",
    "vectors": "points upserted into the vector store",
    "mentions": "entity mentions found in the chunks",
    "graph": "nodes and relationships written to the graph store",
    "papers": "PubMed papers collected into the snapshot",
    "genes": "NCBI Gene records linked to the papers",
    "consistency": "a store consistency report",
    "dataset": "the consolidated training dataset",
    "features": "the preprocessed train/validation/test splits",
    "models": "trained model artifacts",
    "metrics": "evaluation metrics of the trained models",
    "registered": "registered model versions",
    "approval": "a person's answer to a promotion request",
    "promotion": "the promotion decision",
}


def import_dotted(path: str) -> object:
    """Resolve ``package.module:attribute``."""
    module_name, _, attr = path.partition(":")
    if not attr:
        raise ValueError(f"{path!r} is not of the form 'package.module:attribute'")
    module = importlib.import_module(module_name)
    return getattr(module, attr)


@dataclass(frozen=True)
class StageType:
    """One registered stage type.

    ``kind`` tells the factory how to render it: ``task`` stages run the stage
    runner (in the worker, or in a container/pod for ``compute: gpu``);
    ``gate`` and ``approval`` are control stages that ``builder`` renders as a
    sensor or operator.
    """

    name: str
    family: str
    params: str
    impl: str | None
    description: str
    kind: Literal["task", "gate", "approval"] = "task"
    default_compute: Literal["cpu", "gpu"] = "cpu"
    #: For control stages: ``module:function(stage, pipeline, task_kwargs) -> operator``,
    #: imported when the DAG is built (keep that module light).
    builder: str | None = None
    #: Ports: the artifact kinds (:data:`ARTIFACT_KINDS`) the stage reads and writes.  ``consumes``
    #: must each come from exactly one upstream stage; ``optional`` are used when one provides them.
    consumes: tuple[str, ...] = ()
    optional: tuple[str, ...] = ()
    produces: tuple[str, ...] = ()
    #: True when the stage's own code calls external services through a
    #: :class:`~pipeline_factory.resilience.guard.Guard`: its policy's breaker and rate limit apply
    #: there, and its attempts are split between in-task and Airflow retries (see ``RetryBudget``).
    #: A policy with a breaker or a rate limit on any other stage type is a spec error.
    retries_in_task: bool = False
    #: ``module:function(ctx, params, result) -> StageLineage``: the datasets the stage reads and
    #: writes beyond the run workspace (NCBI, the snapshot, Neo4j, Qdrant, the ledger, MLflow), in
    #: OpenLineage's naming (``pipeline_factory.lineage``).  Imported only where lineage is emitted.
    lineage: str | None = None

    def __post_init__(self) -> None:
        unknown = {*self.consumes, *self.optional, *self.produces} - ARTIFACT_KINDS.keys()
        if unknown:
            raise ValueError(f"stage type {self.name!r} declares unknown artifact kinds: {sorted(unknown)}")

    def params_model(self) -> type[StageParams]:
        model = import_dotted(self.params)
        if not (isinstance(model, type) and issubclass(model, StageParams)):
            raise TypeError(f"{self.params} is not a StageParams model")
        return model

    def load(self) -> Stage:
        """Import and instantiate the implementation (only where the stage runs)."""
        if self.impl is None:
            raise TypeError(f"stage type {self.name!r} is a control stage and has no runner implementation")
        factory = import_dotted(self.impl)
        stage = factory() if isinstance(factory, type) else factory
        if not isinstance(stage, Stage):
            raise TypeError(f"{self.impl} does not implement run(ctx, params)")
        return stage


class StageRegistry:
    def __init__(self, types: Iterable[StageType] = ()):
        self._types: dict[str, StageType] = {}
        for stage_type in types:
            self.add(stage_type)

    def add(self, stage_type: StageType) -> None:
        if stage_type.name in self._types:
            raise ValueError(f"stage type {stage_type.name!r} is registered twice")
        self._types[stage_type.name] = stage_type

    def get(self, name: str) -> StageType:
        return self._types[name]

    def __contains__(self, name: object) -> bool:
        return name in self._types

    def __iter__(self) -> Iterator[StageType]:
        return iter(self._types.values())

    def names(self) -> list[str]:
        return sorted(self._types)


@cache
def default_registry() -> StageRegistry:
    """Every built-in family plus the entry-point plug-ins (built once per process)."""
    registry = StageRegistry()
    for family in BUILTIN_FAMILIES:
        catalog = importlib.import_module(f"pipeline_factory.stages.{family}.catalog")
        for stage_type in catalog.STAGE_TYPES:
            registry.add(stage_type)
    for entry_point in entry_points(group=ENTRY_POINT_GROUP):
        for stage_type in entry_point.load():
            registry.add(stage_type)
    return registry
