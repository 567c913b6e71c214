"""The content-addressed embedding cache, over a counting fake model (no weights needed)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline_factory.embedding.cache import CachedEmbedder, EmbeddingCache, normalise, text_key


class CountingModel:
    """Deterministic unit vectors from the normalised text; records every text it is asked to embed."""

    dimension = 8

    def __init__(self, model_id: str = "fake@0/fp32"):
        self.model_id = model_id
        self.seen: list[str] = []

    def encode(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        self.seen.extend(texts)
        rows = []
        for text in texts:
            seed = int.from_bytes(hashlib.sha256((self.model_id + normalise(text)).encode()).digest()[:8], "big")
            v = np.random.default_rng(seed).normal(size=self.dimension).astype(np.float32)
            rows.append(v / np.linalg.norm(v))
        return np.asarray(rows, dtype=np.float32).reshape(len(texts), self.dimension)


def test_a_second_encode_is_all_hits_and_identical(tmp_path: Path) -> None:
    model = CountingModel()
    cache = EmbeddingCache(tmp_path / "c.sqlite")
    texts = ["BRCA1 in breast cancer", "TP53 loss", "KRAS G12C"]
    first = CachedEmbedder(model, cache).encode(texts)
    again = CachedEmbedder(model, cache)
    second = again.encode(texts)
    assert model.seen == texts
    assert (again.hits, again.misses) == (3, 0)
    assert np.array_equal(first, second)


def test_only_new_or_changed_texts_are_embedded(tmp_path: Path) -> None:
    model = CountingModel()
    cache = EmbeddingCache(tmp_path / "c.sqlite")
    CachedEmbedder(model, cache).encode(["a paper", "another paper"])
    model.seen.clear()
    embedder = CachedEmbedder(model, cache)
    out = embedder.encode(["a paper", "another paper, revised", "a new paper"])
    assert model.seen == ["another paper, revised", "a new paper"]
    assert (embedder.hits, embedder.misses) == (1, 2)
    assert np.array_equal(out, model.encode(["a paper", "another paper, revised", "a new paper"]))


def test_whitespace_and_unicode_forms_share_an_entry(tmp_path: Path) -> None:
    model = CountingModel()
    embedder = CachedEmbedder(model, EmbeddingCache(tmp_path / "c.sqlite"))
    embedder.encode(["caf\u00e9  au\tlait "])
    embedder.encode(["cafe\u0301 au lait"])
    assert len(model.seen) == 1
    assert text_key("caf\u00e9  au\tlait ") == text_key("cafe\u0301 au lait")


def test_a_model_change_invalidates(tmp_path: Path) -> None:
    cache = EmbeddingCache(tmp_path / "c.sqlite")
    old, new = CountingModel("minilm@aaaa/onnx-int8"), CountingModel("minilm@bbbb/onnx-int8")
    before = CachedEmbedder(old, cache).encode(["a text"])
    switched = CachedEmbedder(new, cache)
    after = switched.encode(["a text"])
    assert new.seen == ["a text"] and switched.misses == 1
    assert not np.array_equal(before, after)
    assert cache.count(old.model_id) == cache.count(new.model_id) == 1


def test_the_cache_survives_the_process_and_a_crash_keeps_finished_slices(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pipeline_factory.embedding import cache as cache_module

    monkeypatch.setattr(cache_module, "WRITE_SLICE", 2)
    texts = [f"text {i}" for i in range(6)]

    class CrashOnFifth(CountingModel):
        def encode(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
            if "text 4" in texts:
                raise RuntimeError("worker killed")
            return super().encode(texts, batch_size)

    with pytest.raises(RuntimeError):
        CachedEmbedder(CrashOnFifth(), EmbeddingCache(tmp_path / "c.sqlite")).encode(texts)
    retry_model = CountingModel()
    retry = CachedEmbedder(retry_model, EmbeddingCache(tmp_path / "c.sqlite"))  # a new connection: the retry
    retry.encode(texts)
    assert retry_model.seen == ["text 4", "text 5"]


def test_empty_input(tmp_path: Path) -> None:
    out = CachedEmbedder(CountingModel(), EmbeddingCache(tmp_path / "c.sqlite")).encode([])
    assert out.shape == (0, 8)


_VARIANTS = ["alpha", "alpha ", " alpha", "beta", "beta\tgamma", "beta gamma", "de\u0301lta", "d\u00e9lta"]
_texts = st.lists(st.sampled_from(_VARIANTS) | st.text(max_size=12), max_size=12)


@settings(max_examples=60, deadline=None)
@given(calls=st.lists(_texts, min_size=1, max_size=5))
def test_no_text_is_ever_embedded_twice_and_results_match_the_model(tmp_path_factory, calls) -> None:
    model = CountingModel()
    cache = EmbeddingCache(tmp_path_factory.mktemp("prop") / "c.sqlite")
    for texts in calls:
        out = CachedEmbedder(model, cache).encode(texts)
        assert out.shape == (len(texts), model.dimension)
        assert np.array_equal(out, CountingModel().encode(texts))
    seen = [normalise(t) for t in model.seen]
    assert len(seen) == len(set(seen))
