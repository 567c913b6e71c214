"""Document ingestion throughput: parse -> chunk -> embed -> index -> extract -> kg.

    .venv/bin/python bench/ingest.py [--docs 1000] [--runs 3] [--compare]
    python bench/ingest.py --embed-only --device cuda --model PATH [--sentences 20000]

Full mode: ``--docs`` abstract-sized documents (about 1,200 characters, drawn
deterministically from the sample corpus' sentences with the terms varied)
go through the real stages, in-process, on the embedded stores: the job
ledger (SQLite), Qdrant local mode, a real Neo4j from the project's launcher
(or ``NEO4J_URI`` when set).  Reports documents/s over the six stages and
each stage's share of the time; each figure is the median of ``--runs`` runs
(a fresh data dir each run; the embedding model is loaded before timing).
``--compare`` runs today's configuration (sentence-transformers fp32 torch,
no embedding cache, qdrant-client local mode) and the current defaults
interleaved in one process and prints the ratio.

``--embed-only``: sentences/s of the embedder alone on ``--device``, for the
CPU vs CUDA comparison (needs only torch and sentence-transformers).
Never part of ``make test``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STAGES = ("parse", "chunk", "embed", "index", "extract", "kg")

GENES = ["BRCA1", "BRCA2", "TP53", "EGFR", "KRAS", "CFTR", "HTT", "APOE", "PCSK9", "HBB", "DMD", "ALK", "BCL2"]
DISEASES = [
    "breast cancer",
    "cystic fibrosis",
    "Huntington disease",
    "Alzheimer disease",
    "sickle cell disease",
    "non-small cell lung cancer",
    "hypercholesterolemia",
    "ovarian cancer",
]
CHEMICALS = ["olaparib", "ivacaftor", "osimertinib", "cisplatin", "venetoclax", "evolocumab", "tamoxifen"]
TEMPLATES = [
    "Mutations in the {gene} gene are associated with {disease} in a cohort of {n} patients.",
    "We measured {gene} expression in tumour samples and found it reduced by {n} percent.",
    "Treatment with {chem} improved progression-free survival in {disease}.",
    "Loss of {gene} protein function sensitised cells to {chem}, e.g. in xenograft models.",
    "These findings suggest that {gene} status should guide the use of {chem} in {disease}.",
    "A genome-wide screen identified {gene} variants that modify the risk of {disease}.",
    "Patients carrying {gene} mutations had a median survival of {n} months.",
    "The {gene} kinase was inhibited by {chem} at nanomolar concentrations.",
]


def synthetic_abstracts(n: int, seed: int = 7) -> list[dict]:
    rng = random.Random(seed)
    docs = []
    for i in range(n):
        sentences = []
        while sum(len(s) for s in sentences) < 1100:
            sentences.append(
                rng.choice(TEMPLATES).format(
                    gene=rng.choice(GENES),
                    disease=rng.choice(DISEASES),
                    chem=rng.choice(CHEMICALS),
                    n=rng.randint(10, 900),
                )
            )
        docs.append(
            {
                "pmid": f"bench-{i}",
                "title": f"Study {i} of {rng.choice(GENES)} in {rng.choice(DISEASES)}",
                "abstract": " ".join(sentences),
            }
        )
    return docs


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_once(docs: list[dict], workdir: Path) -> dict[str, float]:
    from pipeline_factory.stages.contracts import StageContext
    from pipeline_factory.stages.documents.chunk import Chunk
    from pipeline_factory.stages.documents.embed import Embed
    from pipeline_factory.stages.documents.extract import Extract
    from pipeline_factory.stages.documents.index import Index
    from pipeline_factory.stages.documents.ingest import Ingest
    from pipeline_factory.stages.documents.kg import KnowledgeGraph
    from pipeline_factory.stages.documents.params import (
        ChunkParams,
        EmbedParams,
        ExtractParams,
        IndexParams,
        IngestParams,
        KgParams,
        ParseParams,
    )
    from pipeline_factory.stages.documents.parse import Parse

    data = workdir / "data"
    os.environ["PIPELINE_DATA_DIR"] = str(data)
    os.environ.pop("PIPELINE_LEDGER_URL", None)
    source = workdir / "source"
    source.mkdir(parents=True)
    (source / "abstracts.jsonl").write_text("".join(json.dumps(d) + "\n" for d in docs))
    run_id = f"bench_{int(time.time() * 1000)}"

    def ctx(stage: str) -> StageContext:
        return StageContext(
            pipeline="docs_auto",
            stage=stage,
            run_id=run_id,
            run_dir=data / "runs" / "docs_auto" / run_id,
            data_dir=data,
        )

    Ingest().run(ctx("ingest"), IngestParams(source="folder", path=str(source)))
    plan = [
        ("parse", Parse(), ParseParams()),
        ("chunk", Chunk(), ChunkParams()),
        ("embed", Embed(), EmbedParams(device="cpu")),
        ("index", Index(), IndexParams(collection="bench")),
        ("extract", Extract(), ExtractParams()),
        ("kg", KnowledgeGraph(), KgParams()),
    ]
    timings: dict[str, float] = {}
    for name, stage, params in plan:
        started = time.perf_counter()
        result = stage.run(ctx(name), params)
        timings[name] = time.perf_counter() - started
        if name == "chunk":
            timings["chunks"] = result["chunks"]
    return timings


class TodaysEmbedder:
    """The embedder as it was before the ONNX backends and the cache: SentenceTransformer.encode, fp32
    torch, a Python list per vector."""

    def __init__(self) -> None:
        from sentence_transformers import SentenceTransformer

        from pipeline_factory.embedding import default_model_path

        self.model = SentenceTransformer(str(default_model_path()), device="cpu")
        self.name, self.device, self.dimension = "today", "cpu", 384

    def encode(self, texts: list[str], batch_size: int = 64) -> list[list[float]]:
        return self.model.encode(
            list(texts), batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True,
            show_progress_bar=False,
        ).tolist()


def configure(config: str, todays: TodaysEmbedder | None) -> None:
    """``today``: today's embedder, no cache, qdrant-client local mode; ``now``: the defaults."""
    import pipeline_factory.embedding as embedding

    if config == "today":
        embedding.get_embedder = lambda *a, **k: todays  # the stages import it at run time
        os.environ["PIPELINE_VECTOR_ENGINE"] = "local"
    else:
        embedding.get_embedder = _REAL_GET_EMBEDDER
        os.environ.pop("PIPELINE_VECTOR_ENGINE", None)


