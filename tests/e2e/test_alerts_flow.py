"""Alerting end to end without waiting: simulated traffic in a real telemetry store, the real
evaluator (engine → policy → dispatcher) cycled with an injected clock, the real webhook
notifier posting to a real HTTP receiver on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import textwrap
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
from tests.conftest import make_span

from watchkeeper.alerts.evaluator import Evaluator
from watchkeeper.alerts.silences import parse_matchers
from watchkeeper.meta.alerts import AlertStore
from watchkeeper.meta.store import MetaStore
from watchkeeper.store.duckdb import DuckDBStore

S = 10**9
MIN = 60 * S
T0 = int(datetime(2026, 11, 2, 12, 0, tzinfo=UTC).timestamp()) * S
STEP = 30 * S


class Hook(BaseHTTPRequestHandler):
    """Records every POST body (JSON) with its path; answers 200."""

    calls: ClassVar[list[tuple[str, dict[str, Any]]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.calls.append((self.path, json.loads(body)))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[str]:
    """A real HTTP server on 127.0.0.1 recording the webhooks it gets."""
    Hook.calls = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def stores(tmp_path: Path) -> Iterator[tuple[DuckDBStore, MetaStore]]:
    store = DuckDBStore(tmp_path / "telemetry.duckdb")
    store.migrate()
    meta = MetaStore(f"sqlite:///{tmp_path / 'meta.sqlite3'}")
    meta.migrate()
    meta.ensure_project("default")
    yield store, meta
    store.close()
    meta.close()


def traffic(store: DuckDBStore, *, bad_from: int, bad_until: int, until: int) -> None:
    """20 requests every 30 s from T0 - 1 min to ``until``; 10 % of them answer 500 while
    ``bad_from <= t < bad_until`` (the incident), none otherwise."""
    spans = []
    for slot in range(T0 - MIN, until, STEP):
        failing = 2 if bad_from <= slot < bad_until else 0
        for n in range(20):
            status = 500 if n < failing else 200
            spans.append(make_span("GET /pay", ts=slot + n * 10**6, service="api",
                                   span_kind="server", attributes={
                                       "http.response.status_code": status,
                                       "http.route": "/pay"}))  # fmt: skip
    store.write([(1, spans)])


def rules_file(tmp_path: Path, url: str, policy: str) -> Path:
    path = tmp_path / "alerts.yml"
    path.write_text(
        textwrap.dedent(f"""\
        channels:
          - {{name: oncall, type: webhook, url: "{url}/oncall", timeout: 5}}
          - {{name: pager, type: webhook, url: "{url}/pager", timeout: 5}}
        policy:
        """)
        + textwrap.indent(textwrap.dedent(policy), "  ")
        + textwrap.dedent("""\
        rules:
          - name: HighErrorRate
            query: signals.requests
            params: {service: api}
            value: error_pct
            window: 1m
            threshold: 5
            for: 2m
            no_data: OK
            labels: {severity: page}
            annotations:
              summary: "{{ $labels.alertname }}: {{ $value }}% of requests fail"
        """)
    )
    return path


POLICY = """\
channels: [oncall]
group_wait: 30s
group_interval: 1m
repeat_interval: 10m
"""


def evaluator(stores: tuple[DuckDBStore, MetaStore], path: Path) -> Evaluator:
    store, meta = stores
    return Evaluator(store, meta, rules_file=path, interval=30, clock=lambda: T0)


def cycles(ev: Evaluator, start: int, end: int) -> dict[int, list[tuple[str, dict[str, Any]]]]:
    """Run a cycle every 30 s from ``start`` to ``end`` (included), delivering in between;
    return the webhooks received after each cycle, by cycle time."""

    async def drive() -> dict[int, list[tuple[str, dict[str, Any]]]]:
        seen: dict[int, list[tuple[str, dict[str, Any]]]] = {}
        for now in range(start, end + 1, STEP):
            before = len(Hook.calls)
            await ev.cycle(now=now)
            await ev.drain()
            if len(Hook.calls) > before:
                seen[now] = Hook.calls[before:]
        await ev.stop()
        return seen

    return asyncio.run(drive())


def test_error_rate_fires_once_repeats_after_repeat_interval_and_resolves(
    stores: tuple[DuckDBStore, MetaStore], receiver: str, tmp_path: Path
) -> None:
    """10 % errors for the `for` duration: exactly one webhook (after group_wait), nothing more
    until repeat_interval, one repeat, then a resolved notification when the errors stop; every
    transition is in the history and every delivery in the attempts log."""
    traffic(stores[0], bad_from=T0, bad_until=T0 + 14 * MIN, until=T0 + 20 * MIN)
    ev = evaluator(stores, rules_file(tmp_path, receiver, POLICY))
    seen = cycles(ev, T0, T0 + 17 * MIN)
    # The 1-minute window first holds only failing slots at T0 + 1m: pending; firing 2 min
    # later (for); told after group_wait (30 s); repeated 10 min after (repeat_interval); the
    # window ending at T0 + 14m30 holds 5 % (not above 5): resolved, told in that cycle's flush.
    told, repeated, resolved_at = T0 + 3 * MIN + STEP, T0 + 13 * MIN + STEP, T0 + 14 * MIN + STEP
    assert sorted(seen) == [told, repeated, resolved_at]
    [(path, first)] = seen[told]
    assert path == "/oncall"
    assert first["status"] == "firing"
    [alert] = first["alerts"]
    assert alert["labels"] == {"alertname": "HighErrorRate", "severity": "page"}
    assert alert["annotations"] == {"summary": "HighErrorRate: 10% of requests fail"}
    assert alert["value"] == 10.0
    [(_, repeat)] = seen[repeated]
    assert repeat["status"] == "firing"
    [(_, resolved)] = seen[resolved_at]
    assert resolved["status"] == "resolved"
    assert resolved["alerts"][0]["endsAt"] == "2026-11-02T12:14:30.000Z"
    alerts = AlertStore(stores[1])
    history = [(h.from_state, h.to_state, h.at) for h in reversed(alerts.history(1))]
    assert history == [
        ("inactive", "pending", T0 + MIN),
        ("pending", "firing", T0 + 3 * MIN),
        ("firing", "resolved", resolved_at),
    ]
    attempts = alerts.attempts(1)
    assert [(a.channel, a.status, a.ok) for a in reversed(attempts)] == [
        ("oncall", "firing", True), ("oncall", "firing", True), ("oncall", "resolved", True),
    ]  # fmt: skip
    assert alerts.instances(1) == []


def test_a_silence_suppresses_the_notification(
    stores: tuple[DuckDBStore, MetaStore], receiver: str, tmp_path: Path
) -> None:
    """While a matching silence is active nothing is sent, though the alert fires; once it
    ends, the still-firing alert is told."""
    traffic(stores[0], bad_from=T0, bad_until=T0 + 20 * MIN, until=T0 + 20 * MIN)
    AlertStore(stores[1]).create_silence(
        1, parse_matchers('alertname="HighErrorRate", severity="page"'), T0, T0 + 8 * MIN,
        created_by="ops@example.com", comment="maintenance",
    )  # fmt: skip
    ev = evaluator(stores, rules_file(tmp_path, receiver, POLICY))
    seen = cycles(ev, T0, T0 + 10 * MIN)
    assert [i.state for i in AlertStore(stores[1]).instances(1)] == ["firing"]
    # The group's flushes fall at T0 + 3m30 + n min: the first after the silence ended tells.
    assert min(seen) == T0 + 8 * MIN + STEP
    assert all(calls[0][1]["status"] == "firing" for calls in seen.values())


def test_an_acknowledgement_stops_repeats_and_escalation(
    stores: tuple[DuckDBStore, MetaStore], receiver: str, tmp_path: Path
) -> None:
    """After someone acknowledges the firing alert there is no repeat and no escalation; its
    resolution is still told."""
    traffic(stores[0], bad_from=T0, bad_until=T0 + 25 * MIN, until=T0 + 30 * MIN)
    policy = POLICY + "escalate:\n  - {after: 6m, channels: [pager]}\n"
    ev = evaluator(stores, rules_file(tmp_path, receiver, policy))
    first = cycles(ev, T0, T0 + 3 * MIN + STEP)
    assert list(first) == [T0 + 3 * MIN + STEP]
    alerts = AlertStore(stores[1])
    [firing] = alerts.instances(1, ["firing"])
    alerts.acknowledge(1, firing.fingerprint, "ana@example.com", T0 + 4 * MIN, "on it")
    later = cycles(ev, T0 + 4 * MIN, T0 + 27 * MIN)
    assert [(at, [(p, c["status"]) for p, c in calls]) for at, calls in later.items()] == [
        (T0 + 25 * MIN + STEP, [("/oncall", "resolved")])
    ]


def test_escalation_fires_after_its_delay(
    stores: tuple[DuckDBStore, MetaStore], receiver: str, tmp_path: Path
) -> None:
    """An unacknowledged firing group also goes to the escalation channel once `after` has
    passed since it fired, and not before; the escalation channel hears the resolution."""
    traffic(stores[0], bad_from=T0, bad_until=T0 + 12 * MIN, until=T0 + 20 * MIN)
    policy = POLICY + "escalate:\n  - {after: 6m, channels: [pager]}\n"
    ev = evaluator(stores, rules_file(tmp_path, receiver, policy))
    seen = cycles(ev, T0, T0 + 15 * MIN)
    pager = sorted((at, c["status"], c["escalation"]) for at, calls in seen.items()
                   for p, c in calls if p == "/pager")  # fmt: skip
    fired_at = T0 + 3 * MIN
    assert pager[0] == (fired_at + 6 * MIN, "firing", 1)
    assert pager[-1][1:] == ("resolved", 1)
    assert len(pager) == 2
