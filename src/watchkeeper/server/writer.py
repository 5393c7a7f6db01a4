"""The single writer: one thread owns every write to the telemetry store.

Ingest requests hand their validated records to :meth:`Writer.submit` and wait on the returned
future; the writer gathers whatever requests are waiting (up to ``max_records``), commits them in
one transaction (group commit) and only then completes their futures, so a request is answered
2xx only after its records are durable (DESIGN §5). While one commit runs, the next requests queue
up and form the next group, so throughput rises with load without delaying a lone request.
When more than ``queue_records`` wait, :meth:`submit` refuses at once: ingest answers 503 with
``Retry-After`` and the SDK backs off instead of the server's memory growing without bound.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass

from watchkeeper.records import Record
from watchkeeper.store.base import Store

log = logging.getLogger("watchkeeper.writer")


class WriterBusyError(RuntimeError):
    """The writer's queue is full; try again after ``retry_after`` seconds."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"the writer is busy; retry after {retry_after:.0f} s")
        self.retry_after = retry_after


class WriterStoppedError(RuntimeError):
    """The writer is not running (the server is shutting down)."""


@dataclass
class _Request:
    project: int
    records: Sequence[Record]
    future: Future[int]


@dataclass
class WriterStats:
    commits: int = 0
    records: int = 0
    inserted: int = 0
    failures: int = 0
    refused: int = 0


class Writer:
    """Group-committing writer thread in front of a :class:`~watchkeeper.store.base.Store`."""

    def __init__(
        self,
        store: Store,
        *,
        max_records: int = 20_000,
        linger: float = 0.0,
        queue_records: int = 200_000,
    ) -> None:
        self.store = store
        self.max_records = max_records
        self.linger = linger
        self.queue_records = queue_records
        self.stats = WriterStats()
        self._queue: deque[_Request] = deque()
        self._queued_records = 0
        self._cond = threading.Condition()
        self._stopping = False
        self._thread: threading.Thread | None = None

    @property
    def alive(self) -> bool:
        """True while the writer thread runs and accepts work."""
        return self._thread is not None and self._thread.is_alive() and not self._stopping

    @property
    def queued_records(self) -> int:
        return self._queued_records

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="watchkeeper-writer", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Commit what is queued, then stop the thread."""
        with self._cond:
            self._stopping = True
            self._cond.notify()
        if self._thread is not None:
            self._thread.join(timeout)

    def submit(self, project: int, records: Sequence[Record]) -> Future[int]:
        """Queue ``records`` for ``project``; the future completes with their count once
        committed, or with the store's exception. Raises :class:`WriterBusyError` when full."""
        future: Future[int] = Future()
        with self._cond:
            if self._stopping or self._thread is None:
                raise WriterStoppedError("the writer is not running")
            # A request larger than the whole queue is still taken when nothing waits, so a
            # legal batch is never refused forever.
            if self._queue and self._queued_records + len(records) > self.queue_records:
                self.stats.refused += 1
                raise WriterBusyError(retry_after=self._retry_after())
            self._queue.append(_Request(project, records, future))
            self._queued_records += len(records)
            self._cond.notify()
        return future

    def _retry_after(self) -> float:
        # Roughly the time to drain the queue at the rate commits have run so far, at least 1 s.
        return max(1.0, min(30.0, self._queued_records / 100_000))

    def _take(self) -> list[_Request]:
        """Wait for work; return the requests of the next group commit (empty when stopping)."""
        with self._cond:
            while not self._queue and not self._stopping:
                self._cond.wait()
            if self.linger and self._queue and not self._stopping:
                deadline = time.monotonic() + self.linger
                while self._queued_records < self.max_records and not self._stopping:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    self._cond.wait(remaining)
            group: list[_Request] = []
            count = 0
            while self._queue and (
                not group or count + len(self._queue[0].records) <= self.max_records
            ):
                request = self._queue.popleft()
                group.append(request)
                count += len(request.records)
            self._queued_records -= count
            return group

    def _run(self) -> None:
        while True:
            group = self._take()
            if not group:
                return
            try:
                inserted = self.store.write([(r.project, r.records) for r in group])
            except (
                Exception
            ) as exc:  # any store failure fails this group's requests, not the writer
                log.exception("commit of %d requests failed", len(group))
                self.stats.failures += 1
                for request in group:
                    request.future.set_exception(exc)
                continue
            self.stats.commits += 1
            self.stats.records += sum(len(r.records) for r in group)
            self.stats.inserted += inserted
            for request in group:
                request.future.set_result(len(request.records))
