"""A run id chosen by whoever triggers the run never writes outside the pipeline's workspace."""

from __future__ import annotations

import pytest

from pipeline_factory.exceptions import InputRefused, StageParamsError
from pipeline_factory.runner import run_stage


@pytest.fixture
def data(tmp_path, monkeypatch):
    data = tmp_path / "data"
    monkeypatch.setenv("PIPELINE_DATA_DIR", str(data))
    monkeypatch.setenv("PIPELINE_LEDGER_URL", f"sqlite:///{tmp_path / 'ledger.sqlite'}")
    return data


@pytest.mark.parametrize("run_id", ["..", ".", "a\x00b", "r" * 500])
def test_a_run_id_that_cannot_be_a_folder_fails_the_stage_without_writing(data, tmp_path, run_id):
    before = {p for p in tmp_path.rglob("*")}
    with pytest.raises(InputRefused, match="run id") as caught:
        run_stage("example_hello", "greet", run_id=run_id)
    assert isinstance(caught.value, StageParamsError)  # the operator fails the task at once: no retry helps
    written = {p for p in tmp_path.rglob("*")} - before
    assert not [p for p in written if p.suffix == ".json"]


@pytest.mark.parametrize("run_id", ["../../escape", "/tmp/abs", "manual__2026-01-01T00:00:00+00:00"])
def test_a_run_id_with_separators_stays_one_folder_under_the_pipeline(data, run_id):
    run_stage("example_hello", "greet", run_id=run_id)
    results = list(data.rglob("result.json"))
    assert len(results) == 1
    assert results[0].parent.parent.parent == data / "runs" / "example_hello"


def test_the_runner_command_refuses_it_as_a_usage_error(data, capsys):
    from pipeline_factory.runner import EXIT_USAGE, main

    assert main(["example_hello", "greet", "--run-id", ".."]) == EXIT_USAGE
    assert "run id '..' refused" in capsys.readouterr().err
