from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest


@pytest.fixture
def make_pdf():
    """``make_pdf(title, [(heading, text), ...]) -> bytes``: a real PDF, one section a page (fpdf2)."""

    def make(title: str, sections: list[tuple[str, str]]) -> bytes:
        from fpdf import FPDF

        pdf = FPDF()
        pdf.set_title(title)
        for number, (heading, text) in enumerate(sections):
            pdf.add_page()
            if number == 0:
                pdf.set_font("Helvetica", "B", 16)
                pdf.multi_cell(0, 10, title, new_x="LMARGIN", new_y="NEXT")
            pdf.set_font("Helvetica", "B", 13)
            pdf.multi_cell(0, 9, heading, new_x="LMARGIN", new_y="NEXT")
            pdf.set_font("Helvetica", size=11)
            pdf.multi_cell(0, 6, text, new_x="LMARGIN", new_y="NEXT")
        return bytes(pdf.output())

    return make


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
