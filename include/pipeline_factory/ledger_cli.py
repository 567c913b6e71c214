"""``python -m pipeline_factory ledger list|show|mark``: the operator's view of the job ledger.

``mark`` is also how an external converter, or a person, releases a gated job
(``pdf_ir_ready=true``) or fails one (``state=failed error="..."``); every
mark is recorded as an event so the ledger says who changed what.
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
    fields = parse_assignments(args.assignments)
    if ledger.get(args.job) is None:
        print(f"error: no job {args.job!r}", file=sys.stderr)
        return 1
    ledger.mark(args.job, **fields)
    job = ledger.get(args.job)
    ledger.record_event(
        "job.marked",
        source="ledger-cli",
        subject=args.job,
        job_id=args.job,
        dag_run_id=job["dag_run_id"],
        data={"fields": fields, "by": _who()},
    )
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
    """Stand-alone entry point: ``python -m pipeline_factory.ledger_cli list|show|mark``."""
    parser = argparse.ArgumentParser(prog="pipeline_factory.ledger_cli", description=__doc__)
    subparsers = parser.add_subparsers(dest="command", required=True)
    add_ledger_commands(subparsers).set_defaults(handler=run_ledger_command)
    arguments = list(sys.argv[1:] if argv is None else argv)
    if not arguments or arguments[0] != "ledger":
        arguments = ["ledger", *arguments]
    args = parser.parse_args(arguments)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
