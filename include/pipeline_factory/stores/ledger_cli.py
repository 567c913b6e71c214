"""``python -m pipeline_factory ledger list|show|mark``: the operator's view of the job ledger.

``mark`` is also how an external converter, or a person, releases a gated job
(``pdf_ir_ready=true``) or fails one (``state=failed error="..."``); every
mark that changed the job is recorded as an event, in the same transaction,
so the ledger says who changed what and never claims a change that did not
happen.  ``only_if_state=gated`` (or ``--only-if-state gated,running``) is a
condition, not a field; a job's identity (``job_id``, ``doc_id``, ...) cannot
be marked; moving a job into another run (``dag_run_id=``) needs
``--move-to-run``.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from collections.abc import Sequence
from typing import Any

LIST_COLUMNS = ("job_id", "state", "current_stage", "pdf_downloaded", "pdf_ir_ready", "dag_run_id", "error")


def parse_value(raw: str) -> Any:
    """``true``/``false`` -> bool, ``null``/``none`` -> None, digits -> int, anything else stays text."""
    lowered = raw.strip().lower()
    if lowered in ("true", "yes"):
        return True
    if lowered in ("false", "no"):
        return False
    if lowered in ("null", "none", ""):
        return None
    try:
        return int(raw)
    except ValueError:
        return raw


def parse_assignments(items: Sequence[str]) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for item in items:
        name, sep, raw = item.partition("=")
        if not sep or not name:
            raise ValueError(f"{item!r} is not FIELD=VALUE")
        fields[name.strip()] = parse_value(raw)
    return fields


CONDITION = "only_if_state"


def parse_states(raw: str) -> list[str]:
    """``gated,running`` -> the states a conditional mark accepts; an unknown state is an error."""
    from pipeline_factory.stores.ledger_schema import JOB_STATES

    states = [state.strip() for state in raw.split(",") if state.strip()]
    unknown = [state for state in states if state not in JOB_STATES]
    if unknown or not states:
        raise ValueError(f"only_if_state {raw!r}: give one or more of {', '.join(JOB_STATES)}")
    return states


def parse_mark(items: Sequence[str]) -> tuple[dict[str, Any], list[str] | None]:
    """``FIELD=VALUE`` items as typed ledger fields, and the ``only_if_state`` condition if one is given.

    Each value is read as its field's type (a ``doc_id=123`` stays text);
    anything the ledger would not accept is a ``ValueError`` naming the field.
    """
    from pipeline_factory.stores.ledger import (
        BOOLEAN_FIELDS,
        IDENTITY_FIELDS,
        INTEGER_FIELDS,
        MARKABLE_FIELDS,
    )

    fields: dict[str, Any] = {}
    condition: list[str] | None = None
    for item in items:
        name, sep, raw = item.partition("=")
        name = name.strip()
        if not sep or not name:
            raise ValueError(f"{item!r} is not FIELD=VALUE")
        if name in fields or (name == CONDITION and condition is not None):
            raise ValueError(f"{name} is given twice")
        if name == CONDITION:
            condition = parse_states(raw)
            continue
        if name in IDENTITY_FIELDS:
            raise ValueError(f"{name} is part of the job's identity and cannot be marked (record the job again)")
        if name not in MARKABLE_FIELDS:
            settable = sorted(MARKABLE_FIELDS - IDENTITY_FIELDS)
            raise ValueError(f"unknown ledger field {name!r}; settable fields: {', '.join(settable)}")
        value = parse_value(raw)
        if name in BOOLEAN_FIELDS:
            if not isinstance(value, bool):
                raise ValueError(f"{name} takes true or false, not {raw!r}")
        elif name in INTEGER_FIELDS:
            if not isinstance(value, int) or isinstance(value, bool):
                raise ValueError(f"{name} takes a whole number, not {raw!r}")
        elif value is not None:
            value = raw  # text fields keep what was typed: "123" stays "123"
        fields[name] = value
    return fields, condition


def add_ledger_commands(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``ledger`` and its sub-commands on an existing argparse sub-parser set."""
    ledger = subparsers.add_parser("ledger", help="inspect and change the job ledger")
    commands = ledger.add_subparsers(dest="ledger_command", required=True)

    listing = commands.add_parser("list", help="list jobs")
    listing.add_argument("--state", help="only jobs in this state")
    listing.add_argument("--run", help="only jobs of this DAG run (dag_id/run_id)")
    listing.add_argument("--pipeline", help="only jobs of this pipeline")
    listing.add_argument("--limit", type=int, default=200)
    listing.add_argument("--json", action="store_true", help="print JSON instead of a table")
    listing.set_defaults(ledger_handler=_list)

    show = commands.add_parser("show", help="show one job and its events")
    show.add_argument("job")
    show.set_defaults(ledger_handler=_show)

    mark = commands.add_parser("mark", help="set fields on a job: FIELD=VALUE ...")
    mark.add_argument("job")
    mark.add_argument("assignments", nargs="+", metavar="FIELD=VALUE")
    mark.add_argument("--only-if-state", help="change the job only if its state is one of these (comma separated)")
    mark.add_argument("--move-to-run", action="store_true", help="allow dag_run_id=: move the job into another run")
    mark.set_defaults(ledger_handler=_mark)
    return ledger


