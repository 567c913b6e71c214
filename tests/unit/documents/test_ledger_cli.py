from __future__ import annotations

import argparse
import json

import pytest

from pipeline_factory.ledger_cli import add_ledger_commands, main, parse_assignments, parse_value


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
    from pipeline_factory.ledger_cli import run_ledger_command

    add_ledger_commands(commands).set_defaults(handler=run_ledger_command)
    args = parser.parse_args(["ledger", "show", "missing"])
    assert args.handler(args) == 1
