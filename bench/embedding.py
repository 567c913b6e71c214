"""CPU embedding: today's path vs the ONNX Runtime backends, int8 quality, and the cache on a rebuild.

    .venv/bin/python bench/embedding.py [--texts 2000] [--runs 3] [--papers 1000]

1. rate: sentences/s of today's embedder (sentence-transformers' ``encode``,
   fp32 torch, batch 64, ``.tolist()`` of every vector) next to the
   project's embedder on each backend (``torch``, ``onnx``, ``onnx-int8``),
   cache off, the same texts (chunk-sized and abstract-sized pieces of the
   stand-in corpus), medians of ``--runs`` runs interleaved in one process.
2. quality of each backend against today's fp32 vectors over ``--papers``
   papers of the shipped stand-in corpus: mean and minimum cosine, and for
   every 10th paper as a query whether its top-10 neighbours are the same
   set (and how many of the 10 are shared).
3. rebuild: the GraphRAG vector stage's embed + upsert
   (``vector_model.upsert_papers`` into a recreated collection) over the
   ``--papers`` papers: today's code (today's embedder, qdrant-client local
   mode), then the project's (default backend, Qdrant Edge) with an empty
   cache and again with the papers unchanged; medians, and whether the
   vectors of the two are bit-identical.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "include"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def corpus_papers(n: int) -> list[dict]:
    from pipeline_factory.devservers import eutils_corpus as corpus

    papers = []
    for i in range(n):
        p = corpus.paper(str(10_000_000 + i), topic=("CRISPR-Cas9", "immunotherapy", None)[i % 3])
        papers.append({"pmid": p.pmid, "title": p.title, "abstract": f"{p.abstract_background} {p.abstract_results}",
                       "year": p.published.year, "mesh": [{"name": m[1]} for m in p.mesh], "gene_ids": p.gene_ids})
    return papers


def bench_texts(n: int) -> list[str]:
    """Half abstract-sized texts, half chunk-sized sentences (as the documents pipeline embeds)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from ingest import synthetic_abstracts

    docs = synthetic_abstracts(max(1, n // 8))
    sentences = [s for d in docs for s in d["abstract"].split(". ")]
    return ([d["abstract"] for d in docs] * 4)[: n // 2] + sentences[: n - n // 2]


class TodaysEmbedder:
    """The embedder as it was: SentenceTransformer.encode, fp32 torch, a Python list per vector."""

    def __init__(self) -> None:
        from sentence_transformers import SentenceTransformer

        from pipeline_factory.embedding import default_model_path

        self.model = SentenceTransformer(str(default_model_path()), device="cpu")
        self.dimension = 384
        self.name, self.device = "today", "cpu"

    def encode(self, texts: list[str], batch_size: int = 64) -> list[list[float]]:
        return self.model.encode(
            list(texts), batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True,
            show_progress_bar=False,
        ).tolist()


def rates(args: argparse.Namespace) -> None:
    from pipeline_factory.embedding import get_embedder

    texts = bench_texts(args.texts)
    today = TodaysEmbedder()
    candidates = {"today": today}
    for backend in ("torch", "onnx", "onnx-int8"):
        candidates[backend] = get_embedder(device="cpu", backend=backend, use_cache=False)
    for embedder in candidates.values():
        embedder.encode(texts[:64])  # warm-up
    times: dict[str, list[float]] = {name: [] for name in candidates}
    for _ in range(args.runs):
        for name, embedder in candidates.items():
            started = time.perf_counter()
            embedder.encode(texts, batch_size=64)
            times[name].append(time.perf_counter() - started)
    base = statistics.median(times["today"])
    print(f"1. embedding rate, {len(texts)} texts, batch 64, {os.cpu_count()} cores, median of {args.runs} runs:")
    for name, seconds in times.items():
        med = statistics.median(seconds)
        print(f"   {name:10s} {len(texts) / med:8.1f} texts/s  x{base / med:5.2f}  "
              f"(runs: {', '.join(f'{len(texts) / s:.0f}' for s in seconds)})")


def quality(args: argparse.Namespace) -> None:
    from pipeline_factory.embedding import get_embedder
    from pipeline_factory.stages.graphrag.vector_model import paper_text

    texts = [paper_text(p) for p in corpus_papers(args.papers)]
    reference = np.asarray(TodaysEmbedder().encode(texts), dtype=np.float32)
    queries = range(0, len(texts), 10)
    print(f"2. quality against today's fp32 vectors, {len(texts)} stand-in corpus papers, {len(queries)} queries:")
    for backend in ("torch", "onnx", "onnx-int8"):
        vectors = get_embedder(device="cpu", backend=backend, use_cache=False).encode(texts)
        cosine = (vectors * reference).sum(axis=1)
        same, shared = 0, []
        for q in queries:
            ref_top = set(np.argsort(-(reference @ reference[q]), kind="stable")[:10].tolist())
            top = set(np.argsort(-(vectors @ vectors[q]), kind="stable")[:10].tolist())
            same += ref_top == top
            shared.append(len(ref_top & top))
        print(f"   {backend:10s} cosine mean {cosine.mean():.5f} min {cosine.min():.5f}; identical top-10 "
              f"{100 * same / len(queries):5.1f} % of queries, mean shared {statistics.mean(shared):.2f}/10")


def rebuild(args: argparse.Namespace) -> None:
    from pipeline_factory.embedding import get_embedder
    from pipeline_factory.stages.graphrag import vector_model
    from pipeline_factory.stores.vectors import VectorStore

    papers = corpus_papers(args.papers)
    today = TodaysEmbedder()
    with tempfile.TemporaryDirectory(prefix="bench-rebuild-") as tmp:
        today_times, cold_times, warm_times, snapshots = [], [], [], []
        for run in range(args.runs):
            os.environ["PIPELINE_EMBEDDING_CACHE"] = str(Path(tmp) / f"cache{run}.sqlite")
            for label, bucket in (("today", today_times), ("cold", cold_times), ("warm", warm_times)):
                embedder = today if label == "today" else get_embedder(device="cpu")
                engine = "local" if label == "today" else "edge"
                with VectorStore(path=Path(tmp) / engine, engine=engine) as store:
                    started = time.perf_counter()
                    store.ensure_collection("papers", embedder.dimension, recreate=True)
                    vector_model.upsert_papers(store, "papers", papers, embedder, batch_size=256, embed_batch_size=64)
                    bucket.append(time.perf_counter() - started)
                print(f"   run {run + 1} {label}: {bucket[-1]:.2f} s (cache hits {getattr(embedder, 'hits', '-')}, "
                      f"misses {getattr(embedder, 'misses', '-')})", flush=True)
                if run == 0 and label != "today":
                    snapshots.append(embedder.encode([vector_model.paper_text(p) for p in papers]))
    base = statistics.median(today_times)
    cold, warm = statistics.median(cold_times), statistics.median(warm_times)
    print(f"3. vector stage of a full rebuild, {len(papers)} unchanged papers, median of {args.runs}: "
          f"today's code (torch, local mode) {base:.2f} s; now, empty cache {cold:.2f} s (x{base / cold:.1f}), "
          f"unchanged papers {warm:.2f} s (x{base / warm:.1f} vs today, x{cold / warm:.1f} vs empty cache); "
          f"identical vectors: {np.array_equal(snapshots[0], snapshots[1])}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=2000)
    parser.add_argument("--papers", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--only", choices=["rate", "quality", "rebuild"], nargs="*")
    args = parser.parse_args()
    os.environ.setdefault("PIPELINE_DATA_DIR", tempfile.mkdtemp(prefix="bench-embedding-"))
    for name, step in (("rate", rates), ("quality", quality), ("rebuild", rebuild)):
        if not args.only or name in args.only:
            step(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
