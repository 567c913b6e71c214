"""``python -m pipeline_factory graphrag query "TEXT" [--k 10] [--mode hybrid|vector] [--format json]``.

Reads the stores the GraphRAG pipelines fill (``NEO4J_*``, ``QDRANT_URL`` or
Qdrant local mode in the data dir).  In local mode Qdrant allows one process
at a time: while a pipeline stage holds it, the query says so and exits 2.
"""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
from typing import Any


def add_graphrag_commands(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    graphrag = subparsers.add_parser("graphrag", help="ask the GraphRAG graph and vectors")
    commands = graphrag.add_subparsers(dest="graphrag_command", required=True)
    query = commands.add_parser("query", help="papers for a question, ranked, with the reason for each")
    query.add_argument("text", help="the question")
    query.add_argument("--k", type=int, default=10, help="papers returned (default 10)")
    query.add_argument("--mode", choices=("hybrid", "vector"), default="hybrid",
                       help="hybrid: vectors + graph expansion (default); vector: Qdrant only")
    query.add_argument("--format", choices=("text", "json"), default="text")
    query.add_argument("--collection", help="Qdrant collection (default: the pipelines' own)")
    query.add_argument("--context", action="store_true", help="also print the context a generator would get")
    return graphrag


def answer(text: str, k: int, mode: str, collection: str | None = None) -> dict[str, Any]:
    """The JSON answer shared by the CLI and the Pipelines view's search box."""
    from pipeline_factory.retrieval.retriever import context, open_retriever

    retriever, close = open_retriever(collection)
    try:
        results = retriever.search(text, k=k, mode=mode)
    finally:
        close()
    return {"query": text, "mode": mode, "k": k, "results": results, "context": context(results)}


def run_graphrag_command(args: argparse.Namespace) -> int:
    if args.k < 1 or args.k > 100:
        print("error: --k must be between 1 and 100", file=sys.stderr)
        return 2
    if not args.text.strip():
        print("error: the question is empty", file=sys.stderr)
        return 2
    try:
        found = answer(args.text, args.k, args.mode, args.collection)
    except RuntimeError as exc:  # Qdrant local mode: another process holds the folder
        print(f"error: the vector store is busy or unavailable ({exc})", file=sys.stderr)
        return 2
    if args.format == "json":
        if not args.context:
            found.pop("context")
        for r in found["results"]:
            r.pop("abstract", None)
        print(json.dumps(found, indent=2, ensure_ascii=False))
        return 0
    if not found["results"]:
        print("no papers (are the GraphRAG stores filled? run graphrag_incremental first)")
        return 0
    for r in found["results"]:
        why = r["reasons"]
        print(f"{r['rank']:>2}. PMID {r['pmid']} ({r.get('year') or 'n.d.'}) {r.get('title') or ''}")
        parts = []
        if "vector_score" in why:
            parts.append(f"vector {why['vector_score']:.3f} (#{why['vector_rank']})")
        if "graph_rank" in why:
            parts.append(f"graph #{why['graph_rank']}")
        if why.get("matches_question"):
            parts.append("names " + ", ".join(why["matches_question"]))
        if why.get("shared_genes"):
            parts.append("genes " + ", ".join(why["shared_genes"][:3]))
        if why.get("shared_mesh"):
            parts.append("MeSH " + ", ".join(why["shared_mesh"][:3]))
        print(textwrap.indent(textwrap.fill("; ".join(parts), 100), "    "))
    if args.context:
        print("\n" + found["context"])
    return 0