_REAL_GET_EMBEDDER = None


def full(args: argparse.Namespace) -> None:
    global _REAL_GET_EMBEDDER
    from pipeline_factory import embedding
    from pipeline_factory.devservers import neo4j as neo4j_launcher
    from pipeline_factory.embedding import get_embedder

    _REAL_GET_EMBEDDER = embedding.get_embedder

    neo4j_home = None
    if not os.environ.get("NEO4J_URI"):
        neo4j_home = Path(tempfile.mkdtemp(prefix="bench-neo4j-"))
        info = neo4j_launcher.start(home=neo4j_home, port=_free_port())
        os.environ["NEO4J_URI"] = info.uri
    configs = ("today", "now") if args.compare else ("now",)
    todays = TodaysEmbedder() if args.compare else None
    with tempfile.TemporaryDirectory(prefix="bench-models-") as models:
        os.environ["PIPELINE_ONNX_DIR"] = models  # the ONNX export, once, outside the timings
        get_embedder(device="cpu", use_cache=False).encode(["warm-up"])
        docs = synthetic_abstracts(args.docs)
        runs: dict[str, list[dict[str, float]]] = {c: [] for c in configs}
        try:
            for number in range(args.runs):
                for config in configs:
                    configure(config, todays)
                    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
                        timings = run_once(docs, Path(tmp))  # a fresh data dir: an empty embedding cache
                    total = sum(timings[s] for s in STAGES)
                    runs[config].append({**timings, "total": total})
                    print(
                        f"run {number + 1} {config}: {args.docs / total:.1f} docs/s "
                        + " ".join(f"{s}={timings[s]:.2f}s" for s in STAGES),
                        flush=True,
                    )
        finally:
            configure("now", todays)
            if neo4j_home is not None:
                neo4j_launcher.stop(home=neo4j_home)
    base = statistics.median(r["total"] for r in runs[configs[0]])
    for config in configs:
        median_total = statistics.median(r["total"] for r in runs[config])
        print(f"\n{config}: {args.docs} documents, {int(runs[config][0]['chunks'])} chunks, "
              f"median of {len(runs[config])} runs:")
        print(f"  throughput: {args.docs / median_total:.1f} documents/s ({median_total:.1f} s), "
              f"x{base / median_total:.2f} against {configs[0]}")
        for stage in STAGES:
            seconds = statistics.median(r[stage] for r in runs[config])
            print(f"  {stage:8s} {seconds:7.2f} s  {100 * seconds / median_total:5.1f} %")


def embed_only(args: argparse.Namespace) -> None:
    import torch
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(args.model, device=args.device).to(torch.float32)  # as on the CPU
    rng = random.Random(3)
    sentences = [
        rng.choice(TEMPLATES).format(
            gene=rng.choice(GENES), disease=rng.choice(DISEASES), chem=rng.choice(CHEMICALS), n=rng.randint(10, 900)
        )
        for _ in range(args.sentences)
    ]
    model.encode(sentences[:512], batch_size=args.batch_size)  # warm-up (CUDA kernels, allocator)
    rates = []
    for _ in range(args.runs):
        started = time.perf_counter()
        model.encode(sentences, batch_size=args.batch_size, normalize_embeddings=True, show_progress_bar=False)
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        rates.append(len(sentences) / (time.perf_counter() - started))

    name = torch.cuda.get_device_name(0) if args.device.startswith("cuda") else f"cpu x{torch.get_num_threads()}"
    print(
        f"embed on {args.device} ({name}), batch {args.batch_size}: median {statistics.median(rates):.0f} "
        f"sentences/s over {args.runs} runs of {len(sentences)} ({', '.join(f'{r:.0f}' for r in rates)})"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--compare", action="store_true",
                        help="also run today's configuration (torch embedder, no cache, local mode), interleaved")
    parser.add_argument("--embed-only", action="store_true")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--model", default=None, help="embed-only: a model folder (default: the shipped MiniLM)")
    parser.add_argument("--sentences", type=int, default=20000)
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if args.embed_only:
        if args.model is None:
            from pipeline_factory.embedding import default_model_path

            args.model = str(default_model_path())
        embed_only(args)
    else:
        sys.path.insert(0, str(ROOT / "include"))
        full(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
