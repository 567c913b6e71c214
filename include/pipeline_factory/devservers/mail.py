"""A local SMTP server that keeps every mail as a file: ``smtp_default`` for ``make run``.

On a laptop there is no mail relay, yet pipelines send summaries and failure
notices through the smtp provider.  This sink (aiosmtpd) accepts everything
and writes each message to ``<out>/<timestamp>-<n>.eml``, so a person can read
what would have been sent::

    python -m pipeline_factory.devservers.mail --port 2525 --out .data/mail
    export AIRFLOW_CONN_SMTP_DEFAULT='{"conn_type": "smtp", "host": "127.0.0.1", "port": 2525,
        "extra": {"disable_tls": true, "disable_ssl": true, "from_email": "pipelines@localhost"}}'
"""

from __future__ import annotations

import argparse
import itertools
import logging
import signal
import threading
import time
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


class FileSink:
    """aiosmtpd handler: one ``.eml`` file per message."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self._counter = itertools.count(1)
        out.mkdir(parents=True, exist_ok=True)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        name = f"{time.strftime('%Y%m%dT%H%M%S')}-{next(self._counter):04d}.eml"
        (self.out / name).write_bytes(envelope.content)
        log.info("mail from %s to %s -> %s", envelope.mail_from, ", ".join(envelope.rcpt_tos), name)
        return "250 Message accepted for delivery"


def serve(port: int, out: Path, host: str = "127.0.0.1") -> None:
    from aiosmtpd.controller import Controller

    controller = Controller(FileSink(out), hostname=host, port=port)
    controller.start()
    log.info("SMTP sink on %s:%s, mails in %s", host, port, out)
    stopped = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopped.set())
    try:
        stopped.wait()
    finally:
        controller.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=2525)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--out", type=Path, required=True, help="Folder for the received mails.")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    serve(args.port, args.out, args.host)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
