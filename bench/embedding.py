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
4. variants (``--only variants``, not run by default): the reduced-precision
   CPU variants tried for a faster default (bf16 torch, selective int8,
   8-bit block-quantized weights), each with the rate against today's and
   the quality figures of step 2, over 300 and over ``--papers`` papers.
   ``--variants`` picks some; the MatMulNBits one needs ``onnx-ir``.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

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
    print_rates(candidates, texts, args.runs, width=10,
                title=f"1. embedding rate, {len(texts)} texts, batch 64, {os.cpu_count()} cores, "
                f"median of {args.runs} runs:")


def print_rates(candidates: dict, texts: list[str], runs: int, title: str, width: int) -> None:
    """Medians of ``runs`` timed passes per embedder, interleaved run by run, as ratios against ``today``."""
    for embedder in candidates.values():
        embedder.encode(texts[:64])  # warm-up
    times: dict[str, list[float]] = {name: [] for name in candidates}
    for _ in range(runs):
        for name, embedder in candidates.items():
            started = time.perf_counter()
            embedder.encode(texts, batch_size=64)
            times[name].append(time.perf_counter() - started)
    base = statistics.median(times["today"])
    print(title)
    for name, seconds in times.items():
        med = statistics.median(seconds)
        print(f"   {name:{width}s} {len(texts) / med:8.1f} texts/s  x{base / med:5.2f}  "
              f"(runs: {', '.join(f'{len(texts) / s:.0f}' for s in seconds)})", flush=True)


def quality_figures(vectors: np.ndarray, reference: np.ndarray) -> str:
    """Cosine to the reference rows, and for every 10th row as a query whether its top-10 set is the same."""
    queries = range(0, len(reference), 10)
    cosine = (vectors * reference).sum(axis=1)
    same, shared = 0, []
    for q in queries:
        ref_top = set(np.argsort(-(reference @ reference[q]), kind="stable")[:10].tolist())
        top = set(np.argsort(-(vectors @ vectors[q]), kind="stable")[:10].tolist())
        same += ref_top == top
        shared.append(len(ref_top & top))
    return (f"cosine mean {cosine.mean():.5f} min {cosine.min():.5f}; identical top-10 "
            f"{100 * same / len(queries):5.1f} % of {len(queries)} queries, "
            f"mean shared {statistics.mean(shared):.2f}/10")


def quality(args: argparse.Namespace) -> None:
    from pipeline_factory.embedding import get_embedder
    from pipeline_factory.stages.graphrag.vector_model import paper_text

    texts = [paper_text(p) for p in corpus_papers(args.papers)]
    reference = np.asarray(TodaysEmbedder().encode(texts), dtype=np.float32)
    print(f"2. quality against today's fp32 vectors, {len(texts)} stand-in corpus papers:")
    for backend in ("torch", "onnx", "onnx-int8"):
        vectors = get_embedder(device="cpu", backend=backend, use_cache=False).encode(texts)
        print(f"   {backend:10s} {quality_figures(vectors, reference)}")


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


