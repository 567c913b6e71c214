"""``python -m pipeline_factory alerts render|check``: the spec's alert rules for Prometheus and Alertmanager.

``render`` writes the Prometheus rules file and (with ``--alertmanager``) the
Alertmanager config from every valid spec; ``check`` renders the rules into
a temporary file and runs ``promtool check rules`` on it.  Both exit non-zero
when a spec is invalid: alert rules are validated with the rest of the spec.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any


def add_alert_commands(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    alerts = subparsers.add_parser("alerts", help="render the specs' alert rules for Prometheus and Alertmanager")
    commands = alerts.add_subparsers(dest="alerts_command", required=True)
    render = commands.add_parser("render", help="write the Prometheus rules file (and the Alertmanager config)")
    render.add_argument("--rules", type=Path, help="rules file to write (default: print it)")
    render.add_argument("--alertmanager", type=Path, help="also write the Alertmanager config here")
    render.add_argument("--helm-values", type=Path,
                        help="also write both as values for the prometheus-community/prometheus chart")
    render.add_argument("--interval", help="rule evaluation interval of every group (default: Prometheus's)")
    render.add_argument("--skip-invalid", action="store_true",
                        help="render the valid specs and only report the broken ones (deployments: one broken "
                             "spec must not leave every pipeline without alerts)")
    render.add_argument("--group-wait", default="30s")
    render.add_argument("--group-interval", default="5m")
    render.add_argument("--repeat-interval", default="4h")
    check = commands.add_parser("check", help="render the rules and run `promtool check rules` on them")
    check.add_argument("--promtool", default="promtool")
    return alerts


def _valid_specs(*, skip_invalid: bool = False) -> dict[str, Any]:
    from pipeline_factory.exceptions import SpecError
    from pipeline_factory.spec.loader import load_specs

    loaded = load_specs()
    if loaded.problems and skip_invalid:
        print(SpecError(loaded.problems), file=sys.stderr)
    elif loaded.problems:
        raise SpecError(loaded.problems)
    return {name: spec.spec for name, spec in loaded.specs.items()}


def _yaml(data: Any) -> str:
    import yaml

    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=1000)


def run_alert_command(args: argparse.Namespace) -> int:
    from pipeline_factory.observability.alerts import alertmanager_config, rules_file

    specs = _valid_specs(skip_invalid=getattr(args, "skip_invalid", False))
    rules = _yaml(rules_file(specs, interval=getattr(args, "interval", None)))
    if args.alerts_command == "check":
        promtool = shutil.which(args.promtool)
        if promtool is None:
            print(f"error: {args.promtool} not found (Debian package prometheus; make monitoring-deps)",
                  file=sys.stderr)
            return 2
        with tempfile.NamedTemporaryFile("w", suffix=".rules.yml") as handle:
            handle.write(rules)
            handle.flush()
            return subprocess.run([promtool, "check", "rules", handle.name], check=False).returncode
    if args.rules:
        args.rules.parent.mkdir(parents=True, exist_ok=True)
        args.rules.write_text(rules)
    else:
        print(rules, end="")
    if args.alertmanager or args.helm_values:
        config = alertmanager_config(specs, group_wait=args.group_wait, group_interval=args.group_interval,
                                     repeat_interval=args.repeat_interval)
        if args.alertmanager:
            _write_private(args.alertmanager, _yaml(config))
        if args.helm_values:
            rendered = rules_file(specs, interval=args.interval)
            _write_private(args.helm_values, _yaml({"serverFiles": {"alerting_rules.yml": rendered},
                                                    "alertmanager": {"config": config}}))
    return 0


def _write_private(path: Path, text: str) -> None:
    """Alertmanager's config may hold the SMTP password: readable by the owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    path.write_text(text)
