"""Serve the embedded MLflow store (SQLite + artifact folder in the data dir) over HTTP.

``make mlflow-start`` / ``make mlflow-stop`` call this, and so do the tests
that talk to a real ``mlflow server`` process.  The server reads the same
SQLite file the stages write when no tracking URI is configured, so the UI
shows the runs, the registry and the ``champion`` alias of ``make run``::

    python -m pipeline_factory.devservers.mlflow start [--port 5000]
    python -m pipeline_factory.devservers.mlflow stop
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from pipeline_factory.tracking import mlflow_config

log = logging.getLogger(__name__)

DEFAULT_PORT = 5000


def pid_file() -> Path:
    return mlflow_config.mlflow_home() / "server.pid"


def server_command(port: int, host: str = "127.0.0.1", backend_uri: str | None = None,
                   artifacts: Path | None = None) -> list[str]:
    """``mlflow server`` on the embedded store; artifacts proxied by the server (``mlflow-artifacts:``)."""
    mlflow_bin = Path(sys.executable).with_name("mlflow")
    return [
        str(mlflow_bin) if mlflow_bin.exists() else "mlflow",
        "server",
        "--host", host,
        "--port", str(port),
        "--workers", "1",
        "--backend-store-uri", backend_uri or mlflow_config.embedded_tracking_uri(),
        "--artifacts-destination", str(artifacts or mlflow_config.embedded_artifact_root()),
    ]


def wait_until_healthy(url: str, timeout: float = 90.0, process: subprocess.Popen | None = None) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"mlflow server exited with {process.returncode} before it was healthy")
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"mlflow server at {url} not healthy after {timeout:.0f}s")


def start(port: int = DEFAULT_PORT, host: str = "127.0.0.1") -> int:
    """Start the server in the background (its own session), record its pid; returns the pid."""
    home = mlflow_config.mlflow_home()
    home.mkdir(parents=True, exist_ok=True)
    mlflow_config.embedded_artifact_root().mkdir(parents=True, exist_ok=True)
    existing = running_pid()
    if existing:
        log.info("mlflow server already running (pid %s)", existing)
        return existing
    log_file = open(home / "server.log", "ab")  # noqa: SIM115 - handed to the child
    process = subprocess.Popen(server_command(port, host), stdout=log_file, stderr=subprocess.STDOUT,
                               start_new_session=True)
    pid_file().write_text(str(process.pid))
    wait_until_healthy(f"http://{host}:{port}", process=process)
    log.info("mlflow server on http://%s:%s (pid %s, log %s)", host, port, process.pid, home / "server.log")
    return process.pid


def running_pid() -> int | None:
    path = pid_file()
    if not path.exists():
        return None
    pid = int(path.read_text().strip() or 0)
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):
        path.unlink(missing_ok=True)
        return None
    return pid


def stop(timeout: float = 20.0) -> bool:
    """Stop the server started by :func:`start` (its whole process group)."""
    pid = running_pid()
    if pid is None:
        return False
    os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.2)
    else:
        os.killpg(pid, signal.SIGKILL)
    pid_file().unlink(missing_ok=True)
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["start", "stop", "status"])
    parser.add_argument("--port", type=int, default=int(os.environ.get("MLFLOW_PORT", DEFAULT_PORT)))
    parser.add_argument("--host", default=os.environ.get("MLFLOW_HOST", "127.0.0.1"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.action == "start":
        start(args.port, args.host)
    elif args.action == "stop":
        print("stopped" if stop() else "not running")
    else:
        pid = running_pid()
        print(f"running (pid {pid})" if pid else "not running")
        return 0 if pid else 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
