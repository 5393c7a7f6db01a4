from __future__ import annotations

import email.utils
import time
import zlib
from collections.abc import Mapping
from typing import TYPE_CHECKING

import pytest

from watchkeeper.records import Batch, Event, encode_batch
from watchkeeper.sdk.transport import (
    HTTPTransport,
    InMemoryTransport,
    SendResult,
    backoff_delay,
    parse_retry_after,
    send_with_retries,
)

if TYPE_CHECKING:
    from conftest import IngestServer

BODY = encode_batch(Batch(records=[Event(id="e1", ts=1, name="signup")]))


def never_stop(seconds: float) -> bool:
    time.sleep(seconds)
    return False


def test_posts_to_ingest_with_key_and_content_headers(server: IngestServer) -> None:
    """A batch is POSTed to /api/v1/ingest with the bearer key, JSON type and gzip encoding."""
    transport = HTTPTransport(server.url, "wk_secret")
    result = transport.send(zlib.compress(BODY, wbits=31), {"Content-Encoding": "gzip"})
    transport.close()
    assert result.outcome == "ok"
    (request,) = server.requests
    assert request.path == "/api/v1/ingest"
    assert request.headers["Authorization"] == "Bearer wk_secret"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Content-Encoding"] == "gzip"
    assert server.ids() == ["e1"]


def test_endpoint_path_prefix_is_kept() -> None:
    """An endpoint behind a path prefix posts under that prefix."""
    assert HTTPTransport("https://example.com/wk/").url == "https://example.com/wk/api/v1/ingest"


def test_bad_endpoint_is_refused() -> None:
    """An endpoint that is not an http(s) URL raises ValueError at construction."""
    with pytest.raises(ValueError, match="http"):
        HTTPTransport("localhost:7321")


def test_connection_is_kept_alive(server: IngestServer) -> None:
    """Consecutive batches reuse one TCP connection."""
    transport = HTTPTransport(server.url)
    for _ in range(3):
        assert transport.send(BODY, {}).outcome == "ok"
    transport.close()
    assert len({request.peer for request in server.requests}) == 1


def test_connection_closed_while_idle_is_reopened_silently(server: IngestServer) -> None:
    """A kept-alive connection the server closed is replaced without a failed attempt."""
    server.replies.append(server.Reply(idle_close=True))
    transport = HTTPTransport(server.url)
    assert transport.send(BODY, {}).outcome == "ok"
    time.sleep(0.05)
    assert transport.send(BODY, {}).outcome == "ok"
    transport.close()
    assert len(server.accepted) == 2


def test_4xx_is_a_rejection_with_the_servers_message(server: IngestServer) -> None:
    """A 400 is 'rejected' and carries the server's detail message."""
    server.replies.append(server.Reply(400, body=b'{"detail": "bad ts at $.records[0].ts"}'))
    transport = HTTPTransport(server.url)
    result = transport.send(BODY, {})
    transport.close()
    assert result == SendResult("rejected", 400, "bad ts at $.records[0].ts")


@pytest.mark.parametrize("status", [429, 503, 500, 408])
def test_429_and_5xx_ask_for_a_retry_with_retry_after(server: IngestServer, status: int) -> None:
    """429, 408 and 5xx answers are 'retry', with Retry-After in seconds."""
    server.replies.append(server.Reply(status, headers={"Retry-After": "7"}))
    transport = HTTPTransport(server.url)
    result = transport.send(BODY, {})
    transport.close()
    assert (result.outcome, result.status, result.retry_after) == ("retry", status, 7.0)


def test_hangup_and_refused_connection_ask_for_a_retry(
    server: IngestServer, refused_url: str
) -> None:
    """No answer (connection closed, or refused) is 'retry' with status 0."""
    server.replies.append(server.Reply(hangup=True))
    transport = HTTPTransport(server.url)
    assert transport.send(BODY, {}).outcome == "retry"
    transport.close()
    refused = HTTPTransport(refused_url).send(BODY, {})
    assert (refused.outcome, refused.status) == ("retry", 0)


