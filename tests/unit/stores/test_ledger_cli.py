from __future__ import annotations

import argparse
import json

import pytest

from pipeline_factory.stores.ledger_cli import add_ledger_commands, main, parse_assignments, parse_value


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("true", True),
        ("False", False),
        ("null", None),
        ("none", None),
        ("3", 3),
        ("-1", -1),
        ("gated", "gated"),
        ("converter: bad PDF", "converter: bad PDF"),
    ],
)
def test_values_parse_as_bool_null_int_or_text(raw, value):
    assert parse_value(raw) == value


def test_assignments_need_an_equals_sign():
    assert parse_assignments(["state=failed", "error=a=b"]) == {"state": "failed", "error": "a=b"}
    with pytest.raises(ValueError, match="FIELD=VALUE"):
        parse_assignments(["pdf_ir_ready"])


def test_mark_releases_and_fails_jobs_and_records_who(ledger, capsys):
    ledger.upsert_job("j1", doc_id="d1", pipeline="p", dag_run_id="p/r1", state="gated")
    assert main(["mark", "j1", "pdf_ir_ready=true"]) == 0
    assert json.loads(capsys.readouterr().out)["pdf_ir_ready"] is True
    assert main(["ledger", "mark", "j1", "state=failed", "error=converter: encrypted PDF"]) == 0
    job = ledger.get("j1")
    assert (job["state"], job["error"]) == ("failed", "converter: encrypted PDF")
    marks = ledger.events(job_id="j1", type="job.marked")
    assert [m["data"]["fields"] for m in marks] == [
        {"pdf_ir_ready": True},
        {"state": "failed", "error": "converter: encrypted PDF"},
    ]
    assert all(m["data"]["by"] for m in marks)


def test_bad_marks_exit_non_zero(ledger, capsys):
    ledger.upsert_job("j1", doc_id="d1", pipeline="p")
    assert main(["mark", "j1", "state=done"]) == 2
    assert main(["mark", "nope", "pdf_ir_ready=true"]) == 1
    assert "no job 'nope'" in capsys.readouterr().err
    assert ledger.get("j1")["state"] == "pending"


def test_list_filters_by_state_and_run(ledger, capsys):
    ledger.upsert_job("a", doc_id="a", pipeline="p", dag_run_id="p/r1", state="gated")
    ledger.upsert_job("b", doc_id="b", pipeline="p", dag_run_id="p/r2", state="failed", error="x")
    assert main(["list", "--state", "failed", "--json"]) == 0
    assert [j["job_id"] for j in json.loads(capsys.readouterr().out)] == ["b"]
    assert main(["list", "--run", "p/r1"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split()[:2] == ["job_id", "state"] and out[1].split()[:2] == ["a", "gated"]


def test_the_commands_plug_into_another_parser(ledger):
    parser = argparse.ArgumentParser()
    commands = parser.add_subparsers(dest="command", required=True)
    from pipeline_factory.stores.ledger_cli import run_ledger_command

    add_ledger_commands(commands).set_defaults(handler=run_ledger_command)
    args = parser.parse_args(["ledger", "show", "missing"])
    assert args.handler(args) == 1


def test_a_mark_whose_condition_does_not_match_changes_and_records_nothing(ledger, capsys):
    ledger.upsert_job("j1", doc_id="d1", pipeline="p", dag_run_id="p/r1", state="running")
    before = ledger.get("j1")
    assert main(["mark", "j1", "only_if_state=gated", "state=failed", "error=x"]) == 3
    assert "not changed (nothing recorded): its state is 'running', not one of gated" in capsys.readouterr().err
    assert ledger.get("j1") == before
    assert ledger.events(job_id="j1", type="job.marked") == []
    assert main(["mark", "j1", "--only-if-state", "gated,running", "state=failed", "error=x"]) == 0
    (event,) = ledger.events(job_id="j1", type="job.marked")
    assert event["data"]["fields"] == {"state": "failed", "error": "x"}
    assert event["data"]["only_if_state"] == ["gated", "running"]


def test_the_event_is_written_in_the_marks_transaction(ledger, monkeypatch, capsys):
    """If recording the event fails, the job does not change either."""
    from pipeline_factory.stores import ledger as ledger_module

    ledger.upsert_job("j1", doc_id="d1", pipeline="p", dag_run_id="p/r1", state="gated")

    def broken(item):
        raise RuntimeError("event table unavailable")

    monkeypatch.setattr(ledger_module.Ledger, "_event_row", staticmethod(broken))
    with pytest.raises(RuntimeError):
        ledger.mark_recorded("j1", event_type="job.marked", source="t", pdf_ir_ready=True)
    assert ledger.get("j1")["pdf_ir_ready"] is False


@pytest.mark.parametrize(
    ("assignment", "complaint"),
    [
        ("job_id=other", "job_id is part of the job's identity"),
        ("doc_id=d2", "doc_id is part of the job's identity"),
        ("pipeline=q", "pipeline is part of the job's identity"),
        ("version=9", "version is part of the job's identity"),
        ("colour=red", "unknown ledger field 'colour'"),
        ("pdf_ir_ready=maybe", "pdf_ir_ready takes true or false"),
        ("attempts=many", "attempts takes a whole number"),
        ("state=done", "is not one of"),
        ("only_if_state=nope", "only_if_state"),
        ("error=" + "x" * 10, None),
        ("pdf_sha256=" + "a" * 65, "pdf_sha256 takes at most 64 characters"),
        ("dag_run_id=q/r9", "moves a job into another run's gate"),
    ],
)
def test_invalid_marks_are_clear_errors_not_tracebacks(ledger, capsys, assignment, complaint):
    ledger.upsert_job("j1", doc_id="d1", pipeline="p", dag_run_id="p/r1", state="gated")
    before = ledger.get("j1")
    code = main(["mark", "j1", assignment])
    if complaint is None:
        assert code == 0
        return
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: ") and complaint in err and "Traceback" not in err
    assert ledger.get("j1") == before
    assert ledger.events(job_id="j1", type="job.marked") == []


def test_moving_a_job_to_another_run_needs_the_flag_and_is_recorded(ledger, capsys):
    ledger.upsert_job("j1", doc_id="d1", pipeline="p", dag_run_id="p/r1", state="gated")
    assert main(["mark", "j1", "dag_run_id=p/r2", "--move-to-run"]) == 0
    assert ledger.get("j1")["dag_run_id"] == "p/r2"
    (event,) = ledger.events(job_id="j1", type="job.marked")
    assert event["data"]["moved_from_run"] == "p/r1"


def test_text_values_stay_text(ledger, capsys):
    ledger.upsert_job("j1", doc_id="d1", pipeline="p", state="gated")
    assert main(["mark", "j1", "current_stage=123", "error=007"]) == 0
    job = ledger.get("j1")
    assert (job["current_stage"], job["error"]) == ("123", "007")
