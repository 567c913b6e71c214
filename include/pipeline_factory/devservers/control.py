"""Start, stop and ask after every local stand-in one way.

``python -m pipeline_factory.devservers start|stop|status NAME [--port N] [--home DIR]``
serves the Makefile (``make services``), and :func:`start` / :func:`stop`
serve the test fixtures and benchmarks, for every stand-in:

- ``eutils``: the NCBI E-utilities stand-in (:mod:`.eutils`), HTTP;
- ``mail``: the SMTP sink that keeps each mail as an ``.eml`` file (:mod:`.mail`);
- ``mlflow``: ``mlflow server`` on the embedded store (:mod:`.mlflow`);
- ``neo4j``: a real Neo4j Community server built from Maven Central (:mod:`.neo4j`).

A stand-in runs in its own session with its pid in ``<home>/<name>.pid`` and
its log in ``<home>/<name>.log`` (``home``: ``<data dir>/<name>`` unless
given); :func:`start` returns once its port answers.  Neo4j and MLflow keep
their own launchers (a build step, a health check) behind the same calls.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from pipeline_factory import settings

log = logging.getLogger(__name__)

DEFAULT_PORTS = {"eutils": 8765, "mail": 2525, "mlflow": 5000, "neo4j": 7687}
NAMES = tuple(DEFAULT_PORTS)


@dataclass(frozen=True)
class Running:
    """A started stand-in: where it listens and which process it is."""

    name: str
    port: int
    pid: int
    home: Path

    @property
    def url(self) -> str:
        if self.name == "eutils":
            return f"http://127.0.0.1:{self.port}/entrez/eutils"
        if self.name == "neo4j":
            return f"bolt://127.0.0.1:{self.port}"
        if self.name == "mail":
            return f"smtp://127.0.0.1:{self.port}"
        return f"http://127.0.0.1:{self.port}"


def default_home(name: str) -> Path:
    return settings.data_dir() / name


def _pid_file(name: str, home: Path) -> Path:
    return home / f"{name}.pid"


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists (one of another user's counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _answers(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


def _argv(name: str, port: int, home: Path, extra: list[str]) -> list[str]:
    module = f"pipeline_factory.devservers.{name}"
    if name == "mail":
        return [sys.executable, "-m", module, "--port", str(port), "--out", str(home), *extra]
    return [sys.executable, "-m", module, "--port", str(port), *extra]


def start(
    name: str, port: int | None = None, *, home: Path | None = None, extra: list[str] | None = None,
    timeout: float = 60.0,
) -> Running:
    """Start ``name`` (unless it already runs from ``home``) and wait until its port answers."""
    if name not in DEFAULT_PORTS:
        raise ValueError(f"unknown stand-in {name!r}; expected one of {', '.join(NAMES)}")
    port = port or DEFAULT_PORTS[name]
    if name == "neo4j":
        from pipeline_factory.devservers import neo4j

        info = neo4j.start(home, port)
        return Running(name, info.port, info.pid, home or neo4j.default_home())
    if name == "mlflow":
        from pipeline_factory.devservers import mlflow

        host = os.environ.get("MLFLOW_HOST", "127.0.0.1")  # 0.0.0.0 to open the UI to the network
        return Running(name, port, mlflow.start(port, host), home or default_home(name))
    home = home or default_home(name)
    home.mkdir(parents=True, exist_ok=True)
    existing = status(name, home=home)
    if existing is not None:
        log.info("%s stand-in already running (pid %s)", name, existing.pid)
        return existing
    with (home / f"{name}.log").open("ab") as log_file:
        process = subprocess.Popen(
            _argv(name, port, home, extra or []), stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True
        )
    _pid_file(name, home).write_text(f"{process.pid} {port}\n")
    deadline = time.monotonic() + timeout
    while not _answers(port):
        if process.poll() is not None or time.monotonic() > deadline:
            stop(name, home=home)
            tail = (home / f"{name}.log").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"the {name} stand-in did not start on port {port}:\n{tail}")
        time.sleep(0.2)
    running = Running(name, port, process.pid, home)
    log.info("%s stand-in at %s (pid %s, log %s)", name, running.url, process.pid, home / f"{name}.log")
    return running


def status(name: str, *, home: Path | None = None) -> Running | None:
    """The running stand-in started from ``home``, or None."""
    if name == "neo4j":
        from pipeline_factory.devservers import neo4j

        info = neo4j.status(home)
        return Running(name, info.port, info.pid, home or neo4j.default_home()) if info else None
    if name == "mlflow":
        from pipeline_factory.devservers import mlflow

        pid = mlflow.running_pid()
        return Running(name, DEFAULT_PORTS[name], pid, home or default_home(name)) if pid else None
    home = home or default_home(name)
    path = _pid_file(name, home)
    if not path.exists():
        return None
    pid_text, _, port_text = path.read_text().strip().partition(" ")
    pid = int(pid_text or 0)
    if not pid or not pid_alive(pid):
        return None
    return Running(name, int(port_text or DEFAULT_PORTS[name]), pid, home)


def stop(name: str, *, home: Path | None = None, timeout: float = 20.0) -> bool:
    """Stop the stand-in started from ``home`` (its whole session); False if none ran."""
    if name == "neo4j":
        from pipeline_factory.devservers import neo4j

        return neo4j.stop(home)
    if name == "mlflow":
        from pipeline_factory.devservers import mlflow

        return mlflow.stop()
    home = home or default_home(name)
    path = _pid_file(name, home)
    running = status(name, home=home)
    path.unlink(missing_ok=True)
    if running is None:
        return False
    try:
        os.killpg(running.pid, signal.SIGTERM)
    except ProcessLookupError:
        return True
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            reaped, _ = os.waitpid(running.pid, os.WNOHANG)
        except ChildProcessError:  # not our child: poll for it
            reaped = 0 if pid_alive(running.pid) else running.pid
        if reaped:
            return True
        time.sleep(0.1)
    os.killpg(running.pid, signal.SIGKILL)
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline_factory.devservers", description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["start", "stop", "status"])
    parser.add_argument("name", choices=NAMES)
    parser.add_argument("--port", type=int, default=None)
    parser.add_argument("--home", type=Path, default=None, help="the stand-in's folder (default <data dir>/NAME)")
    args, extra = parser.parse_known_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.action == "start":
        running = start(args.name, args.port, home=args.home, extra=extra)
        print(f"{args.name} stand-in at {running.url} (pid {running.pid})")
        return 0
    if args.action == "stop":
        print("stopped" if stop(args.name, home=args.home) else "not running")
        return 0
    found = status(args.name, home=args.home)
    print(f"running at {found.url} (pid {found.pid})" if found else "not running")
    return 0 if found else 3