class TorchVariant:
    """The project's torch encoder on the CPU in fp32, with some or all of its Linear layers in bf16.

    ``linears`` picks Linear layers by module name: their weights are stored
    in bf16 and their inputs rounded to bf16 (oneDNN's avx512_bf16 GEMM),
    while the residual stream, LayerNorm, softmax and bias stay fp32.
    ``mode="weights"`` instead casts the whole model to bf16, ``"autocast"``
    runs it under ``torch.autocast``.
    """

    def __init__(self, mode: str, linears: Callable[[str], bool] = lambda name: True):
        import torch
        from sentence_transformers import SentenceTransformer

        from pipeline_factory.embedding import default_model_path
        from pipeline_factory.embedding.torch_backend import TorchEncoder

        model_dir = default_model_path()
        dtype = "bfloat16" if mode == "weights" else "float32"
        self.encoder = TorchEncoder(SentenceTransformer(str(model_dir), device="cpu"), model_dir, "cpu", dtype)
        self.mode = mode
        if mode != "linears":
            return

        class BF16Linear(torch.nn.Module):
            def __init__(self, linear: torch.nn.Linear):
                super().__init__()
                self.weight = linear.weight.detach().to(torch.bfloat16)
                self.bias = None if linear.bias is None else linear.bias.detach().float()

            def forward(self, x: torch.Tensor) -> torch.Tensor:
                y = torch.nn.functional.linear(x.to(torch.bfloat16), self.weight).float()
                return y if self.bias is None else y + self.bias

        for parent_name, parent in list(self.encoder.transformer.named_modules()):
            for name, child in list(parent.named_children()):
                full = f"{parent_name}.{name}" if parent_name else name
                if isinstance(child, torch.nn.Linear) and "encoder.layer" in full and linears(full):
                    setattr(parent, name, BF16Linear(child))

    def encode(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        import torch

        if self.mode == "autocast":
            with torch.autocast("cpu", dtype=torch.bfloat16):
                return self.encoder.encode(texts, batch_size)
        return self.encoder.encode(texts, batch_size)


class OnnxVariant:
    """The fused fp32 ONNX export, quantized by ``quantize(fp32_file, out_file, node_names)`` (or as it is)."""

    def __init__(self, folder: Path, name: str, quantize: Callable[[Path, Path, list[str]], None] | None = None,
                 session_config: dict[str, str] | None = None, threads: int | None = None):
        import onnx
        import onnxruntime as ort

        from pipeline_factory.embedding import _max_seq_length, default_model_path, onnx_backend

        model_dir = default_model_path()
        model_file = onnx_backend.export(model_dir, folder, "fp32")
        if quantize is not None:
            nodes = [n.name for n in onnx.load(str(model_file), load_external_data=False).graph.node]
            out = folder / f"{name}.onnx"
            if not out.exists():
                quantize(model_file, out, nodes)
            model_file = out
        self.encoder = onnx_backend.OnnxEncoder(model_file, model_dir, _max_seq_length(model_dir), threads)
        if session_config:
            options = ort.SessionOptions()
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            for key, value in session_config.items():
                options.add_session_config_entry(key, value)
            self.encoder.session = ort.InferenceSession(str(model_file), options, providers=["CPUExecutionProvider"])

    def encode(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        return self.encoder.encode(texts, batch_size)


def _dynamic_int8(include: Callable[[str], bool], **options: Any) -> Callable[[Path, Path, list[str]], None]:
    def run(source: Path, out: Path, nodes: list[str]) -> None:
        from onnxruntime.quantization import QuantType, quantize_dynamic

        quantize_dynamic(str(source), str(out), weight_type=QuantType.QInt8, per_channel=True,
                         nodes_to_quantize=[n for n in nodes if include(n)],
                         extra_options={"DefaultTensorType": 1}, **options)

    return run


def _matmul_8bit(block: int) -> Callable[[Path, Path, list[str]], None]:
    def run(source: Path, out: Path, nodes: list[str]) -> None:
        import onnx
        from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer

        quantizer = MatMulNBitsQuantizer(str(source), bits=8, block_size=block, accuracy_level=4)
        quantizer.process()
        onnx.save(quantizer.model.model, str(out))

    return run


def _layer(name: str) -> int:
    """The encoder layer of a torch module or ONNX node name (-1: none in the name)."""
    found = re.search(r"layer\.(\d+)[./]", name)
    return int(found.group(1)) if found else -1


def _ffn(name: str) -> bool:
    """The feed-forward Linear layers (``intermediate.dense``, ``output.dense``), by torch or ONNX name."""
    name = name.replace("/", ".")
    return "intermediate.dense" in name or (".output.dense" in name and "attention" not in name)


def variant_factories(folder: Path) -> dict[str, Callable[[], Any]]:
    """The CPU variants tried for a faster default, by name (fused ONNX graph: Attention_<i> carries QKV)."""
    return {
        "onnx fp32, 1 thread": lambda: OnnxVariant(folder, "fp32", threads=1),
        "onnx fp32, no spinning": lambda: OnnxVariant(
            folder, "fp32", session_config={"session.intra_op.allow_spinning": "0"}),
        "torch bf16 (model.to)": lambda: TorchVariant("weights"),
        "torch bf16 autocast": lambda: TorchVariant("autocast"),
        "torch bf16 Linear, fp32 residual": lambda: TorchVariant("linears"),
        "torch bf16 FFN only": lambda: TorchVariant("linears", _ffn),
        "torch bf16 FFN, layers 0-3": lambda: TorchVariant("linears", lambda n: _ffn(n) and _layer(n) < 4),
        "int8 Attention (QKV) only": lambda: OnnxVariant(
            folder, "int8_attention", _dynamic_int8(lambda n: n.startswith("Attention_"))),
        "int8 MatMul, QKV fp32": lambda: OnnxVariant(
            folder, "int8_matmul", _dynamic_int8(lambda n: n.endswith("/MatMul"))),
        "int8 FFN only": lambda: OnnxVariant(folder, "int8_ffn", _dynamic_int8(_ffn)),
        "int8 FFN, layers 0-2": lambda: OnnxVariant(
            folder, "int8_ffn_012", _dynamic_int8(lambda n: _ffn(n) and _layer(n) < 3)),
        "int8 all but the last layer": lambda: OnnxVariant(
            folder, "int8_not_last", _dynamic_int8(lambda n: n != "Attention_5" and _layer(n) != 5 and (
                n.startswith("Attention_") or n.endswith("/MatMul")))),
        "int8 reduce_range": lambda: OnnxVariant(
            folder, "int8_reduce_range",
            _dynamic_int8(lambda n: n.startswith("Attention_") or n.endswith("/MatMul"), reduce_range=True)),
        "MatMulNBits 8-bit, block 32": lambda: OnnxVariant(folder, "nbits8_32", _matmul_8bit(32)),
    }


def variants(args: argparse.Namespace) -> None:
    from pipeline_factory.embedding import get_embedder
    from pipeline_factory.stages.graphrag.vector_model import paper_text

    folder = Path(os.environ["PIPELINE_DATA_DIR"]) / "variants"
    factories = variant_factories(folder)
    chosen = {name: make for name, make in factories.items() if not args.variants or name in args.variants}
    texts = bench_texts(args.texts)
    samples = sorted({300, args.papers})
    corpora = {n: [paper_text(p) for p in corpus_papers(n)] for n in samples}
    today = TodaysEmbedder()
    references = {n: np.asarray(today.encode(t), dtype=np.float32) for n, t in corpora.items()}
    candidates: dict[str, Any] = {"today": today, "onnx (default)": get_embedder(device="cpu", backend="onnx",
                                                                             use_cache=False)}
    for name, make in chosen.items():
        try:
            candidates[name] = make()
        except ImportError as exc:
            print(f"   {name}: skipped ({exc})")
    print(f"4. variants: quality against today's fp32 vectors, {' and '.join(map(str, samples))} papers:")
    for name, embedder in candidates.items():
        for n, corpus in corpora.items():
            print(f"   {name:34s} {n:5d}: {quality_figures(np.asarray(embedder.encode(corpus)), references[n])}",
                  flush=True)
    print_rates(candidates, texts, args.runs, width=34,
                title=f"   rates, {len(texts)} texts, batch 64, median of {args.runs} runs:")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=2000)
    parser.add_argument("--papers", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--only", choices=["rate", "quality", "rebuild", "variants"], nargs="*")
    parser.add_argument("--variants", nargs="*", help="names of step 4's variants (default: all)")
    args = parser.parse_args()
    os.environ.setdefault("PIPELINE_DATA_DIR", tempfile.mkdtemp(prefix="bench-embedding-"))
    steps = (("rate", rates), ("quality", quality), ("rebuild", rebuild), ("variants", variants))
    for name, step in steps:
        if (not args.only and name != "variants") or (args.only and name in args.only):
            step(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
