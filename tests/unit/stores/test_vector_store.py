"""``VectorStore`` behaves the same on both embedded engines: Qdrant Edge and qdrant-client's local mode."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pipeline_factory.exceptions import ConfigError
from pipeline_factory.stores.vectors import VectorStore, embedded_engine, point_id

ENGINES = ["edge", "local"]


def unit_rows(n: int, dim: int = 16, seed: int = 3) -> np.ndarray:
    rows = np.random.default_rng(seed).normal(size=(n, dim)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


@pytest.fixture(params=ENGINES)
def store(request: pytest.FixtureRequest, tmp_path: Path):
    with VectorStore(path=tmp_path / "qdrant", engine=request.param) as opened:
        yield opened


def points(rows: np.ndarray, prefix: str = "doc") -> list:
    return [(point_id(f"{prefix}:{i}"), row, {"key": f"{prefix}:{i}", "n": i}) for i, row in enumerate(rows)]


def test_write_list_count_and_search(store: VectorStore) -> None:
    rows = unit_rows(50)
    assert not store.collection_exists("c") and store.count("c") == 0
    store.ensure_collection("c", 16)
    assert store.upsert("c", points(rows), batch_size=7) == 50
    assert store.count("c") == 50
    assert store.ids("c") == {point_id(f"doc:{i}") for i in range(50)}
    assert store.payloads("c", ["key"])[point_id("doc:3")] == {"key": "doc:3"}
    assert store.payloads("c")[point_id("doc:3")] == {"key": "doc:3", "n": 3}
    hits = store.search("c", rows[7], limit=3)
    assert hits[0][0] == point_id("doc:7") and hits[0][1] == pytest.approx(1.0, abs=1e-5)
    assert hits[0][2]["key"] == "doc:7" and len(hits) == 3


def test_reupsert_replaces_delete_removes_recreate_empties(store: VectorStore) -> None:
    store.ensure_collection("c", 16)
    store.upsert("c", points(unit_rows(10)))
    store.upsert("c", points(unit_rows(10, seed=4)))  # same ids: replaced, not added
    assert store.count("c") == 10
    assert store.delete("c", [point_id("doc:0"), point_id("doc:1")]) == 2
    assert store.count("c") == 8 and point_id("doc:0") not in store.ids("c")
    store.ensure_collection("c", 16, recreate=True)
    assert store.count("c") == 0 and store.collection_exists("c")


def test_a_list_vector_is_accepted_as_well(store: VectorStore) -> None:
    store.ensure_collection("c", 16)
    store.upsert("c", [(point_id("x"), unit_rows(1)[0].tolist(), {"k": 1})])
    assert store.count("c") == 1


@pytest.mark.parametrize("engine", ENGINES)
def test_points_persist_for_the_next_process(tmp_path: Path, engine: str) -> None:
    with VectorStore(path=tmp_path / "qdrant", engine=engine) as first:
        first.ensure_collection("papers", 16)
        first.upsert("papers", points(unit_rows(25)))
    script = (
        "import sys; from pipeline_factory.stores.vectors import VectorStore\n"
        f"s = VectorStore(path=sys.argv[1], engine={engine!r}); print(s.count('papers'), len(s.ids('papers')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "qdrant")], capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == ["25", "25"]


def test_an_edge_collection_open_elsewhere_is_not_opened_twice(tmp_path: Path) -> None:
    with VectorStore(path=tmp_path / "qdrant", engine="edge") as holder:
        holder.ensure_collection("papers", 16)
        script = (
            "import sys; from pipeline_factory.stores.vectors import VectorStore\n"
            "s = VectorStore(path=sys.argv[1], engine='edge')\n"
            "try:\n    s.count('papers')\nexcept Exception as exc:\n    print(type(exc).__name__, exc)"
        )
        env = {**os.environ, "PIPELINE_VECTOR_LOCK_TIMEOUT": "0.3"}
        out = subprocess.run(
            [sys.executable, "-c", script, str(tmp_path / "qdrant")], capture_output=True, text=True, env=env
        )
    assert out.stdout.startswith("TransientServiceError") and "'papers'" in out.stdout


def test_edge_collection_names_cannot_leave_the_folder(tmp_path: Path) -> None:
    with VectorStore(path=tmp_path / "qdrant", engine="edge") as store, pytest.raises(ConfigError, match="collection"):
        store.ensure_collection("../elsewhere", 16)


def test_engine_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PIPELINE_VECTOR_ENGINE", raising=False)
    assert embedded_engine() == "edge"
    monkeypatch.setenv("PIPELINE_VECTOR_ENGINE", "Local")
    assert embedded_engine() == "local"
    monkeypatch.setenv("PIPELINE_VECTOR_ENGINE", "faiss")
    with pytest.raises(ConfigError, match=r"PIPELINE_VECTOR_ENGINE='faiss'.*edge, local"):
        embedded_engine()


@pytest.mark.parametrize("engine", ENGINES)
def test_any_sequence_of_upserts_keeps_one_point_per_key(tmp_path_factory: pytest.TempPathFactory, engine: str) -> None:
    """Rewriting records (a rerun, a retry) never adds a copy, on either engine."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    @settings(max_examples=15, deadline=None)
    @given(writes=st.lists(st.lists(st.integers(0, 30), min_size=1, max_size=20), min_size=1, max_size=4))
    def check(writes: list[list[int]]) -> None:
        rows = unit_rows(31)
        with VectorStore(path=tmp_path_factory.mktemp("prop"), engine=engine) as store:
            store.ensure_collection("c", 16)
            for keys in writes:
                store.upsert("c", [(point_id(f"k:{k}"), rows[k], {"k": k}) for k in keys])
            expected = {point_id(f"k:{k}") for keys in writes for k in keys}
            assert store.count("c") == len(expected) and store.ids("c") == expected

    check()
