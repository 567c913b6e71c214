"""One Qdrant point per paper: the embedding of title + abstract, keyed by the pmid."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pipeline_factory.stores.vectors import VectorStore, point_id


def paper_point_id(pmid: str) -> str:
    return point_id(f"pubmed:{pmid}")


def paper_text(paper: Mapping[str, Any]) -> str:
    return f"{paper.get('title') or ''}\n\n{paper.get('abstract') or ''}".strip()


def paper_payload(paper: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "pmid": paper["pmid"],
        "title": paper.get("title") or "",
        "year": paper.get("year"),
        "mesh": [m["name"] for m in paper.get("mesh") or []],
        "gene_ids": list(paper.get("gene_ids") or []),
    }


def upsert_papers(
    store: VectorStore,
    collection: str,
    papers: Sequence[Mapping[str, Any]],
    embedder: Any,
    *,
    batch_size: int,
    embed_batch_size: int,
) -> int:
    """Embed and upsert in chunks of ``batch_size`` so memory stays flat for large snapshots."""
    written = 0
    for start in range(0, len(papers), batch_size):
        chunk = papers[start : start + batch_size]
        vectors = embedder.encode([paper_text(p) for p in chunk], batch_size=embed_batch_size)
        points = [(paper_point_id(p["pmid"]), v, paper_payload(p)) for p, v in zip(chunk, vectors, strict=True)]
        written += store.upsert(collection, points, batch_size=batch_size)
    return written


def stored_pmids(store: VectorStore, collection: str) -> dict[str, str]:
    """point id -> pmid for every point in the collection."""
    return {pid: str(payload.get("pmid")) for pid, payload in store.payloads(collection, ["pmid"]).items()}


def delete_points(store: VectorStore, collection: str, point_ids: Iterable[str]) -> int:
    return store.delete(collection, point_ids)
