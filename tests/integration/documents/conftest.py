from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest


class PdfHost:
    """A local stand-in for publishers' PDF hosts: routes answer with scripted responses, hits are counted."""

    def __init__(self) -> None:
        self.routes: dict[str, Callable[[BaseHTTPRequestHandler, int], None]] = {}
        self.hits: Counter = Counter()
        host = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                host.hits[self.path] += 1
                route = host.routes.get(self.path)
                if route is None:
                    self.send_error(404)
                    return
                route(self, host.hits[self.path])

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def serve(
        self,
        path: str,
        body: bytes,
        content_type: str = "application/pdf",
        *,
        length: int | None = None,
        status: int = 200,
        headers: dict[str, str] | None = None,
    ) -> None:
        def route(handler: BaseHTTPRequestHandler, _hit: int) -> None:
            handler.send_response(status)
            handler.send_header("Content-Type", content_type)
            handler.send_header("Content-Length", str(len(body) if length is None else length))
            for name, value in (headers or {}).items():
                handler.send_header(name, value)
            handler.end_headers()
            handler.wfile.write(body)
            handler.wfile.flush()
            if length is not None and length != len(body):
                handler.close_connection = True

        self.routes[path] = route

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def pdf_host() -> Iterator[PdfHost]:
    host = PdfHost()
    yield host
    host.close()


PG_BIN = Path("/usr/lib/postgresql/15/bin")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def postgres_ledger_url() -> Iterator[str]:
    """A private PostgreSQL cluster (Debian's binaries) with an empty ``ledger`` database."""
    if not (PG_BIN / "initdb").exists():
        pytest.skip("PostgreSQL server binaries are missing: run `make system-deps`")
    root = Path(tempfile.mkdtemp(prefix="pipeline-factory-ledger-pg-"))
    os.chmod(root, 0o755)
    pgdata = root / "pgdata"
    pgdata.mkdir()
    as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    if as_postgres:
        shutil.chown(root, "postgres")
        shutil.chown(pgdata, "postgres")
    port = _free_port()
    init = subprocess.run(
        [*as_postgres, str(PG_BIN / "initdb"), "-D", str(pgdata), "-A", "trust", "-U", "postgres"],
        capture_output=True,
        text=True,
    )
    assert init.returncode == 0, init.stdout + init.stderr
    subprocess.run(
        [
            *as_postgres,
            str(PG_BIN / "pg_ctl"),
            "-D",
            str(pgdata),
            "-l",
            str(root / "postgres.log"),
            "-w",
            "start",
            "-o",
            f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off",
        ],
        check=True,
        capture_output=True,
    )
    try:
        subprocess.run(
            [*as_postgres, "createdb", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "ledger"],
            check=True,
            capture_output=True,
        )
        yield f"postgresql+psycopg2://postgres@127.0.0.1:{port}/ledger"
    finally:
        subprocess.run(
            [*as_postgres, str(PG_BIN / "pg_ctl"), "-D", str(pgdata), "-m", "immediate", "stop"], capture_output=True
        )
        shutil.rmtree(root, ignore_errors=True)
