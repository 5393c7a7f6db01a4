"""Delivery of encoded batches: send with retries, or spool while the server is unreachable.

The batcher hands :class:`Delivery` each batch already encoded (and gzipped) and never hears
back; the outcome lands in the counters. A batch the server refused is counted and never
retried; one the server could not take (a 429, a 5xx, no answer) is retried by
:func:`~watchkeeper.sdk.transport.send_with_retries`, then spooled. After such a failure the
server is taken to be offline: what comes next goes straight to the spool, without trying,
until a probe is due. Replay sends the spool back, oldest batch first, one at a time, between
live batches. Everything here runs on the batcher's thread.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Mapping
from typing import Final

from watchkeeper.sdk.config import Config
from watchkeeper.sdk.spool import Spool
from watchkeeper.sdk.transport import SendResult, Transport, backoff_delay, send_with_retries

_GZIP: Final[Mapping[str, str]] = {"Content-Encoding": "gzip"}
_PLAIN: Final[Mapping[str, str]] = {}
_MAX_OFFLINE: Final = 30.0


class Delivery:
    """Sends, retries, spools and replays encoded batches for one batcher; counts the records.

    ``wait(seconds)`` sleeps between retries and returns True once the batcher is shutting
    down; ``warn_once(key, message, *args)`` logs a kind of trouble once.

    >>> import threading
    >>> from watchkeeper.sdk.transport import InMemoryTransport
    >>> transport = InMemoryTransport()
    >>> delivery = Delivery(Config(), transport, None, threading.Event().wait, print)
    >>> delivery.deliver(b'{"records": []}', 0, gzip=False)
    >>> len(transport.batches), delivery.failed
    (1, 0)
    """

    def __init__(
        self,
        config: Config,
        transport: Transport,
        spool: Spool | None,
        wait: Callable[[float], bool],
        warn_once: Callable[..., None],
    ) -> None:
        self.config = config
        self.transport = transport
        self.spool = spool
        self._wait = wait
        self._warn_once = warn_once
        self.sent = self.spooled = self.replayed = self.retried = 0
        self.dropped = 0
        """Records the spool had no room for."""
        self.failed = 0
        """Records handled live that were refused or lost; flush() judges by these."""
        self.failed_replay = 0
        """Records of spooled batches the server refused on replay."""
        self._offline_until = 0.0
        self._offline_count = 0
        self._spool_dirty = spool is not None

    def recover(self) -> None:
        """Take back what processes that died left claimed or half-written in the spool."""
        if self.spool is not None:
            with contextlib.suppress(OSError):
                self.spool.recover()

    def deliver(self, body: bytes, count: int, gzip: bool) -> None:
        """Send one encoded batch of ``count`` records; spool it when the server is offline."""
        if self.spool is not None and time.monotonic() < self._offline_until:
            self._to_spool(body, count, gzip)
            return
        result = self._send(body, gzip)
        if result.outcome == "ok":
            self.sent += count
        elif result.outcome == "rejected":
            self.failed += count
            self._warn_rejected(result, count)
        else:
            self._to_spool(body, count, gzip)

    def replay_one(self, *, live_waiting: bool = False) -> bool:
        """Replay the oldest spooled batch; True when there may be more to replay.

        ``live_waiting``: a full batch of live records is queued; replay nothing now and
        return True, so the caller drains them and comes back.
        """
        spool = self.spool
        if spool is None or not self._spool_dirty or time.monotonic() < self._offline_until:
            return False
        if live_waiting:
            return True
        try:
            claim = spool.claim()
        except OSError:
            claim = None
        if claim is None:
            self._spool_dirty = False
            return False
        result = self._send(claim.body, claim.gzip)
        if result.outcome == "retry":
            spool.release(claim)
            return False
        spool.acknowledge(claim)
        if result.outcome == "ok":
            self.sent += claim.count
            self.replayed += claim.count
        else:
            self.failed_replay += claim.count
            self._warn_rejected(result, claim.count)
        return True

    def _send(self, body: bytes, gzip: bool) -> SendResult:
        config = self.config
        result, retries = send_with_retries(
            self.transport,
            body,
            _GZIP if gzip else _PLAIN,
            max_retries=config.max_retries,
            backoff=config.retry_backoff,
            wait=self._wait,
        )
        self.retried += retries
        if result.outcome == "retry":
            # Unreachable: spool what comes next without trying, until a probe is due.
            delay = result.retry_after
            if delay is None:
                delay = backoff_delay(self._offline_count + 1, config.retry_backoff)
                delay = max(config.retry_backoff, delay)
            self._offline_until = time.monotonic() + min(delay, _MAX_OFFLINE)
            self._offline_count += 1
        else:
            self._offline_until, self._offline_count = 0.0, 0
        return result

    def _to_spool(self, body: bytes, count: int, gzip: bool) -> None:
        spool = self.spool
        if spool is None:
            self.failed += count
            self._warn_once("unreachable", "watchkeeper: server unreachable; records lost")
            return
        if len(body) > spool.max_bytes:
            self.dropped += count
            return
        try:
            self.dropped += spool.write(body, count, gzip=gzip)
        except OSError as exc:
            self.failed += count
            self._warn_once(("spool", exc.errno), "watchkeeper: cannot spool: %s", exc)
            return
        self.spooled += count
        self._spool_dirty = True

    def _warn_rejected(self, result: SendResult, count: int) -> None:
        self._warn_once(
            ("rejected", result.status, result.message),
            "watchkeeper: the server refused a batch of %d records (HTTP %d): %s",
            count,
            result.status,
            result.message,
        )
