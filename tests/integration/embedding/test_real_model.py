"""The shipped MiniLM through each backend: the same model's vectors, cached, int8 within its quality bar."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pipeline_factory.devservers import eutils_corpus as corpus
from pipeline_factory.stages.graphrag.vector_model import paper_text

pytestmark = pytest.mark.integration


def corpus_texts(n: int) -> list[str]:
    papers = [corpus.paper(str(10_000_000 + i)) for i in range(n)]
    return [paper_text({"title": p.title, "abstract": f"{p.abstract_background} {p.abstract_results}"}) for p in papers]


@pytest.fixture(scope="module")
def texts() -> list[str]:
    return corpus_texts(300)


@pytest.fixture(scope="module")
def reference(texts: list[str]) -> np.ndarray:
    """Today's output: sentence-transformers' own encode, fp32 torch."""
    from sentence_transformers import SentenceTransformer

    from pipeline_factory.embedding import default_model_path

    model = SentenceTransformer(str(default_model_path()), device="cpu")
    return model.encode(texts, batch_size=64, normalize_embeddings=True, convert_to_numpy=True)


@pytest.mark.parametrize("backend", ["torch", "onnx"])
def test_fp32_backends_give_the_models_own_vectors(backend: str, texts: list[str], reference: np.ndarray) -> None:
    from pipeline_factory.embedding import get_embedder

    vectors = get_embedder(device="cpu", backend=backend, use_cache=False).encode(texts, batch_size=32)
    assert vectors.dtype == np.float32 and vectors.shape == reference.shape
    assert float((vectors * reference).sum(axis=1).min()) >= 0.999


def top10(vectors: np.ndarray, query: int) -> set[int]:
    return set(np.argsort(-(vectors @ vectors[query]), kind="stable")[:10].tolist())


def test_the_cpu_default_keeps_every_top10(texts: list[str], reference: np.ndarray) -> None:
    from pipeline_factory.embedding import get_embedder

    embedder = get_embedder(device="cpu", use_cache=False)
    assert embedder.backend == "onnx"
    vectors = embedder.encode(texts)
    queries = range(0, len(texts), 5)
    assert all(top10(vectors, q) == top10(reference, q) for q in queries)


def test_int8_keeps_the_cosine_bar(texts: list[str], reference: np.ndarray) -> None:
    """int8 stays the same model by cosine (its neighbour lists do not: why it is not the default)."""
    from pipeline_factory.embedding import get_embedder

    vectors = get_embedder(device="cpu", backend="onnx-int8", use_cache=False).encode(texts)
    cosine = (vectors * reference).sum(axis=1)
    assert float(cosine.mean()) >= 0.99 and float(cosine.min()) >= 0.98


def test_the_cache_answers_a_rerun_and_a_backend_change_misses(
    texts: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pipeline_factory.embedding import get_embedder

    monkeypatch.setenv("PIPELINE_EMBEDDING_CACHE", str(tmp_path / "cache.sqlite"))
    first = get_embedder(device="cpu", backend="onnx-int8")
    cold = first.encode(texts[:40])
    assert (first.hits, first.misses) == (0, 40)
    rerun = get_embedder(device="cpu", backend="onnx-int8")
    warm = rerun.encode(texts[:50])
    assert (rerun.hits, rerun.misses) == (40, 10)
    assert np.array_equal(warm[:40], cold)  # bit for bit
    other = get_embedder(device="cpu", backend="onnx")
    other.encode(texts[:40])
    assert other.model_id != rerun.model_id and other.misses == 40