def run_ledger_command(args: argparse.Namespace) -> int:
    from pipeline_factory.stores.ledger import Ledger

    try:
        return args.ledger_handler(Ledger.from_env(), args)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _list(ledger, args: argparse.Namespace) -> int:
    jobs = ledger.jobs(state=args.state, dag_run_id=args.run, pipeline=args.pipeline, limit=args.limit)
    if args.json:
        print(json.dumps(jobs, indent=2))
        return 0
    if not jobs:
        print("no jobs")
        return 0
    rows = [[_cell(job[column]) for column in LIST_COLUMNS] for job in jobs]
    widths = [max(len(column), *(len(row[i]) for row in rows)) for i, column in enumerate(LIST_COLUMNS)]
    print("  ".join(column.ljust(width) for column, width in zip(LIST_COLUMNS, widths, strict=True)).rstrip())
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    return 0


def _show(ledger, args: argparse.Namespace) -> int:
    job = ledger.get(args.job)
    if job is None:
        print(f"error: no job {args.job!r}", file=sys.stderr)
        return 1
    print(json.dumps({"job": job, "events": ledger.events(job_id=args.job)}, indent=2))
    return 0


def _mark(ledger, args: argparse.Namespace) -> int:
    fields, condition = parse_mark(args.assignments)
    if args.only_if_state:
        if condition is not None:
            raise ValueError("give only_if_state once (as --only-if-state or as only_if_state=)")
        condition = parse_states(args.only_if_state)
    if not fields:
        raise ValueError("mark needs at least one FIELD=VALUE to set")
    before = ledger.get(args.job)
    if before is None:
        print(f"error: no job {args.job!r}", file=sys.stderr)
        return 1
    data: dict[str, Any] = {"fields": fields, "by": _who()}
    if condition is not None:
        data["only_if_state"] = condition
    if "dag_run_id" in fields:
        data["moved_from_run"] = before["dag_run_id"]
    job = ledger.mark_recorded(
        args.job,
        event_type="job.marked",
        source="ledger-cli",
        data=data,
        only_if_state=condition,
        move_run=args.move_to_run,
        **fields,
    )
    if job is None:
        current = ledger.get(args.job)
        state = current["state"] if current else "gone"
        why = f"its state is {state!r}, not one of {', '.join(condition)}" if condition else "it is gone"
        print(f"error: job {args.job!r} not changed (nothing recorded): {why}", file=sys.stderr)
        return 3
    print(json.dumps(job, indent=2))
    return 0


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    text = str(value).lower() if isinstance(value, bool) else str(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _who() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def main(argv: Sequence[str] | None = None) -> int:
    """Stand-alone entry point: ``python -m pipeline_factory.stores.ledger_cli list|show|mark``."""
    parser = argparse.ArgumentParser(prog="pipeline_factory.stores.ledger_cli", description=__doc__)
    subparsers = parser.add_subparsers(dest="command", required=True)
    add_ledger_commands(subparsers).set_defaults(handler=run_ledger_command)
    arguments = list(sys.argv[1:] if argv is None else argv)
    if not arguments or arguments[0] != "ledger":
        arguments = ["ledger", *arguments]
    args = parser.parse_args(arguments)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
