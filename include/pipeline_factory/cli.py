"""``python -m pipeline_factory``: check, render and list pipeline specs; operate the ledger; ask GraphRAG.

``validate`` calls the same loader the DAG files call, so a spec it passes is
a spec Airflow renders.  None of these commands needs a running Airflow or a
database, except ``ledger``, which talks to the ledger database.

Exit codes: 0 fine, 1 findings (invalid specs), 2 bad usage.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Sequence
from pathlib import Path

from pipeline_factory import settings
from pipeline_factory.exceptions import PipelineFactoryError, SpecError


def _spec_paths(args: list[str]) -> tuple[list[Path] | None, list[str]]:
    """Files as given, directories as the spec files under them; and what does not exist."""
    from pipeline_factory.spec.loader import DEFAULTS_FILE, SPEC_SUFFIXES

    if not args:
        return None, []
    paths: list[Path] = []
    missing: list[str] = []
    for arg in args:
        path = Path(arg)
        if path.is_dir():
            paths += sorted(p for p in path.rglob("*") if p.suffix in SPEC_SUFFIXES and p.is_file()
                            and p.name != DEFAULTS_FILE and not p.name.startswith("."))
        elif path.is_file():
            paths.append(path)
        else:
            missing.append(arg)
    return paths, missing


def _validate(args: argparse.Namespace) -> int:
    from pipeline_factory.spec.loader import load_specs
    from pipeline_factory.spec.report import format_problems

    paths, missing = _spec_paths(args.paths)
    if missing:
        print(f"error: no such file or directory: {', '.join(missing)}", file=sys.stderr)
        return 2
    specs = load_specs(paths)
    problems = sorted(specs.problems, key=lambda p: (p.file, p.line, p.column))
    output = format_problems(problems, args.format)
    if output:
        print(output)
    if problems:
        files = len(set(specs.broken_files))
        print(f"{len(problems)} problem(s) in {files} file(s); {len(specs.specs)} valid pipeline(s)",
              file=sys.stderr)
        return 1
    if args.format == "json":
        return 0
    print(f"{len(specs.specs)} pipeline(s) valid", file=sys.stderr)
    return 0


def _render(args: argparse.Namespace) -> int:
    from pipeline_factory.factory.builder import build_dag
    from pipeline_factory.factory.describe import describe_dag
    from pipeline_factory.spec.loader import load_specs

    specs = load_specs()
    if args.name not in specs.specs:
        mine = [p for p in specs.problems if Path(p.file).stem == args.name]
        for problem in mine:
            print(problem.format(), file=sys.stderr)
        if not mine:
            known = ", ".join(sorted(specs.specs)) or "none"
            print(f"error: no pipeline {args.name!r} (valid pipelines: {known})", file=sys.stderr)
        return 1
    dag = build_dag(specs.specs[args.name], policies=specs.policies, profile_name=specs.profile_name,
                    profile=specs.profile)
    loaded = specs.specs[args.name]
    description = describe_dag(dag)
    description["runtime_profile"] = specs.profile_name
    description["stages"] = [stage.summary() for stage in loaded.stages.values()]
    if args.format == "json":
        print(json.dumps(description, indent=2, default=str))
    else:
        print(f"{description['dag_id']}  schedule={description['schedule']}  profile={specs.profile_name}")
        for task in description["tasks"]:
            stage = loaded.stages[task["task_id"]]
            after = ", ".join(task["upstream"]) or "-"
            inputs = ", ".join(f"{kind}<-{producer}" for kind, producer in stage.inputs.items()) or "-"
            print(f"  {task['task_id']:<24} {task['operator'].rsplit('.', 1)[-1]:<28} after {after}"
                  f"  inputs {inputs}  attempts={stage.budget.total} retries={task['retries']} pool={task['pool']}")
    return 0


def _schedule_text(spec: object) -> str:
    """Cron, preset, duration or None as written; asset lists and conditions as JSON."""
    schedule = spec.schedule  # type: ignore[attr-defined]
    if schedule is None or isinstance(schedule, str):
        return str(schedule)
    return json.dumps(spec.model_dump(mode="json", include={"schedule"})["schedule"])  # type: ignore[attr-defined]


def _list(args: argparse.Namespace) -> int:
    from pipeline_factory.spec.loader import load_specs
    from pipeline_factory.stages.registry import default_registry

    if args.types:
        for stage_type in default_registry():
            print(f"{stage_type.name:<22} {stage_type.family:<10} {stage_type.kind:<9} {stage_type.description}")
            reads = [*stage_type.consumes, *(f"{k}?" for k in stage_type.optional)]
            print(f"{'':<22} reads: {', '.join(reads) or '-'}  produces: {', '.join(stage_type.produces) or '-'}")
        return 0
    specs = load_specs()
    rows = [(name, _schedule_text(loaded.spec), str(len(loaded.spec.stages)), loaded.display)
            for name, loaded in sorted(specs.specs.items())]
    if args.json:
        print(json.dumps([dict(zip(("name", "schedule", "stages", "file"), r, strict=True)) for r in rows], indent=2))
    else:
        width = max([len(r[0]) for r in rows] + [8])
        print(f"{'PIPELINE':<{width}}  {'SCHEDULE':<14}  STAGES  FILE")
        for name, schedule, stages, file in rows:
            print(f"{name:<{width}}  {schedule:<14}  {stages:>6}  {file}")
    for file in sorted(set(specs.broken_files)):
        print(f"invalid: {file} (run `python -m pipeline_factory validate`)", file=sys.stderr)
    return 1 if specs.problems else 0


def _describe(args: argparse.Namespace) -> int:
    from pipeline_factory.stages.reference import describe, describe_text
    from pipeline_factory.stages.registry import default_registry

    registry = default_registry()
    if args.type not in registry:
        print(f"error: no stage type {args.type!r}; known: {', '.join(registry.names())}", file=sys.stderr)
        return 2
    stage_type = registry.get(args.type)
    print(json.dumps(describe(stage_type), indent=2, default=str) if args.format == "json"
          else describe_text(stage_type))
    return 0


def _new(args: argparse.Namespace) -> int:
    from pipeline_factory.spec import scaffold
    from pipeline_factory.spec.loader import load_specs
    from pipeline_factory.spec.report import format_problems

    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]{0,199}", args.name):
        print(f"error: {args.name!r} is not a pipeline name (letters, digits, underscores; a letter first)",
              file=sys.stderr)
        return 2
    if args.source:
        specs = load_specs()
        if args.source not in specs.specs:
            print(f"error: no valid pipeline {args.source!r} to start from", file=sys.stderr)
            return 2
        text = scaffold.from_pipeline(args.name, specs.specs[args.source].file)
    elif args.types:
        try:
            text = scaffold.from_types(args.name, args.types)
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    else:
        text = scaffold.minimal(args.name)
    if args.stdout:
        print(text, end="")
        return 0
    out = Path(args.out) if args.out else settings.pipelines_dir() / f"{args.name}.yaml"
    if out.exists() and not args.force:
        print(f"error: {out} exists (--force to overwrite)", file=sys.stderr)
        return 2
    out.write_text(text)
    specs = load_specs([out])
    if specs.problems:  # e.g. --type stages whose inputs no earlier stage produces: say what to add
        print(format_problems(specs.problems, "text"))
        print(f"{out}: written, but it does not validate yet: fix the problems above", file=sys.stderr)
        return 1
    print(out)
    return 0


def _docs(args: argparse.Namespace) -> int:
    from pipeline_factory.stages.reference import stages_markdown

    out = Path(args.out)
    out.write_text(stages_markdown())
    print(out)
    return 0


def _schema(args: argparse.Namespace) -> int:
    from pipeline_factory.spec.schema import write_schemas

    for path in write_schemas(Path(args.out) if args.out else settings.config_dir() / "schema"):
        print(path)
    return 0


def _pools(args: argparse.Namespace) -> int:
    from pipeline_factory.spec.loader import load_pools

    pools = load_pools()
    print(json.dumps({name: pool.model_dump() for name, pool in pools.items()}, indent=2))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pipeline_factory", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)

    validate = commands.add_parser("validate", help="check specs (default: every spec in the config folder)")
    validate.add_argument("paths", nargs="*", help="spec files or folders to check")
    validate.add_argument("--format", choices=("text", "json", "github"), default="text",
                          help="text: FILE:LINE:COL and the source line with a caret; json: a list of problems; "
                          "github: workflow annotations")
    validate.set_defaults(handler=_validate)

    render = commands.add_parser("render", help="print the DAG the factory builds for a pipeline")
    render.add_argument("name")
    render.add_argument("--format", choices=("json", "text"), default="text")
    render.set_defaults(handler=_render)

    listing = commands.add_parser("list", help="list pipelines and their schedules")
    listing.add_argument("--types", action="store_true", help="list the registered stage types instead")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=_list)

    describe = commands.add_parser("describe", help="a stage type: parameters, ports, compute, policy")
    describe.add_argument("type")
    describe.add_argument("--format", choices=("text", "json"), default="text")
    describe.set_defaults(handler=_describe)

    new = commands.add_parser("new", help="write a starting spec that validates (with the schema modeline)")
    new.add_argument("name", help="the pipeline name (and file name)")
    start = new.add_mutually_exclusive_group()
    start.add_argument("--from", dest="source", metavar="PIPELINE", help="copy an existing pipeline")
    start.add_argument("--type", dest="types", metavar="TYPE", nargs="+", help="one stage per type, chained")
    new.add_argument("--out", help="file to write (default: <config>/pipelines/NAME.yaml)")
    new.add_argument("--stdout", action="store_true", help="print instead of writing")
    new.add_argument("--force", action="store_true", help="overwrite an existing file")
    new.set_defaults(handler=_new)

    docs = commands.add_parser("docs", help="write the stage-type reference (docs/stages.md)")
    docs.add_argument("--out", default=str(settings.PROJECT_ROOT / "docs" / "stages.md"))
    docs.set_defaults(handler=_docs)

    schema = commands.add_parser("schema", help="write the JSON Schemas of the config files (for editors)")
    schema.add_argument("--out", help="folder (default: <config>/schema)")
    schema.set_defaults(handler=_schema)

    pools = commands.add_parser("pools", help="print the declared Airflow pools in `airflow pools import` format")
    pools.set_defaults(handler=_pools)

    from pipeline_factory.retrieval.cli import add_graphrag_commands, run_graphrag_command

    add_graphrag_commands(commands).set_defaults(handler=run_graphrag_command)

    from pipeline_factory.observability.cli import add_alert_commands, run_alert_command

    add_alert_commands(commands).set_defaults(handler=run_alert_command)

    try:
        from pipeline_factory.stores.ledger_cli import add_ledger_commands, run_ledger_command
    except ImportError:  # pragma: no cover - the ledger is part of the package
        pass
    else:
        add_ledger_commands(commands).set_defaults(handler=run_ledger_command)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except SpecError as exc:
        print(exc, file=sys.stderr)
        return 1
    except PipelineFactoryError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
