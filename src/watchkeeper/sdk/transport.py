"""How encoded batches leave the process: the :class:`Transport` protocol and its two built-ins.

A transport makes one attempt and says how it went (:class:`SendResult`); the retry policy
(:func:`send_with_retries`: exponential backoff with full jitter, honouring ``Retry-After``) is
shared by every transport and run by the delivery (sdk/delivery.py) on the batcher's thread, so
shutdown can cut a backoff short.
"""

from __future__ import annotations

import email.utils
import http.client
import json
import os
import random
import socket
import threading
import time
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final, Literal, Protocol
from urllib.parse import urlsplit

from watchkeeper.records import Batch, Record, RecordError, decode_batch

INGEST_PATH: Final = "/api/v1/ingest"


@dataclass(frozen=True, slots=True)
class SendResult:
    """How one attempt went: ``ok`` (acknowledged), ``rejected`` (a 4xx: retrying cannot help)
    or ``retry`` (a 429, a 5xx or no answer at all)."""

    outcome: Literal["ok", "rejected", "retry"]
    status: int = 0
    """The HTTP status; 0 when there was no answer."""
    message: str = ""
    retry_after: float | None = None
    """Seconds the server asked us to wait (``Retry-After``)."""

    @property
    def ok(self) -> bool:
        """True when the batch was acknowledged."""
        return self.outcome == "ok"


ACKNOWLEDGED: Final = SendResult("ok", 200)


class Transport(Protocol):
    """Sends one encoded batch. ``headers`` carries ``Content-Encoding`` when the body is gzip.

    Called from the batcher's thread only, one batch at a time.
    """

    def send(self, body: bytes, headers: Mapping[str, str]) -> SendResult: ...


def backoff_delay(retry: int, base: float, cap: float = 30.0) -> float:
    """Full jitter (AWS architecture blog, "Exponential Backoff and Jitter"): a uniform draw
    below ``base * 2**retry``, so clients that failed together do not retry together.

    >>> 0 <= backoff_delay(3, 0.5) <= 4.0
    True
    """
    return random.uniform(0, min(cap, base * 2**retry))  # noqa: S311 - jitter, not a secret


def send_with_retries(
    transport: Transport,
    body: bytes,
    headers: Mapping[str, str],
    *,
    max_retries: int,
    backoff: float,
    wait: Callable[[float], bool],
    max_delay: float = 30.0,
) -> tuple[SendResult, int]:
    """Send, retrying a ``retry`` outcome up to ``max_retries`` times; return the last result
    and the number of retries made.

    ``wait(seconds)`` sleeps and returns True when the caller wants to stop (shutdown). A
    ``Retry-After`` longer than ``max_delay`` ends the retries early: holding the batch that
    long would stall the queue behind it, so the caller spools it instead.
    """
    retries = 0
    while True:
        try:
            result = transport.send(body, headers)
        except Exception as exc:  # a custom transport's bug must not kill the sender thread
            result = SendResult("retry", 0, f"{type(exc).__name__}: {exc}")
        if result.outcome != "retry" or retries >= max_retries:
            return result, retries
        delay = result.retry_after
        if delay is None:
            delay = backoff_delay(retries, backoff, max_delay)
        if delay > max_delay or wait(delay):
            return result, retries
        retries += 1


def parse_retry_after(value: str | None) -> float | None:
    """``Retry-After`` as seconds from now: delta-seconds or an HTTP date (RFC 9110 §10.2.3).

    >>> parse_retry_after("2"), parse_retry_after("soon")
    (2.0, None)
    """
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _server_message(data: bytes) -> str:
    text = data[:2000].decode("utf-8", "replace").strip()
    try:
        detail = json.loads(data).get("detail")
    except (ValueError, AttributeError):
        return text[:500]
    if detail is None:
        return text[:500]
    return (detail if isinstance(detail, str) else json.dumps(detail))[:500]


