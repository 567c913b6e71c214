"""Every stand-in starts, answers, reports and stops one way (the Makefile's CLI and the fixtures' calls)."""

from __future__ import annotations

import smtplib
import socket
import subprocess
import sys

import httpx
import pytest

from pipeline_factory.devservers import control


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_the_eutils_stand_in_starts_once_answers_and_stops(tmp_path):
    home = tmp_path / "eutils"
    running = control.start("eutils", _free_port(), home=home)
    try:
        assert httpx.get(f"{running.url}/esearch.fcgi", params={"db": "pubmed", "term": "TP53"}).status_code == 200
        assert control.start("eutils", running.port, home=home).pid == running.pid, "already running: reused"
        assert control.status("eutils", home=home) == running
    finally:
        assert control.stop("eutils", home=home)
    assert control.status("eutils", home=home) is None
    assert not control.stop("eutils", home=home)
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{running.url}/esearch.fcgi")


def test_the_mail_sink_is_driven_by_the_cli_the_makefile_uses(tmp_path):
    port = _free_port()
    home = tmp_path / "mail"
    cli = [sys.executable, "-m", "pipeline_factory.devservers"]
    started = subprocess.run([*cli, "start", "mail", "--port", str(port), "--home", str(home)],
                             capture_output=True, text=True, timeout=60)
    try:
        assert started.returncode == 0, started.stderr
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
            smtp.sendmail("a@localhost", ["b@localhost"], "Subject: hi\r\n\r\nbody")
        assert [p.suffix for p in home.glob("*.eml")] == [".eml"]
        assert subprocess.run([*cli, "status", "mail", "--home", str(home)], timeout=30).returncode == 0
    finally:
        subprocess.run([*cli, "stop", "mail", "--home", str(home)], timeout=60)
    assert subprocess.run([*cli, "status", "mail", "--home", str(home)], timeout=30).returncode == 3


def test_an_unknown_stand_in_is_named():
    with pytest.raises(ValueError, match="eutils, mail, mlflow, neo4j"):
        control.start("smtp")
