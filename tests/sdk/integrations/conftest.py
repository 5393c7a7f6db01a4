"""Fixtures for the integration tests: a real HTTP server on 127.0.0.1, and the process's
Prometheus metrics."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from prometheus_client import REGISTRY


class Samples:
    """Reads a sample of the default registry; tests compare before and after."""

    def __call__(self, name: str, **labels: str) -> float:
        return REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.fixture
def sample() -> Any:
    """``sample(name, **labels) -> float``: a metric's current value (0 when absent)."""
    return Samples()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Upstream

    def do_GET(self) -> None:
        self.server.headers.append(dict(self.headers.items()))
        status = 404 if self.path.startswith("/missing") else 200
        body = b"ok" if status == 200 else b"no"
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


class Upstream(ThreadingHTTPServer):
    """Answers GET with 200 "ok" (404 under /missing) and keeps each request's headers."""

    daemon_threads = True
    headers: list[dict[str, str]]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    """A running :class:`Upstream` on 127.0.0.1."""
    server = Upstream(("127.0.0.1", 0), _Handler)
    server.headers = []
    thread = threading.Thread(target=server.serve_forever, args=(0.01,))
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join()
