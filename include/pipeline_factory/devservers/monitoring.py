"""Pushgateway, Prometheus and Alertmanager from Debian's packages, configured for this project.

``make run`` starts them beside Airflow (``MONITORING=off`` leaves them off) and
the integration tests start their own on free ports::

    python -m pipeline_factory.devservers.monitoring start [--dir .data/monitoring]
    python -m pipeline_factory.devservers.monitoring stop  [--dir .data/monitoring]

``start`` renders the specs' alert rules and the Alertmanager routes
(:mod:`pipeline_factory.observability.alerts`) into the folder, writes a
Prometheus config that scrapes the Pushgateway (``honor_labels``: the pushed
``pipeline`` and ``stage`` labels stay) and sends alerts to the Alertmanager,
then starts the three servers on 127.0.0.1 and waits until each answers.
Their pids are kept in the folder; ``stop`` ends exactly those processes.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

#: Debian's binaries (packages prometheus, prometheus-alertmanager, prometheus-pushgateway).
BINARIES = {"pushgateway": "prometheus-pushgateway", "prometheus": "prometheus",
            "alertmanager": "prometheus-alertmanager"}
DEFAULT_PORTS = {"pushgateway": 9091, "prometheus": 9090, "alertmanager": 9093}
READY_PATHS = {"pushgateway": "/-/ready", "prometheus": "/-/ready", "alertmanager": "/-/ready"}


@dataclass
class MonitoringStack:
    folder: Path
    ports: dict[str, int]
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"


def missing_binaries() -> list[str]:
    return [binary for binary in BINARIES.values() if shutil.which(binary) is None]


def prometheus_config(ports: dict[str, int], *, scrape_interval: str = "15s",
                      evaluation_interval: str = "15s") -> dict[str, Any]:
    return {
        "global": {"scrape_interval": scrape_interval, "evaluation_interval": evaluation_interval},
        "rule_files": ["rules.yml"],
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{ports['alertmanager']}"]}]}]},
        "scrape_configs": [
            {"job_name": "pushgateway", "honor_labels": True,
             "static_configs": [{"targets": [f"127.0.0.1:{ports['pushgateway']}"]}]},
            {"job_name": "prometheus", "static_configs": [{"targets": [f"127.0.0.1:{ports['prometheus']}"]}]},
        ],
    }


def write_configs(folder: Path, ports: dict[str, int], *, rules: dict[str, Any], alertmanager: dict[str, Any],
                  scrape_interval: str = "15s", evaluation_interval: str = "15s") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "rules.yml").write_text(yaml.safe_dump(rules, sort_keys=False, width=1000))
    config = folder / "alertmanager.yml"
    config.write_text(yaml.safe_dump(alertmanager, sort_keys=False))
    config.chmod(0o600)  # may hold an SMTP password
    (folder / "prometheus.yml").write_text(yaml.safe_dump(
        prometheus_config(ports, scrape_interval=scrape_interval, evaluation_interval=evaluation_interval),
        sort_keys=False))


def commands(folder: Path, ports: dict[str, int]) -> dict[str, list[str]]:
    return {
        # Debian's build persists to /var/lib/prometheus by default, shared by every instance: keep ours here.
        "pushgateway": [BINARIES["pushgateway"], f"--web.listen-address=127.0.0.1:{ports['pushgateway']}",
                        f"--persistence.file={folder / 'pushgateway.data'}"],
        "alertmanager": [
            BINARIES["alertmanager"], f"--config.file={folder / 'alertmanager.yml'}",
            f"--storage.path={folder / 'alertmanager-data'}",
            f"--web.listen-address=127.0.0.1:{ports['alertmanager']}",
            "--cluster.listen-address=",  # one instance: no gossip port
        ],
        "prometheus": [
            BINARIES["prometheus"], f"--config.file={folder / 'prometheus.yml'}",
            f"--storage.tsdb.path={folder / 'prometheus-data'}",
            f"--web.listen-address=127.0.0.1:{ports['prometheus']}",
            "--web.enable-lifecycle",  # POST /-/reload after the specs change
        ],
    }


def _wait_ready(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float = 60.0) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url} exited with {process.returncode}: {log.read_text()[-2000:]}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not become ready within {timeout:.0f}s")


def start(folder: Path, ports: dict[str, int] | None = None, *, rules: dict[str, Any],
          alertmanager: dict[str, Any], scrape_interval: str = "15s",
          evaluation_interval: str = "15s") -> MonitoringStack:
    """Write the configs and start the three servers; raises naming a missing Debian package."""
    missing = missing_binaries()
    if missing:
        raise RuntimeError(f"not installed: {', '.join(missing)} (make monitoring-deps)")
    ports = dict(ports or DEFAULT_PORTS)
    write_configs(folder, ports, rules=rules, alertmanager=alertmanager, scrape_interval=scrape_interval,
                  evaluation_interval=evaluation_interval)
    stack = MonitoringStack(folder, ports)
    try:
        for name, command in commands(folder, ports).items():
            log = folder / f"{name}.log"
            with log.open("wb") as out:
                process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
            stack.processes[name] = process
            (folder / f"{name}.pid").write_text(str(process.pid))
            _wait_ready(stack.url(name) + READY_PATHS[name], process, log)
    except Exception:
        stop(stack)
        raise
    return stack


def stop(stack: MonitoringStack | None = None, folder: Path | None = None) -> None:
    """End the servers this module started (by their pid files when ``stack`` is None)."""
    folder = stack.folder if stack else folder
    assert folder is not None
    for name in BINARIES:
        pid_path = folder / f"{name}.pid"
        process = stack.processes.get(name) if stack else None
        if process is not None:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
        elif pid_path.exists():
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(pid_path.read_text()), signal.SIGTERM)
        pid_path.unlink(missing_ok=True)


def _alive(pid_file: Path) -> bool:
    try:
        os.kill(int(pid_file.read_text()), 0)
    except (OSError, ValueError):
        return False
    return True


def _render(args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, Any]]:
    from pipeline_factory.observability.alerts import alertmanager_config, rules_file
    from pipeline_factory.spec.loader import load_specs

    specs = {name: loaded.spec for name, loaded in load_specs().specs.items()}  # broken specs: the DAG errors say
    return rules_file(specs), alertmanager_config(specs)


def main(argv: list[str] | None = None) -> int:
    from pipeline_factory import settings

    parser = argparse.ArgumentParser(prog="python -m pipeline_factory.devservers.monitoring")
    parser.add_argument("action", choices=("start", "stop"))
    parser.add_argument("--dir", type=Path, default=settings.data_dir() / "monitoring")
    for name, port in DEFAULT_PORTS.items():
        parser.add_argument(f"--{name}-port", type=int, default=port)
    args = parser.parse_args(argv)
    if args.action == "stop":
        stop(folder=args.dir)
        return 0
    if all(_alive(args.dir / f"{name}.pid") for name in BINARIES):
        print(f"monitoring already running (pids in {args.dir})")
        return 0
    stop(folder=args.dir)  # whatever is left of an earlier start (a crash, a killed make run)
    rules, alertmanager = _render(args)
    ports = {name: getattr(args, f"{name}_port") for name in DEFAULT_PORTS}
    try:
        stack = start(args.dir, ports, rules=rules, alertmanager=alertmanager)
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for name in DEFAULT_PORTS:
        print(f"{name}: {stack.url(name)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
