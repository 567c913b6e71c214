"""GraphRAG throughput: collection against the rate-limited E-utilities stand-in, store write rates.

    .venv/bin/python bench/collect.py [--runs 3] [--papers 1000] [--store-papers 10000]

1. Collection: ``collect_pubmed`` + ``collect_genes`` for ``--papers`` papers
   (one term, efetch and elink batches of 100) against the stand-in enforcing
   3 requests/s (no key) and 10 requests/s (with a key).  Reports papers/s,
   the achieved request rate as a share of the allowed rate (from the
   server's own arrival times) and the 429s the server sent.
2. Stores: ``--store-papers`` stand-in papers written to a real Neo4j (the
   project's launcher) with the pipeline's batched MERGE, and upserted into
   Qdrant local mode (precomputed vectors; the embedding rate is reported on
   its own, on a sample).

Each figure is the median of ``--runs`` runs.  Never part of ``make test``.
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def median(values: list[float]) -> float:
    return round(statistics.median(values), 2)


@contextmanager
def standin(papers_per_term: int) -> Iterator[str]:
    """The E-utilities stand-in in its own process, as a remote API would be."""
    import httpx

    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "pipeline_factory.devservers.eutils", "--port", str(port),
         "--papers-per-term", str(papers_per_term)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                httpx.get(f"{base}/_control/stats", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def collection_run(papers: int, api_key: str | None, concurrency: int) -> dict[str, float]:
    import httpx

    from pipeline_factory.resilience.policy import CircuitBreakerPolicy, Policy
    from pipeline_factory.stages.contracts import StageContext
    from pipeline_factory.stages.graphrag.collect import CollectGenes, CollectPubmed
    from pipeline_factory.stages.graphrag.params import CollectGenesParams, CollectPubmedParams

    policy = Policy(
        name="polite-api", max_attempts=5, backoff_initial_seconds=1, backoff_max_seconds=30,
        backoff_jitter_seconds=1, timeout_seconds=60, rate_limit_per_second=3,
        circuit_breaker=CircuitBreakerPolicy(failure_threshold=5, reset_timeout_seconds=60, success_threshold=3),
    )
    data = Path(tempfile.mkdtemp(prefix="bench-collect-"))
    os.environ["PIPELINE_DATA_DIR"] = str(data)
    with standin(max(1500, papers)) as base:
        os.environ["NCBI_EUTILS_URL"] = f"{base}/entrez/eutils"
        if api_key:
            os.environ["NCBI_API_KEY"] = api_key
        else:
            os.environ.pop("NCBI_API_KEY", None)

        def ctx(stage: str) -> StageContext:
            return StageContext(pipeline="bench", stage=stage, run_id="bench", run_dir=data / "run",
                                data_dir=data, policy=policy)

        started = time.monotonic()
        CollectPubmed().run(
            ctx("collect_pubmed"),
            CollectPubmedParams(
                search_terms=["CRISPR gene editing"], max_results_per_term=papers, batch_size=100,
                concurrency=concurrency,
            ),
        )
        pubmed_seconds = time.monotonic() - started
        pubmed_stats = httpx.get(f"{base}/_control/stats").json()
        CollectGenes().run(ctx("collect_genes"), CollectGenesParams(batch_size=100, concurrency=concurrency))
        total_seconds = time.monotonic() - started
        stats = httpx.get(f"{base}/_control/stats").json()
    allowed = 10.0 if api_key else 3.0
    [pubmed_rate] = pubmed_stats["achieved_rate"].values()
    [achieved] = stats["achieved_rate"].values()
    return {
        "papers_per_second_pubmed": papers / pubmed_seconds,
        "papers_per_second_with_genes": papers / total_seconds,
        "requests": stats["counters"]["requests"],
        "share_of_allowed_pubmed": pubmed_rate / allowed,
        "achieved_rate_with_genes": achieved,
        "share_of_allowed_with_genes": achieved / allowed,
        "max_requests_in_any_1s": max(stats["max_requests_in_1s"].values()),
        "http_429": stats["counters"].get("rate_limited", 0),
    }


def bench_collection(runs: int, papers: int, concurrency: int) -> None:
    for label, key in (("3 req/s (no key)", None), ("10 req/s (api key)", "bench-key")):
        results = [collection_run(papers, key, concurrency) for _ in range(runs)]
        print(f"collection of {papers} papers at {label}, {concurrency} requests in flight, median of {runs}:")
        for name in results[0]:
            print(f"  {name:32s} {median([r[name] for r in results])}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def bench_stores(runs: int, count: int) -> None:
    from pipeline_factory.devservers import eutils_corpus as corpus
    from pipeline_factory.devservers import neo4j as neo4j_launcher
    from pipeline_factory.sources.genes import gene_record
    from pipeline_factory.sources.pubmed import parse_pubmed_xml
    from pipeline_factory.stages.graphrag import graph_model, vector_model
    from pipeline_factory.stores.graph import GraphStore
    from pipeline_factory.stores.vectors import VectorStore

    generated = [corpus.paper(str(10_000_000 + i), "bench") for i in range(count)]
    papers = parse_pubmed_xml(corpus.pubmed_set_xml(generated).encode())
    for paper, source in zip(papers, generated, strict=True):
        paper["gene_ids"] = list(source.gene_ids)
    genes = [gene_record(g, corpus.gene_summary(g)) for g in sorted({g for p in generated for g in p.gene_ids})]

    home = Path(tempfile.mkdtemp(prefix="bench-neo4j-"))
    info = neo4j_launcher.start(home=home, port=free_port())
    graph_rates = []
    try:
        with GraphStore(info.uri) as store:
            graph_model.ensure_schema(store)
            for _ in range(runs):
                graph_model.delete_everything(store)
                started = time.monotonic()
                graph_model.write_genes(store, genes, 500)
                graph_model.write_papers(store, papers, 500)
                graph_rates.append(count / (time.monotonic() - started))
            totals = graph_model.counts(store)
    finally:
        neo4j_launcher.stop(home=home)
    print(f"neo4j: {count} papers, batched UNWIND/MERGE (500 rows/tx), median of {runs}:")
    print(f"  papers_per_second              {median(graph_rates)}")
    rels = sum(totals[r] for r in ("AUTHORED", "PUBLISHED_IN", "HAS_MESH", "MENTIONS"))
    print(f"  graph: {sum(totals[label] for label in graph_model.LABELS)} nodes, {rels} relationships")

    rng = random.Random(1)
    vectors = [[rng.uniform(-1, 1) for _ in range(384)] for _ in range(count)]
    points = [(vector_model.paper_point_id(p["pmid"]), v, vector_model.paper_payload(p))
              for p, v in zip(papers, vectors, strict=True)]
    vector_rates = []
    with VectorStore(path=Path(tempfile.mkdtemp(prefix="bench-qdrant-"))) as store:
        for _ in range(runs):
            store.ensure_collection("bench", 384, recreate=True)
            started = time.monotonic()
            store.upsert("bench", points, batch_size=256)
            vector_rates.append(count / (time.monotonic() - started))
    print(f"qdrant local mode: {count} points of 384 dims (256 per upsert), median of {runs}:")
    print(f"  points_per_second              {median(vector_rates)}")

    from pipeline_factory.embedding import get_embedder

    embedder = get_embedder(device="cpu")
    sample = [vector_model.paper_text(p) for p in papers[:512]]
    embedder.encode(sample[:64])
    rates = []
    for _ in range(runs):
        started = time.monotonic()
        embedder.encode(sample)
        rates.append(len(sample) / (time.monotonic() - started))
    print(f"embedding (all-MiniLM-L6-v2, cpu, {len(sample)} papers), median of {runs}:")
    print(f"  papers_per_second              {median(rates)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--papers", type=int, default=1000)
    parser.add_argument("--store-papers", type=int, default=10000)
    parser.add_argument("--concurrency", type=int, default=3, help="requests in flight per stage")
    parser.add_argument("--skip-collection", action="store_true")
    parser.add_argument("--skip-stores", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if not args.skip_collection:
        bench_collection(args.runs, args.papers, args.concurrency)
    if not args.skip_stores:
        bench_stores(args.runs, args.store_papers)
    return 0


if __name__ == "__main__":
    sys.exit(main())
