"""Files written atomically get an ordinary new file's mode, whatever the umask.

Stages of one run can run as different users (the worker, and a stage
container or pod running as the profile's user in group 0), so what one
writes into the shared data dir must be as readable as any file it creates.
``mkstemp`` alone makes them owner-only.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline_factory.stages.documents.records import write_jsonl
from pipeline_factory.workspace import write_json_atomic


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@settings(max_examples=30, deadline=None)
@given(umask=st.sampled_from([0o002, 0o022, 0o027, 0o077, 0o000, 0o007]))
def test_atomic_writes_follow_the_umask_like_any_new_file(tmp_path_factory, umask: int) -> None:
    folder = tmp_path_factory.mktemp("modes")
    previous = os.umask(umask)
    try:
        plain = folder / "plain.txt"
        plain.write_text("x")
        write_json_atomic(folder / "run" / "result.json", {"ok": True})
        write_jsonl(folder / "run" / "chunks.jsonl", [{"id": 1}])
    finally:
        os.umask(previous)
    expected = _mode(plain)
    assert expected == 0o666 & ~umask
    assert _mode(folder / "run" / "result.json") == expected
    assert _mode(folder / "run" / "chunks.jsonl") == expected


def test_the_umask_is_left_as_it_was(tmp_path: Path) -> None:
    previous = os.umask(0o027)
    try:
        write_json_atomic(tmp_path / "a.json", [])
        assert os.umask(0o027) == 0o027
    finally:
        os.umask(previous)


@settings(max_examples=10, deadline=None)
@given(umask=st.sampled_from([0o002, 0o022, 0o077]))
def test_a_new_sqlite_ledger_follows_the_umask(tmp_path_factory, umask: int) -> None:
    from pipeline_factory.stores.ledger import Ledger

    folder = tmp_path_factory.mktemp("ledger")
    previous = os.umask(umask)
    try:
        ledger = Ledger(f"sqlite:///{folder / 'ledger.sqlite'}")
        ledger.upsert_job("j1", doc_id="d1", pipeline="p", dag_run_id="p/r", state="pending")
        ledger.dispose()
    finally:
        os.umask(previous)
    assert _mode(folder / "ledger.sqlite") == 0o666 & ~umask


def _run_greet(tmp_path: Path, umask_env: str) -> tuple[int, str, Path]:
    import subprocess
    import sys

    env = {**os.environ, "PIPELINE_DATA_DIR": str(tmp_path / "data"), "PIPELINE_UMASK": umask_env}
    previous = os.umask(0o022)  # what a container starts with
    try:
        proc = subprocess.run([sys.executable, "-m", "pipeline_factory.runner", "example_hello", "greet",
                               "--run-id", "r-umask"], env=env, capture_output=True, text=True, timeout=120)
    finally:
        os.umask(previous)
    return proc.returncode, proc.stderr, tmp_path / "data" / "runs" / "example_hello" / "r-umask"


def test_the_runner_applies_the_umask_stage_containers_are_given(tmp_path: Path) -> None:
    code, stderr, run = _run_greet(tmp_path, "002")
    assert code == 0, stderr
    for path in (run, run / "greet", run / "greet" / "result.json"):
        assert _mode(path) & 0o020, f"{path} is not group-writable: {oct(_mode(path))}"


def test_a_bad_umask_is_refused_by_name(tmp_path: Path) -> None:
    code, stderr, run = _run_greet(tmp_path, "rw-r")
    assert code == 2 and "PIPELINE_UMASK='rw-r'" in stderr, stderr
    assert not run.exists()