def test_retries_honour_retry_after(server: IngestServer) -> None:
    """After a 429 with Retry-After, the next attempt waits that long (backoff alone is 0)."""
    server.replies.append(server.Reply(429, headers={"Retry-After": "0.3"}))
    transport = HTTPTransport(server.url)
    result, retries = send_with_retries(
        transport, BODY, {}, max_retries=3, backoff=0.0, wait=never_stop
    )
    transport.close()
    assert (result.outcome, retries) == ("ok", 1)
    first, second = server.requests
    assert second.at - first.at >= 0.29


def test_retries_stop_after_max_retries(server: IngestServer) -> None:
    """A server that keeps answering 503 gets 1 + max_retries attempts, then the caller spools."""
    server.replies.extend(server.Reply(503) for _ in range(10))
    transport = HTTPTransport(server.url)
    result, retries = send_with_retries(
        transport, BODY, {}, max_retries=2, backoff=0.001, wait=never_stop
    )
    transport.close()
    assert (result.outcome, retries, len(server.requests)) == ("retry", 2, 3)


def test_rejection_is_not_retried(server: IngestServer) -> None:
    """A 400 is sent once."""
    server.replies.append(server.Reply(400))
    transport = HTTPTransport(server.url)
    result, retries = send_with_retries(
        transport, BODY, {}, max_retries=5, backoff=0.001, wait=never_stop
    )
    transport.close()
    assert (result.outcome, retries, len(server.requests)) == ("rejected", 0, 1)


def test_long_retry_after_or_stop_ends_retries(server: IngestServer) -> None:
    """Retry-After over max_delay, or wait() asking to stop, ends retrying at once."""
    server.replies.append(server.Reply(503, headers={"Retry-After": "120"}))
    transport = HTTPTransport(server.url)
    _, retries = send_with_retries(transport, BODY, {}, max_retries=5, backoff=1, wait=never_stop)
    assert retries == 0
    server.replies.append(server.Reply(503))
    _, retries = send_with_retries(
        transport, BODY, {}, max_retries=5, backoff=1, wait=lambda seconds: True
    )
    transport.close()
    assert retries == 0
    assert len(server.requests) == 2


def test_a_raising_transport_counts_as_unreachable() -> None:
    """An exception from a custom transport becomes a 'retry' outcome, not a crash."""

    class Broken:
        def send(self, body: bytes, headers: Mapping[str, str]) -> SendResult:
            raise RuntimeError("boom")

    result, retries = send_with_retries(
        Broken(), BODY, {}, max_retries=1, backoff=0, wait=never_stop
    )
    assert (result.outcome, result.message, retries) == ("retry", "RuntimeError: boom", 1)


def test_backoff_is_full_jitter_below_the_exponential_cap() -> None:
    """Backoff draws uniformly from [0, min(cap, base * 2**retry)]."""
    draws = [backoff_delay(3, 0.5, cap=30) for _ in range(500)]
    assert min(draws) >= 0 and max(draws) <= 4.0 and max(draws) > 2.0
    assert all(backoff_delay(20, 0.5, cap=30) <= 30 for _ in range(100))


def test_retry_after_accepts_seconds_and_http_dates() -> None:
    """Retry-After may be delta-seconds or an HTTP date; garbage is ignored."""
    soon = email.utils.formatdate(time.time() + 10, usegmt=True)
    assert 8 <= (parse_retry_after(soon) or 0) <= 10
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after("-3") == 0.0
    assert parse_retry_after("") is None and parse_retry_after("later") is None


def test_in_memory_transport_decodes_and_validates() -> None:
    """InMemoryTransport keeps decoded batches and rejects a batch that breaks the contract."""
    transport = InMemoryTransport()
    assert transport.send(zlib.compress(BODY, wbits=31), {"Content-Encoding": "gzip"}).ok
    assert [record.id for record in transport.records] == ["e1"]
    bad = transport.send(b'{"records": [{"kind": "event", "id": "x", "ts": -1}]}', {})
    assert (bad.outcome, bad.status) == ("rejected", 422)
    transport.clear()
    assert transport.records == []
