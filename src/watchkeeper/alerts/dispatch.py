"""Delivery of notifications to their channels: retries with backoff, rate limits, an attempt log.

The policy (policy.py) decides what to tell; the dispatcher tells it, in the background, and
reports every attempt to ``on_attempt`` (the engine keeps them as the delivery history).

* **Retries.** A :class:`~watchkeeper.alerts.model.DeliveryError` is retried up to
  ``max_attempts`` in all, after a full-jitter exponential backoff (a uniform draw below
  ``backoff * 2**(n-1)`` seconds, at most ``max_backoff``), or after exactly the receiver's
  ``Retry-After`` when it gave one. An attempt that takes longer than ``timeout`` counts as
  failed. Any other exception is a notifier bug: recorded, logged, not retried.
* **Rate limits.** A channel may have a token bucket (``rate_limit: 20/h``: up to 20 at once,
  refilled at 20 an hour). Over the limit a notification is *held*, not dropped: it waits for a
  token. A dropped resolution would leave a receiver believing an alert still fires; holding
  costs nothing because of the next rule.
* **One line per group.** Notifications for the same channel, group and escalation step are
  delivered one at a time, in order, and a newer one *supersedes* an older one still waiting
  (held, or between retries): the newer carries the group's current state. So a stale
  "firing" never lands after its "resolved", and the queue holds at most one notification per
  group and channel however long a receiver is down or rate-limited.

The clock and the sleep are injected, so tests run retries and rate limits without waiting.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Final

from watchkeeper.alerts.model import DeliveryError, Notification, Notifier, Status

log = logging.getLogger(__name__)

_UNITS: Final = {"s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}
_RATE: Final = re.compile(r"\s*(\d+)\s*/\s*(\d*)\s*(s|min|m|h|d)\s*")


@dataclass(frozen=True)
class RateLimit:
    """At most ``count`` notifications per ``period`` (ns) on one channel."""

    count: int
    period: int

    def __str__(self) -> str:
        seconds = self.period // 1_000_000_000
        for unit in ("d", "h", "m"):
            if seconds % _UNITS[unit] == 0:
                amount = seconds // _UNITS[unit]
                return f"{self.count}/{'' if amount == 1 else amount}{unit}"
        return f"{self.count}/{seconds}s"


def parse_rate_limit(text: str) -> RateLimit:
    """``"20/h"``, ``"5/10m"``, ``"100/d"``, ``"1/30s"``: a count per (optionally counted) unit.

    >>> parse_rate_limit("20/h"), str(parse_rate_limit("5/10min"))
    (RateLimit(count=20, period=3600000000000), '5/10m')
    """
    match = _RATE.fullmatch(text)
    if match is None:
        raise ValueError(
            f"rate_limit: expected a count per period like '20/h' or '5/10m', not {text!r}"
        )
    count, amount, unit = int(match.group(1)), int(match.group(2) or 1), match.group(3)
    if count < 1 or amount < 1:
        raise ValueError(f"rate_limit: count and period must be positive in {text!r}")
    return RateLimit(count, amount * _UNITS[unit] * 1_000_000_000)


class _Bucket:
    """A token bucket on the injected clock: starts full, refills continuously. Counted in
    integers (a token is ``period`` units, ``count`` units flow in per ns) so waits are exact."""

    def __init__(self, limit: RateLimit, now: int) -> None:
        self.limit = limit
        self.level = limit.count * limit.period
        self.updated = now

    def take(self, now: int) -> int:
        """Take a token and return 0, or return the ns until one is available."""
        count, period = self.limit.count, self.limit.period
        self.level = min(count * period, self.level + max(0, now - self.updated) * count)
        self.updated = max(self.updated, now)
        if self.level >= period:
            self.level -= period
            return 0
        return -(-(period - self.level) // count)


@dataclass(frozen=True)
class DeliveryAttempt:
    """One try to deliver a notification, or a decision not to try yet: ``attempt`` is 1, 2, …
    for sends and 0 when the notification was held by the rate limit or superseded."""

    channel: str
    group_key: str
    status: Status
    """The notification's status (firing or resolved)."""
    escalation: int
    attempt: int
    ok: bool
    error: str
    """Why it failed or was not sent; empty when ``ok``."""
    at: int
    """When the attempt started (ns)."""


@dataclass
class _Line:
    """The notifications of one (channel, group, escalation): the next one and its worker."""

    waiting: Notification | None
    task: asyncio.Task[None] | None = None


