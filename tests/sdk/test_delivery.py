from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import pytest

from watchkeeper.sdk.client import track
from watchkeeper.sdk.config import Config
from watchkeeper.sdk.delivery import Delivery
from watchkeeper.sdk.spool import Spool
from watchkeeper.sdk.transport import SendResult

if TYPE_CHECKING:
    from conftest import IngestServer


def spooled_files(path: str) -> list[str]:
    return [name for name in os.listdir(path) if not name.startswith(".")]


class DownTransport:
    """Never answers; counts the attempts."""

    def __init__(self) -> None:
        self.attempts = 0

    def send(self, body: bytes, headers: Mapping[str, str]) -> SendResult:
        self.attempts += 1
        return SendResult("retry")


def test_offline_batches_go_to_the_spool_without_an_attempt(spool_dir: str) -> None:
    """After a batch found the server unreachable, the next ones are spooled untried."""
    transport = DownTransport()
    delivery = Delivery(
        Config(max_retries=0, retry_backoff=10),
        transport,
        Spool(spool_dir, 1_000_000),
        threading.Event().wait,
        lambda *args: None,
    )
    for _ in range(3):
        delivery.deliver(b'{"records": []}', 2, gzip=False)
    assert (transport.attempts, delivery.spooled, delivery.failed) == (1, 6, 0)
    assert not delivery.replay_one()  # no probe is due yet
    assert len(spooled_files(spool_dir)) == 3


def test_rejected_batch_fails_flush_is_logged_once_and_not_retried(
    server: IngestServer, make_client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """A 400 is not retried or spooled, counts as failed, makes flush False, logs once."""
    detail = b'{"detail": "name too long at $.records[0].name"}'
    server.replies.extend([server.Reply(400, body=detail), server.Reply(400, body=detail)])
    client = make_client(endpoint=server.url, flush_interval=60)
    with caplog.at_level(logging.WARNING, logger="watchkeeper"):
        track("a", client=client)
        assert not client.flush(5)
        track("b", client=client)
        assert not client.flush(5)
        track("c", client=client)
        assert client.flush(5)
    assert len(server.requests) == 3
    stats = client.stats()
    assert (stats["failed"], stats["sent"], stats["retried"], stats["spooled"]) == (2, 1, 0, 0)
    warnings = [r.getMessage() for r in caplog.records if r.name == "watchkeeper"]
    assert len(warnings) == 1
    assert "HTTP 400" in warnings[0] and "name too long at $.records[0].name" in warnings[0]


def test_retry_after_is_honoured(server: IngestServer, make_client: Any) -> None:
    """A 503 with Retry-After is retried after that delay and counted in retried."""
    server.replies.append(server.Reply(503, headers={"Retry-After": "0.2"}))
    client = make_client(endpoint=server.url, retry_backoff=0)
    track("e", client=client)
    assert client.flush(5)
    first, second = server.requests
    assert second.at - first.at >= 0.19
    assert (client.stats()["retried"], client.stats()["sent"]) == (1, 1)


def test_unreachable_server_spools_then_replays_each_batch_once(
    later_server: IngestServer, make_client: Any, spool_dir: str, wait_for: Any
) -> None:
    """Batches spool while the server is down and replay, once each, when it is back."""
    client = make_client(endpoint=later_server.url, spool_dir=spool_dir, max_retries=1)
    for n in range(5):
        track(f"first{n}", client=client)
    assert client.flush(5)  # spooled counts as safe
    for n in range(5):
        track(f"second{n}", client=client)
    assert client.flush(5)
    assert client.stats()["spooled"] == 10
    assert len(spooled_files(spool_dir)) == 2
    server = later_server.start()
    track("live", client=client)
    assert wait_for(lambda: client.stats()["replayed"] == 10, 5)
    assert client.flush(5)
    assert sorted(server.names()) == sorted(
        [f"first{n}" for n in range(5)] + [f"second{n}" for n in range(5)] + ["live"]
    )
    assert len(server.ids()) == len(set(server.ids())) == 11
    assert spooled_files(spool_dir) == []
    assert client.stats()["sent"] == 11


def test_spool_bound_is_respected(make_client: Any, spool_dir: str, refused_url: str) -> None:
    """The spool never grows past spool_max_bytes; the oldest batches are dropped and counted."""
    client = make_client(
        endpoint=refused_url,
        spool_dir=spool_dir,
        spool_max_bytes=3000,
        gzip=False,
        batch_size=10,
        max_retries=0,
        flush_interval=60,
    )
    for n in range(200):
        track(f"event-{n:04d}", client=client, properties={"n": n})
        if n % 10 == 9:
            assert client.flush(5)
    sizes = [os.path.getsize(os.path.join(spool_dir, name)) for name in os.listdir(spool_dir)]
    assert 0 < sum(sizes) <= 3000
    stats = client.stats()
    assert stats["spooled"] == 200 and stats["dropped"] == 200 - 10 * len(sizes)


def test_another_client_replays_the_spool_at_start(
    server: IngestServer, make_client: Any, spool_dir: str, refused_url: str
) -> None:
    """A new process (client) with the same spool directory replays what an earlier one left."""
    before = make_client(endpoint=refused_url, spool_dir=spool_dir, max_retries=0)
    for n in range(3):
        track(f"left-{n}", client=before)
    before.shutdown()
    assert before.stats()["spooled"] == 3
    after = make_client(endpoint=server.url, spool_dir=spool_dir, flush_interval=60)
    assert after.flush(5)  # flush replays the spool too: short-lived processes need it
    assert after.stats()["replayed"] == 3
    assert server.names() == ["left-0", "left-1", "left-2"]
    assert spooled_files(spool_dir) == []


def test_shutdown_spools_at_once_when_the_server_is_down(
    make_client: Any, spool_dir: str, refused_url: str
) -> None:
    """At shutdown, retries are cut short: an unreachable server means spool now."""
    client = make_client(endpoint=refused_url, spool_dir=spool_dir, max_retries=10, retry_backoff=5)
    track("e", client=client)
    started = time.monotonic()
    client.shutdown(timeout=10)
    assert time.monotonic() - started < 2
    assert client.stats()["spooled"] == 1
