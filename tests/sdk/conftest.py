"""SDK test fixtures: a real ingest server on 127.0.0.1, clients that are always shut down, a
throwaway spool directory, and a check that no sender thread outlives its test."""

from __future__ import annotations

import json
import socket
import tempfile
import threading
import time
import zlib
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from watchkeeper.records import Batch, decode_batch
from watchkeeper.sdk.client import DEFAULT, Client


@dataclass
class Reply:
    """One scripted answer; ``hangup`` closes the connection without answering, ``idle_close``
    answers and then closes the kept-alive connection without saying so."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    hangup: bool = False
    idle_close: bool = False


@dataclass
class Request:
    """What one request carried."""

    at: float
    path: str
    headers: dict[str, str]
    raw: bytes
    batch: Batch | None
    peer: tuple[str, int]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 5
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        owner = self.server.owner
        reply = owner.next_reply()
        raw = zlib.decompress(body, wbits=31) if self.headers.get("Content-Encoding") else body
        request = Request(
            time.monotonic(),
            self.path,
            dict(self.headers.items()),
            raw,
            decode_batch(raw) if 200 <= reply.status < 300 and not reply.hangup else None,
            self.client_address,
        )
        with owner.lock:
            owner.requests.append(request)
        if reply.hangup:
            self.close_connection = True
            return
        payload = reply.body or json.dumps({"detail": f"status {reply.status}"}).encode()
        head = [f"HTTP/1.1 {reply.status} X", f"Content-Length: {len(payload)}"]
        head += [f"{name}: {value}" for name, value in reply.headers.items()]
        self.wfile.write("\r\n".join(head).encode() + b"\r\n\r\n" + payload)
        if reply.idle_close:
            self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = False
    block_on_close = True
    owner: IngestServer


class IngestServer:
    """A tiny ingest endpoint that answers scripted replies (then 200) and keeps what it got."""

    Reply = Reply

    def __init__(self, port: int = 0) -> None:
        self.port = port
        self.replies: deque[Reply] = deque()
        self.requests: list[Request] = []
        self.lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def next_reply(self) -> Reply:
        try:
            return self.replies.popleft()
        except IndexError:
            return Reply()

    def start(self) -> IngestServer:
        self._server = _Server(("127.0.0.1", self.port), _Handler)
        self._server.owner = self
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.01,), name="test-ingest"
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join()
            self._server = None

    @property
    def accepted(self) -> list[Request]:
        """Requests answered 2xx."""
        with self.lock:
            return [r for r in self.requests if r.batch is not None]

    def ids(self) -> list[str]:
        """Ids of every record acknowledged, in arrival order (repeats included)."""
        return [record.id for r in self.accepted for record in r.batch.records]  # type: ignore[union-attr]

    def names(self) -> list[str]:
        return [record.name for r in self.accepted for record in r.batch.records]  # type: ignore[union-attr]


def free_port() -> int:
    """A port nobody listens on (connections to it are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(condition: Any, timeout: float = 5.0) -> bool:
    """Poll ``condition()`` until true or ``timeout``; return its last value."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return bool(condition())
        time.sleep(0.01)
    return True


@pytest.fixture
def server() -> Iterator[IngestServer]:
    """A running ingest server."""
    running = IngestServer().start()
    yield running
    running.stop()


@pytest.fixture
def later_server() -> Iterator[IngestServer]:
    """An ingest server with its port chosen but not started yet (connections are refused)."""
    waiting = IngestServer(free_port())
    yield waiting
    waiting.stop()


@pytest.fixture
def refused_url() -> str:
    """An http URL on 127.0.0.1 where connections are refused."""
    return f"http://127.0.0.1:{free_port()}"


@pytest.fixture(name="wait_for")
def _wait_for() -> Any:
    """``wait_for(condition, timeout=5.0) -> bool``: poll until the condition holds."""
    return wait_for


@pytest.fixture
def spool_dir() -> Iterator[str]:
    """An empty directory, deleted after the test."""
    with tempfile.TemporaryDirectory(prefix="wk-spool-") as path:
        yield path


@pytest.fixture
def make_client() -> Iterator[Any]:
    """Build clients (fast retries by default); all are shut down after the test."""
    clients: list[Client] = []

    def make(**options: Any) -> Client:
        options.setdefault("retry_backoff", 0.01)
        options.setdefault("flush_interval", 0.05)
        client = Client(**options)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.shutdown(timeout=5)


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No test writes to the user's real spool or leaves a default client or a thread behind."""
    with tempfile.TemporaryDirectory(prefix="wk-default-spool-") as path:
        monkeypatch.setenv("WATCHKEEPER_SPOOL_DIR", path)
        for name in ("ENDPOINT", "KEY", "SERVICE", "DISABLED", "ENABLED"):
            monkeypatch.delenv(f"WATCHKEEPER_{name}", raising=False)
        yield
        if DEFAULT.client is not None:
            DEFAULT.client.shutdown(timeout=5)
            DEFAULT.client = None
    assert wait_for(
        lambda: not [t for t in threading.enumerate() if t.name == "watchkeeper-batcher"], 5
    ), "a watchkeeper-batcher thread outlived its test"
