"""The Pipelines view's search box: a question to the GraphRAG retriever, answered as JSON.

Same answer as ``python -m pipeline_factory graphrag query --format json``;
any store failure (Neo4j down, Qdrant's local folder held by a running stage)
comes back as ``available: False`` with its reason, like every other panel.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

MAX_QUESTION = 500


def readable(allowed: Collection[str]) -> bool:
    """Whether a user who may read ``allowed`` may search: one readable pipeline runs a GraphRAG stage."""
    from pipeline_factory.spec.loader import load_specs
    from pipeline_factory.stages.registry import default_registry

    registry = default_registry()
    specs = load_specs().specs
    return any(
        stage.type in registry and registry.get(stage.type).family == "graphrag"
        for name in allowed
        if name in specs
        for stage in specs[name].spec.stages
    )


def search(question: str, k: int = 10, mode: str = "hybrid") -> dict[str, Any]:
    from pipeline_factory.retrieval.cli import answer

    found = answer(question.strip()[:MAX_QUESTION], k, mode)
    for result in found["results"]:
        abstract = result.pop("abstract", None) or ""
        result["snippet"] = abstract[:300] + ("..." if len(abstract) > 300 else "")
        result["link"] = f"https://pubmed.ncbi.nlm.nih.gov/{result['pmid']}/"
    found.pop("context", None)
    return found
