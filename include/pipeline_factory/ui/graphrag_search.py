"""The Pipelines view's search box: a question to the GraphRAG retriever, answered as JSON.

Same answer as ``python -m pipeline_factory graphrag query --format json``;
any store failure (Neo4j down, Qdrant's local folder held by a running stage)
comes back as ``available: False`` with its reason, like every other panel.
"""

from __future__ import annotations

from typing import Any

MAX_QUESTION = 500


def search(question: str, k: int = 10, mode: str = "hybrid") -> dict[str, Any]:
    from pipeline_factory.retrieval.cli import answer

    found = answer(question.strip()[:MAX_QUESTION], k, mode)
    for result in found["results"]:
        abstract = result.pop("abstract", None) or ""
        result["snippet"] = abstract[:300] + ("..." if len(abstract) > 300 else "")
        result["link"] = f"https://pubmed.ncbi.nlm.nih.gov/{result['pmid']}/"
    found.pop("context", None)
    return found