class HTTPTransport:
    """POSTs batches to ``{endpoint}/api/v1/ingest`` over one kept-alive connection (stdlib
    :mod:`http.client`, so the SDK pulls in no HTTP library).

    >>> HTTPTransport("http://127.0.0.1:7321", key="wk_live_x").url
    'http://127.0.0.1:7321/api/v1/ingest'
    """

    def __init__(self, endpoint: str, key: str = "", *, timeout: float = 10.0) -> None:
        parts = urlsplit(endpoint)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"endpoint must be an http(s) URL, not {endpoint!r}")
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port
        self._path = parts.path.rstrip("/") + INGEST_PATH
        self.url = f"{parts.scheme}://{parts.netloc}{self._path}"
        self._timeout = timeout
        from watchkeeper import __version__  # noqa: PLC0415 - watchkeeper imports this module

        self._headers = {
            "Content-Type": "application/json",
            "User-Agent": f"watchkeeper-python/{__version__}",
        }
        if key:
            self._headers["Authorization"] = f"Bearer {key}"
        self._conn: http.client.HTTPConnection | None = None
        self._pid = os.getpid()
        self._lock = threading.Lock()

    def _connect(self) -> http.client.HTTPConnection:
        conn: http.client.HTTPConnection
        if self._https:
            conn = http.client.HTTPSConnection(self._host, self._port, timeout=self._timeout)
        else:
            conn = http.client.HTTPConnection(self._host, self._port, timeout=self._timeout)
        try:
            conn.connect()
            # Nagle could hold a request's last partial segment until the server's delayed
            # ACK (up to 40 ms on Linux): a stall per batch.
            conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except BaseException:
            conn.close()
            raise
        return conn

    def send(self, body: bytes, headers: Mapping[str, str]) -> SendResult:
        """POST one batch; one attempt (plus one silent reconnect when a kept-alive connection
        turns out to have been closed by the server while idle)."""
        if os.getpid() != self._pid:
            # A forked child: the parent's sender may have held the lock at the fork, and the
            # socket is the parent's; writing to it would interleave bytes with its requests.
            # Closing the child's copy of the descriptor leaves the parent's connection open.
            self._pid = os.getpid()
            self._lock = threading.Lock()
            self._close()
        with self._lock:
            all_headers = {**self._headers, **headers}
            for _ in range(2):
                reused = self._conn is not None
                try:
                    conn = self._conn or self._connect()
                    self._conn = conn
                    conn.request("POST", self._path, body, all_headers)
                    response = conn.getresponse()
                    data = response.read()
                except (OSError, http.client.HTTPException) as exc:
                    self._close()
                    if reused and not isinstance(exc, TimeoutError):
                        continue
                    return SendResult("retry", 0, f"{type(exc).__name__}: {exc}")
                if response.will_close:
                    self._close()
                return _result(response.status, response.getheader("Retry-After"), data)
            raise AssertionError("unreachable")  # pragma: no cover

    def _close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def close(self) -> None:
        """Close the kept-alive connection (the next send opens a new one)."""
        with self._lock:
            self._close()


def _result(status: int, retry_after: str | None, data: bytes) -> SendResult:
    if 200 <= status < 300:
        return ACKNOWLEDGED if status == 200 else SendResult("ok", status)
    if status in (408, 429) or status >= 500:
        return SendResult("retry", status, _server_message(data), parse_retry_after(retry_after))
    # Other 4xx (bad key, bad record) and redirects we do not follow: the same bytes would be
    # refused again, so retrying or spooling them only wastes the server's time and our disk.
    return SendResult("rejected", status, _server_message(data))


class InMemoryTransport:
    """Keeps every batch it is sent, decoded and validated against the contract, for tests.

    >>> transport = InMemoryTransport()
    >>> transport.send(b'{"records": []}', {}).outcome
    'ok'
    """

    def __init__(self) -> None:
        self.batches: list[Batch] = []

    def send(self, body: bytes, headers: Mapping[str, str]) -> SendResult:
        """Decode the batch as the server would; a contract violation is a rejection."""
        if headers.get("Content-Encoding") == "gzip":
            body = zlib.decompress(body, wbits=31)
        try:
            batch = decode_batch(body)
        except RecordError as exc:
            return SendResult("rejected", 422, str(exc))
        self.batches.append(batch)
        return ACKNOWLEDGED

    @property
    def records(self) -> list[Record]:
        """Every record received so far, in order, with the batch defaults filled in."""
        return [record for batch in list(self.batches) for record in batch.records]

    def clear(self) -> None:
        """Forget what was received."""
        self.batches.clear()
