"""Length-sorted token batches and the prefetching thread."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline_factory.embedding import batching, default_model_path


@pytest.fixture(scope="module")
def tokenizer():
    return batching.load_tokenizer(str(default_model_path()), 32)


@settings(max_examples=40, deadline=None)
@given(
    texts=st.lists(st.text(max_size=200), min_size=1, max_size=40),
    batch=st.integers(1, 9),
    window=st.integers(1, 20),
    max_tokens=st.none() | st.integers(1, 120),
)
def test_every_text_lands_in_exactly_one_batch_with_its_own_tokens(
    tokenizer, texts, batch, window, max_tokens
) -> None:
    batches = list(batching.stream_batches(tokenizer, texts, batch, window, max_tokens))
    rows = np.concatenate([b.rows for b in batches])
    assert sorted(rows.tolist()) == list(range(len(texts)))
    for b in batches:
        assert len(b.rows) <= batch
        if max_tokens is not None:  # within the token budget, or a single row longer than it
            assert b.input_ids.size <= max_tokens or len(b.rows) == 1
        for i, row in enumerate(b.rows):
            ids = tokenizer.encode(texts[row]).ids
            assert b.input_ids[i, : len(ids)].tolist() == ids
            assert b.attention_mask[i].sum() == len(ids) <= 32
        assert b.attention_mask[0].sum() == b.input_ids.shape[1]  # padded only to its own longest


def test_a_token_budget_shortens_batches_of_long_texts_only(tokenizer) -> None:
    texts = ["word " * 40] * 6 + ["word"] * 6  # 32 tokens (truncated) and 3 tokens
    batches = batching.token_batches(tokenizer, texts, 4, max_tokens=64)
    assert [len(b.rows) for b in batches] == [2, 2, 2, 4, 2]
    assert [b.input_ids.shape[1] for b in batches] == [32, 32, 32, 3, 3]


def test_prefetch_keeps_order_and_reraises() -> None:
    assert list(batching.prefetch(iter(range(50)), depth=2, transform=lambda x: x * 2)) == list(range(0, 100, 2))

    def broken():
        yield 1
        raise ValueError("tokenizer failed")

    with pytest.raises(ValueError, match="tokenizer failed"):
        list(batching.prefetch(broken()))


def test_an_early_stop_releases_the_thread() -> None:
    before = threading.active_count()
    for item in batching.prefetch(iter(range(1000)), depth=1):
        if item == 3:
            break
    assert threading.active_count() == before


def test_mean_pool_ignores_padding() -> None:
    hidden = np.array([[[3.0, 4.0], [100.0, 100.0]]], dtype=np.float32)
    out = batching.mean_pool_normalize(hidden, np.array([[1, 0]]))
    assert np.allclose(out, [[0.6, 0.8]])
