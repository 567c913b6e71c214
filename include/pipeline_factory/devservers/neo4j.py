"""Start, stop and query a real Neo4j Community server for local runs and tests.

The server is Neo4j 5.26 LTS (runs on Java 17) embedded in a tiny Java main
(``tools/neo4j``) and built with Maven from Maven Central into ``.cache/`` in
the checkout on first use (about a minute with an empty Maven cache, with a
progress line every few seconds; the jars are then reused).  Bolt listens on 127.0.0.1 only and **authentication
is disabled**: connect with no credentials (``NEO4J_USER``/``NEO4J_PASSWORD``
are ignored by this server).  Data, log and pid file live in
``<data_dir>/neo4j``.

::

    python -m pipeline_factory.devservers.neo4j start [--port 7687] [--home DIR]
    python -m pipeline_factory.devservers.neo4j status|stop [--home DIR]

``start`` is idempotent: with a live server in the same home it prints the
running server's URI.  Environment: ``NEO4J_LAUNCHER_PORT`` (default 7687),
``NEO4J_HEAP`` (default 512m), ``NEO4J_PAGECACHE`` (default 256m),
``MAVEN`` (default ``mvn``).
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from pipeline_factory import settings
from pipeline_factory.devservers.control import pid_alive
from pipeline_factory.exceptions import ConfigError
from pipeline_factory.stores.maven_progress import run_with_progress

log = logging.getLogger(__name__)

TOOL_DIR = settings.PROJECT_ROOT / "tools" / "neo4j"
CACHE_DIR = settings.PROJECT_ROOT / ".cache"
BUILD_DIR = CACHE_DIR / "neo4j" / "target"
MAIN_CLASS = "org.pipelinefactory.neo4j.Launcher"
DEFAULT_PORT = 7687
#: Parallel artifact downloads (Maven's default is 5).
MAVEN_THREADS = 8


@dataclass(frozen=True)
class ServerInfo:
    pid: int
    port: int
    home: str

    @property
    def uri(self) -> str:
        return f"bolt://127.0.0.1:{self.port}"


def default_home() -> Path:
    return settings.data_dir() / "neo4j"


def _built() -> bool:
    launcher = BUILD_DIR / "classes" / "org" / "pipelinefactory" / "neo4j" / "Launcher.class"
    lib = BUILD_DIR / "lib"
    if not (launcher.exists() and lib.is_dir() and any(lib.glob("neo4j-kernel-*.jar"))):
        return False
    sources = [TOOL_DIR / "pom.xml", *TOOL_DIR.rglob("*.java")]
    return launcher.stat().st_mtime >= max(p.stat().st_mtime for p in sources)


def build(force: bool = False) -> Path:
    """Compile the launcher and collect its classpath (once; concurrent callers wait on a lock)."""
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    with open(CACHE_DIR / "neo4j-build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not force and _built():
            return BUILD_DIR
        maven = os.environ.get("MAVEN", "mvn")
        if shutil.which(maven) is None:
            raise ConfigError(f"Maven ({maven}) is needed to build the Neo4j launcher; install it or set MAVEN")
        cmd = [
            maven,
            "-B",
            "-f",
            str(TOOL_DIR / "pom.xml"),
            f"-Dmaven.repo.local={CACHE_DIR / 'm2'}",
            f"-Dlauncher.build.dir={BUILD_DIR}",
            f"-Dmaven.artifact.threads={MAVEN_THREADS}",
            "package",
        ]
        log.info("building the Neo4j launcher (jars from Maven Central, cached in %s): %s", CACHE_DIR / "m2",
                 " ".join(cmd))
        started = time.monotonic()
        returncode, output = run_with_progress(cmd)
        if returncode != 0:
            raise ConfigError(f"building the Neo4j launcher failed:\n{output[-6000:]}")
        log.info("Neo4j launcher built in %.1fs", time.monotonic() - started)
    return BUILD_DIR


def _port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _state_file(home: Path) -> Path:
    return home / "launcher.json"


def status(home: Path | None = None) -> ServerInfo | None:
    """The running server for ``home``, or None."""
    home = Path(home or default_home())
    path = _state_file(home)
    if not path.exists():
        return None
    try:
        info = ServerInfo(**json.loads(path.read_text()))
    except (ValueError, TypeError):
        return None
    if pid_alive(info.pid) and _port_open(info.port):
        return info
    return None


def start(home: Path | None = None, port: int | None = None, timeout: float = 180.0) -> ServerInfo:
    """Start the server (building it first if needed) and wait until Bolt answers."""
    home = Path(home or default_home()).resolve()
    port = int(port or os.environ.get("NEO4J_LAUNCHER_PORT") or DEFAULT_PORT)
    home.mkdir(parents=True, exist_ok=True)
    with open(home / "launcher.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        running = status(home)
        if running is not None:
            return running
        if _port_open(port):
            raise ConfigError(f"port {port} is taken by another process; choose one with --port")
        build()
        java = shutil.which("java")
        if java is None:
            raise ConfigError("java (17+) is needed to run Neo4j")
        classpath = f"{BUILD_DIR / 'classes'}{os.pathsep}{BUILD_DIR / 'lib'}/*"
        cmd = [
            java,
            f"-Xmx{os.environ.get('NEO4J_HEAP', '512m')}",
            "-XX:+UseSerialGC",
            "-cp",
            classpath,
            MAIN_CLASS,
            str(home / "dbms"),
            str(port),
            os.environ.get("NEO4J_PAGECACHE", "256m"),
        ]
        log_path = home / "neo4j.log"
        with open(log_path, "ab") as out:
            proc = subprocess.Popen(
                cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
            )
        info = ServerInfo(pid=proc.pid, port=port, home=str(home))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                tail = log_path.read_text(errors="replace")[-3000:]
                raise ConfigError(f"Neo4j exited with {proc.returncode} while starting:\n{tail}")
            if _port_open(port):
                _state_file(home).write_text(json.dumps(info.__dict__))
                (home / "neo4j.pid").write_text(str(proc.pid))
                log.info("Neo4j is up at %s (pid %d, home %s)", info.uri, proc.pid, home)
                return info
            time.sleep(0.25)
        proc.kill()
        raise ConfigError(f"Neo4j did not open Bolt on port {port} within {timeout:.0f}s; see {log_path}")


def stop(home: Path | None = None, timeout: float = 60.0) -> bool:
    """Stop the server of ``home`` (SIGTERM, then SIGKILL after ``timeout``); False if none ran."""
    home = Path(home or default_home()).resolve()
    path = _state_file(home)
    if not path.exists():
        return False
    info = ServerInfo(**json.loads(path.read_text()))
    stopped = False
    if pid_alive(info.pid):
        os.kill(info.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and pid_alive(info.pid):
            _reap(info.pid)
            time.sleep(0.2)
        if pid_alive(info.pid):
            os.kill(info.pid, signal.SIGKILL)
        stopped = True
    path.unlink(missing_ok=True)
    (home / "neo4j.pid").unlink(missing_ok=True)
    return stopped


def _reap(pid: int) -> None:
    """Collect the exit status when the server is our own child (tests), so it does not linger as a zombie."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline_factory.devservers.neo4j")
    parser.add_argument("command", choices=["start", "stop", "status", "build"])
    parser.add_argument("--home", type=Path, default=None, help="server folder (default <data_dir>/neo4j)")
    parser.add_argument("--port", type=int, default=None, help=f"Bolt port (default {DEFAULT_PORT})")
    parser.add_argument("--force", action="store_true", help="build: rebuild even when the build is current")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s", stream=sys.stderr)
    if args.command == "build":
        build(force=args.force)
        return 0
    if args.command == "start":
        print(start(args.home, args.port).uri)
        return 0
    if args.command == "stop":
        print("stopped" if stop(args.home) else "not running")
        return 0
    info = status(args.home)
    print(info.uri if info else "not running")
    return 0 if info else 3


if __name__ == "__main__":
    sys.exit(main())
