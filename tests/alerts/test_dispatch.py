"""Delivery through the real webhook notifier to a real HTTP receiver on 127.0.0.1: retries,
Retry-After, rate limits, supersession and the attempt log, on virtual time."""

from __future__ import annotations

import asyncio
import heapq
import itertools
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from watchkeeper.alerts import notifiers
from watchkeeper.alerts.dispatch import (
    DeliveryAttempt,
    Dispatcher,
    RateLimit,
    parse_rate_limit,
)
from watchkeeper.alerts.model import Alert, DeliveryError, Notification, Notifier, Status

S = 1_000_000_000
M = 60 * S
T0 = 1_700_000_000 * S


@dataclass
class Receiver:
    """A real HTTP server: answers from ``script`` (status, headers) in order, then 200."""

    url: str
    script: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    bodies: list[dict[str, Any]] = field(default_factory=list)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A receiver on a free port of 127.0.0.1, served from a thread."""
    state = Receiver(url="")
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            with lock:
                state.bodies.append(json.loads(body))
                status, headers = state.script.pop(0) if state.script else (200, {})
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_port}/hook"
    yield state
    server.shutdown()
    server.server_close()
    thread.join()


class VirtualTime:
    """A clock and a sleep for the dispatcher: sleeping tasks wake when :meth:`settle` finds
    every line of the dispatcher asleep and moves time to the earliest wake-up."""

    def __init__(self) -> None:
        self.now = T0
        self.slept: list[float] = []
        self._sleepers: list[tuple[int, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def clock(self) -> int:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        wake = self.now + round(seconds * S)
        heapq.heappush(self._sleepers, (wake, next(self._order), future))
        await future

    async def settle(self, dispatcher: Dispatcher, *, until_asleep: bool = False) -> None:
        """Run until the dispatcher is idle (or, with ``until_asleep``, until all its lines
        sleep), letting real I/O happen and advancing virtual time when nothing else can."""
        for _ in range(10_000):
            if not dispatcher.pending:
                return
            asleep = sum(not f.done() for _, _, f in self._sleepers)
            if asleep == dispatcher.pending:
                if until_asleep:
                    return
                wake, _, future = heapq.heappop(self._sleepers)
                self.now = max(self.now, wake)
                future.set_result(None)
            await asyncio.sleep(0.002)
        raise AssertionError("the dispatcher did not settle")


def _notification(group: str = "HighLatency", status: Status = "firing") -> Notification:
    alert = Alert(1, group, f"fp-{group}", {"alertname": group}, {}, "firing", 1.0, T0)
    key = f'{{project="1"}}:{{alertname="{group}"}}'
    return Notification("ops", key, status, (alert,), group_labels={"alertname": group})


def _dispatcher(
    channels: dict[str, Notifier], clock: VirtualTime, log: list[DeliveryAttempt], **options: Any
) -> Dispatcher:
    return Dispatcher(
        channels,
        on_attempt=log.append,
        clock=clock.clock,
        sleep=clock.sleep,
        jitter=lambda low, high: high,
        **options,
    )


def _webhook(receiver: Receiver) -> dict[str, Notifier]:
    return {"ops": notifiers.build("ops", "webhook", {"url": receiver.url, "timeout": 5})}


def test_delivers_and_records_one_attempt(receiver: Receiver) -> None:
    """A notification reaches the receiver once; one successful attempt is recorded."""
    log: list[DeliveryAttempt] = []
    time = VirtualTime()

    async def main() -> None:
        dispatcher = _dispatcher(_webhook(receiver), time, log)
        dispatcher.submit([_notification()])
        await dispatcher.drain()

    asyncio.run(main())
    assert [b["groupKey"] for b in receiver.bodies] == ['{project="1"}:{alertname="HighLatency"}']
    assert log == [
        DeliveryAttempt(
            "ops", '{project="1"}:{alertname="HighLatency"}', "firing", 0, 1, True, "", T0
        )
    ]


def test_retries_with_exponential_backoff_until_it_succeeds(receiver: Receiver) -> None:
    """Two failures then a success: three attempts recorded, backoff doubling between them."""
    receiver.script += [(500, {}), (503, {})]
    log: list[DeliveryAttempt] = []
    time = VirtualTime()

    async def main() -> None:
        dispatcher = _dispatcher(_webhook(receiver), time, log, backoff=2.0)
        dispatcher.submit([_notification()])
        await time.settle(dispatcher)

    asyncio.run(main())
    assert len(receiver.bodies) == 3
    assert [(a.attempt, a.ok) for a in log] == [(1, False), (2, False), (3, True)]
    assert "HTTP 500" in log[0].error and "HTTP 503" in log[1].error and log[2].error == ""
    assert time.slept == [2.0, 4.0]  # jitter pinned to its upper bound
    assert [a.at for a in log] == [T0, T0 + 2 * S, T0 + 6 * S]


def test_backoff_is_jittered_below_its_cap() -> None:
    """Full jitter draws below backoff * 2**(n-1), never above max_backoff."""
    draws: list[tuple[float, float]] = []
    time = VirtualTime()

    def jitter(low: float, high: float) -> float:
        draws.append((low, high))
        return high / 2

    async def main() -> None:
        dispatcher = Dispatcher(
            {"ops": _Broken(DeliveryError("HTTP 503"))},
            backoff=2.0,
            max_backoff=10.0,
            max_attempts=5,
            clock=time.clock,
            sleep=time.sleep,
            jitter=jitter,
        )
        dispatcher.submit([_notification()])
        await time.settle(dispatcher)

    asyncio.run(main())
    assert draws == [(0.0, 2.0), (0.0, 4.0), (0.0, 8.0), (0.0, 10.0)]
    assert time.slept == [1.0, 2.0, 4.0, 5.0]


def test_honours_retry_after_on_429(receiver: Receiver) -> None:
    """A 429 with Retry-After: 7 is retried after exactly 7 s."""
    receiver.script.append((429, {"Retry-After": "7"}))
    log: list[DeliveryAttempt] = []
    time = VirtualTime()

    async def main() -> None:
        dispatcher = _dispatcher(_webhook(receiver), time, log)
        dispatcher.submit([_notification()])
        await time.settle(dispatcher)

    asyncio.run(main())
    assert time.slept == [7.0]
    assert [(a.attempt, a.ok, a.at) for a in log] == [(1, False, T0), (2, True, T0 + 7 * S)]
    assert "HTTP 429" in log[0].error
    assert len(receiver.bodies) == 2


def test_gives_up_after_max_attempts(receiver: Receiver) -> None:
    """A receiver that keeps failing gets max_attempts tries, then the line is closed."""
    receiver.script += [(502, {})] * 10
    log: list[DeliveryAttempt] = []
    time = VirtualTime()

    async def main() -> Dispatcher:
        dispatcher = _dispatcher(_webhook(receiver), time, log, max_attempts=3)
        dispatcher.submit([_notification()])
        await time.settle(dispatcher)
        return dispatcher

    dispatcher = asyncio.run(main())
    assert [(a.attempt, a.ok) for a in log] == [(1, False), (2, False), (3, False)]
    assert len(receiver.bodies) == 3 and dispatcher.pending == 0


def test_a_newer_notification_supersedes_one_waiting_to_retry(receiver: Receiver) -> None:
    """A resolution arriving during backoff replaces the stale firing; only it is delivered."""
    receiver.script.append((500, {}))
    log: list[DeliveryAttempt] = []
    time = VirtualTime()

    async def main() -> None:
        dispatcher = _dispatcher(_webhook(receiver), time, log)
        dispatcher.submit([_notification()])
        await time.settle(dispatcher, until_asleep=True)
        dispatcher.submit([_notification(status="resolved")])
        await time.settle(dispatcher)

    asyncio.run(main())
    assert [(a.status, a.attempt, a.ok, a.error) for a in log] == [
        ("firing", 1, False, log[0].error),
        ("firing", 0, False, "superseded by a newer notification"),
        ("resolved", 1, True, ""),
    ]
    assert [b["status"] for b in receiver.bodies] == ["firing", "resolved"]


def test_rate_limit_holds_and_releases_on_refill(receiver: Receiver) -> None:
    """2/h: two go at once, the rest are held and go one per 30 min; nothing is dropped."""
    log: list[DeliveryAttempt] = []
    time = VirtualTime()
    groups = [f"Rule{i}" for i in range(5)]

    async def main() -> None:
        dispatcher = _dispatcher(
            _webhook(receiver), time, log, rate_limits={"ops": parse_rate_limit("2/h")}
        )
        dispatcher.submit(_notification(group) for group in groups)
        await time.settle(dispatcher)

    asyncio.run(main())
    held = [a for a in log if a.attempt == 0]
    sent = [a for a in log if a.ok]
    assert len(held) == 3 and all(a.error == "rate limit 2/h reached: held" for a in held)
    assert sorted(a.at - T0 for a in sent) == [0, 0, 30 * M, 60 * M, 90 * M]
    assert sorted(b["groupLabels"]["alertname"] for b in receiver.bodies) == groups


def test_a_held_notification_is_superseded_by_the_groups_newer_state(receiver: Receiver) -> None:
    """Over the limit, a firing then its resolution for one group: only the resolution is sent."""
    log: list[DeliveryAttempt] = []
    time = VirtualTime()

    async def main() -> None:
        dispatcher = _dispatcher(
            _webhook(receiver), time, log, rate_limits={"ops": RateLimit(1, 3600 * S)}
        )
        dispatcher.submit([_notification("A"), _notification("B")])
        await time.settle(dispatcher, until_asleep=True)
        dispatcher.submit([_notification("B", status="resolved")])
        await time.settle(dispatcher)

    asyncio.run(main())
    assert [(b["groupLabels"]["alertname"], b["status"]) for b in receiver.bodies] == [
        ("A", "firing"),
        ("B", "resolved"),
    ]
    b_log = [(a.status, a.attempt, a.error) for a in log if "B" in a.group_key]
    assert b_log == [
        ("firing", 0, "rate limit 1/h reached: held"),
        ("firing", 0, "superseded by a newer notification"),
        ("resolved", 1, ""),
    ]
    assert log[-1].at == T0 + 3600 * S


class _Broken:
    name, type = "broken", "test"

    def __init__(self, error: Exception | None = None, hang: bool = False) -> None:
        self.error, self.hang, self.calls = error, hang, 0

    async def send(self, notification: Notification) -> None:
        self.calls += 1
        if self.hang:
            await asyncio.Event().wait()
        if self.error is not None:
            raise self.error


def test_a_notifier_bug_is_recorded_and_not_retried() -> None:
    """An exception other than DeliveryError is recorded once; retrying would not fix it."""
    log: list[DeliveryAttempt] = []
    broken = _Broken(KeyError("summary"))

    async def main() -> None:
        dispatcher = _dispatcher({"ops": broken}, VirtualTime(), log)
        dispatcher.submit([_notification()])
        await dispatcher.drain()

    asyncio.run(main())
    assert broken.calls == 1
    assert [(a.attempt, a.ok, a.error) for a in log] == [(1, False, "KeyError: 'summary'")]


def test_a_hanging_notifier_times_out_and_is_retried() -> None:
    """An attempt past ``timeout`` fails as no answer and counts toward max_attempts."""
    log: list[DeliveryAttempt] = []
    hanging = _Broken(hang=True)
    time = VirtualTime()

    async def main() -> None:
        dispatcher = _dispatcher({"ops": hanging}, time, log, timeout=0.01, max_attempts=2)
        dispatcher.submit([_notification()])
        await time.settle(dispatcher)

    asyncio.run(main())
    assert hanging.calls == 2
    assert [a.error for a in log] == ["no answer within 0.01 s"] * 2


def test_an_unknown_channel_is_recorded() -> None:
    """A notification for a channel without a notifier fails once with a clear error."""
    log: list[DeliveryAttempt] = []

    async def main() -> None:
        dispatcher = _dispatcher({}, VirtualTime(), log)
        dispatcher.submit([_notification()])
        await dispatcher.drain()

    asyncio.run(main())
    assert [(a.attempt, a.ok, a.error) for a in log] == [(1, False, "no channel named 'ops'")]


def test_a_failing_on_attempt_does_not_stop_delivery(receiver: Receiver) -> None:
    """An exception in the attempt callback is logged; the notification is still delivered."""

    def explode(attempt: DeliveryAttempt) -> None:
        raise RuntimeError("database is locked")

    async def main() -> None:
        dispatcher = Dispatcher(_webhook(receiver), on_attempt=explode)
        dispatcher.submit([_notification()])
        await dispatcher.drain()

    asyncio.run(main())
    assert len(receiver.bodies) == 1


def test_aclose_cancels_what_is_waiting() -> None:
    """At shutdown, lines held by the rate limit are cancelled and the dispatcher is empty."""
    log: list[DeliveryAttempt] = []
    time = VirtualTime()
    quiet = _Broken()

    async def main() -> Dispatcher:
        dispatcher = _dispatcher(
            {"ops": quiet}, time, log, rate_limits={"ops": RateLimit(1, 3600 * S)}
        )
        dispatcher.submit([_notification("A"), _notification("B")])
        await time.settle(dispatcher, until_asleep=True)
        await dispatcher.aclose()
        return dispatcher

    assert asyncio.run(main()).pending == 0
    assert quiet.calls == 1


@pytest.mark.parametrize(
    ("text", "count", "seconds", "shown"),
    [
        ("20/h", 20, 3600, "20/h"),
        ("5/10m", 5, 600, "5/10m"),
        ("5 / 10min", 5, 600, "5/10m"),
        ("100/d", 100, 86400, "100/d"),
        ("1/30s", 1, 30, "1/30s"),
        ("3/90s", 3, 90, "3/90s"),
    ],
)
def test_parse_rate_limit(text: str, count: int, seconds: int, shown: str) -> None:
    """Counts per unit (s, m/min, h, d), optionally several units, print back tidily."""
    limit = parse_rate_limit(text)
    assert (limit.count, limit.period) == (count, seconds * S)
    assert str(limit) == shown


@pytest.mark.parametrize("text", ["", "20", "20/week", "0/h", "5/0m", "h/20", "-1/h"])
def test_parse_rate_limit_rejects_nonsense(text: str) -> None:
    """A malformed or zero rate limit raises ValueError naming the field."""
    with pytest.raises(ValueError, match="rate_limit"):
        parse_rate_limit(text)


def test_delivery_error_without_a_message_is_named() -> None:
    """An empty DeliveryError still leaves a readable error in the log."""
    log: list[DeliveryAttempt] = []

    async def main() -> None:
        dispatcher = _dispatcher(
            {"ops": _Broken(DeliveryError(""))}, VirtualTime(), log, max_attempts=1
        )
        dispatcher.submit([_notification()])
        await dispatcher.drain()

    asyncio.run(main())
    assert [a.error for a in log] == ["DeliveryError"]