class Dispatcher:
    """Delivers notifications to ``notifiers`` (by channel name) in background tasks.

    >>> import asyncio
    >>> from watchkeeper.alerts.model import Notification
    >>> class Printer:
    ...     name, type = "ops", "print"
    ...     async def send(self, notification): print("sent", notification.group_key)
    >>> async def main():
    ...     dispatcher = Dispatcher({"ops": Printer()}, on_attempt=lambda a: print(a.ok))
    ...     dispatcher.submit([Notification("ops", "{}:{}", "firing", ())])
    ...     await dispatcher.drain()
    >>> asyncio.run(main())
    sent {}:{}
    True
    """

    def __init__(
        self,
        notifiers: Mapping[str, Notifier],
        *,
        rate_limits: Mapping[str, RateLimit] | None = None,
        on_attempt: Callable[[DeliveryAttempt], None] | None = None,
        max_attempts: int = 6,
        backoff: float = 2.0,
        max_backoff: float = 300.0,
        timeout: float = 30.0,
        clock: Callable[[], int] = time.time_ns,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        jitter: Callable[[float, float], float] = random.uniform,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts: must be at least 1")
        self.notifiers = dict(notifiers)
        """Replace entries when the rules file changes; lines in flight pick them up."""
        self.rate_limits = dict(rate_limits or {})
        self.on_attempt = on_attempt
        self.max_attempts = max_attempts
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.timeout = timeout
        self._clock = clock
        self._sleep = sleep
        self._jitter = jitter
        self._buckets: dict[str, _Bucket] = {}
        self._lines: dict[tuple[str, str, int], _Line] = {}

    @property
    def pending(self) -> int:
        """Groups (per channel) with a notification not yet delivered or given up: being sent,
        held by the rate limit, or between retries."""
        return len(self._lines)

    def submit(self, notifications: Iterable[Notification]) -> None:
        """Queue notifications for delivery; call from the event loop (the engine's task)."""
        for notification in notifications:
            key = (notification.channel, notification.group_key, notification.escalation)
            line = self._lines.get(key)
            if line is None:
                line = self._lines[key] = _Line(notification)
                line.task = asyncio.get_running_loop().create_task(self._work(key, line))
                continue
            if line.waiting is not None:
                self._superseded(line.waiting)
            line.waiting = notification

    async def drain(self) -> None:
        """Wait until everything submitted is delivered or given up."""
        while self._lines:
            tasks = [line.task for line in self._lines.values() if line.task is not None]
            await asyncio.gather(*tasks, return_exceptions=True)

    async def aclose(self) -> None:
        """Stop delivering: cancel what is held or waiting to retry (at shutdown)."""
        tasks = [line.task for line in self._lines.values() if line.task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._lines.clear()

    async def _work(self, key: tuple[str, str, int], line: _Line) -> None:
        try:
            while line.waiting is not None:
                notification, line.waiting = line.waiting, None
                await self._deliver(notification, line)
        finally:
            if self._lines.get(key) is line:
                del self._lines[key]

    async def _deliver(self, notification: Notification, line: _Line) -> None:
        if not await self._take_token(notification, line):
            return
        for attempt in range(1, self.max_attempts + 1):
            at = self._clock()
            notifier = self.notifiers.get(notification.channel)
            if notifier is None:
                self._record(
                    notification, attempt, at, f"no channel named {notification.channel!r}"
                )
                return
            try:
                async with asyncio.timeout(self.timeout):
                    await notifier.send(notification)
            except DeliveryError as exc:
                error, retry_after = str(exc) or type(exc).__name__, exc.retry_after
            except TimeoutError:
                error, retry_after = f"no answer within {self.timeout:g} s", None
            except Exception as exc:
                log.exception("notifier %r failed on a notification", notification.channel)
                self._record(notification, attempt, at, f"{type(exc).__name__}: {exc}")
                return
            else:
                self._record(notification, attempt, at, "")
                return
            self._record(notification, attempt, at, error)
            if attempt == self.max_attempts:
                log.warning(
                    "gave up notifying %r of %s after %d attempts: %s",
                    notification.channel,
                    notification.group_key,
                    attempt,
                    error,
                )
                return
            await self._sleep(self._delay(attempt, retry_after))
            if line.waiting is not None:
                self._superseded(notification)
                return

    async def _take_token(self, notification: Notification, line: _Line) -> bool:
        limit = self.rate_limits.get(notification.channel)
        if limit is None:
            return True
        bucket = self._buckets.get(notification.channel)
        if bucket is None or bucket.limit != limit:
            bucket = self._buckets[notification.channel] = _Bucket(limit, self._clock())
        wait = bucket.take(self._clock())
        if wait:
            self._record(notification, 0, self._clock(), f"rate limit {limit} reached: held")
        while wait:
            await self._sleep(wait / 1e9)
            if line.waiting is not None:
                self._superseded(notification)
                return False
            wait = bucket.take(self._clock())
        return True

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return retry_after
        return self._jitter(0.0, min(self.max_backoff, self.backoff * 2 ** (attempt - 1)))

    def _superseded(self, notification: Notification) -> None:
        self._record(notification, 0, self._clock(), "superseded by a newer notification")

    def _record(self, notification: Notification, attempt: int, at: int, error: str) -> None:
        if self.on_attempt is None:
            return
        record = DeliveryAttempt(
            channel=notification.channel,
            group_key=notification.group_key,
            status=notification.status,
            escalation=notification.escalation,
            attempt=attempt,
            ok=attempt > 0 and not error,
            error=error,
            at=at,
        )
        try:
            self.on_attempt(record)
        except Exception:
            log.exception("on_attempt failed; the attempt is not recorded")
