"""The single writer: acks after commit, group commit, back-pressure, failures fail requests."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import wait

import pytest
from tests.conftest import make_event

from watchkeeper.query import catalog
from watchkeeper.server.writer import Writer, WriterBusyError, WriterStoppedError
from watchkeeper.store.base import Entry, Store


class GatedStore:
    """A real store whose writes wait for a gate, so tests can hold the writer mid-commit."""

    def __init__(self, inner: Store) -> None:
        self.inner = inner
        self.dialect = inner.dialect
        self.gate = threading.Event()
        self.groups: list[int] = []
        self.fail = False

    def write(self, entries: Sequence[Entry]) -> int:
        self.gate.wait(10)
        self.groups.append(len(entries))
        if self.fail:
            raise RuntimeError("disk full")
        return self.inner.write(entries)


def total(store: Store) -> int:
    return int(
        catalog.run(store, "records.count.event", project=1, since=0, until=2**63 - 1)[0]["count"]
    )


def test_future_completes_only_after_commit(store: Store) -> None:
    """A submitted batch's future completes after its rows are readable, with their count."""
    gated = GatedStore(store)
    writer = Writer(gated)  # type: ignore[arg-type]
    writer.start()
    try:
        future = writer.submit(1, [make_event() for _ in range(5)])
        assert not future.done()
        assert total(store) == 0
        gated.gate.set()
        assert future.result(5) == 5
        assert total(store) == 5
    finally:
        writer.stop()


def test_waiting_requests_commit_together(store: Store) -> None:
    """Requests that queue during a commit are committed as one group in the next transaction."""
    gated = GatedStore(store)
    writer = Writer(gated)  # type: ignore[arg-type]
    writer.start()
    try:
        first = writer.submit(1, [make_event()])
        rest = [writer.submit(1, [make_event()]) for _ in range(9)]
        gated.gate.set()
        wait([first, *rest], timeout=5)
        assert gated.groups[-1] == 9 or gated.groups == [10]
        assert total(store) == 10
    finally:
        writer.stop()


def test_full_queue_refuses_with_retry_after(store: Store) -> None:
    """Past queue_records, submit raises WriterBusyError with a Retry-After of at least 1 s."""
    gated = GatedStore(store)
    writer = Writer(gated, queue_records=10)  # type: ignore[arg-type]
    writer.start()
    try:
        writer.submit(1, [make_event()])  # taken by the writer, blocked at the gate
        queued = writer.submit(1, [make_event() for _ in range(8)])
        with pytest.raises(WriterBusyError) as refused:
            writer.submit(1, [make_event() for _ in range(5)])
        assert refused.value.retry_after >= 1
        assert writer.stats.refused == 1
        gated.gate.set()
        assert queued.result(5) == 8
    finally:
        writer.stop()


def test_store_failure_fails_the_group_and_the_writer_goes_on(store: Store) -> None:
    """A commit that raises fails that group's futures; later submissions still commit."""
    gated = GatedStore(store)
    gated.gate.set()
    gated.fail = True
    writer = Writer(gated)  # type: ignore[arg-type]
    writer.start()
    try:
        with pytest.raises(RuntimeError, match="disk full"):
            writer.submit(1, [make_event()]).result(5)
        gated.fail = False
        assert writer.submit(1, [make_event()]).result(5) == 1
        assert writer.alive and writer.stats.failures == 1
    finally:
        writer.stop()


def test_stop_commits_what_is_queued_then_refuses(store: Store) -> None:
    """stop() commits queued requests before the thread ends; submit afterwards is refused."""
    writer = Writer(store, linger=0.05)
    writer.start()
    futures = [writer.submit(1, [make_event()]) for _ in range(20)]
    writer.stop()
    assert all(f.result(0) == 1 for f in futures)
    assert total(store) == 20
    with pytest.raises(WriterStoppedError):
        writer.submit(1, [make_event()])
