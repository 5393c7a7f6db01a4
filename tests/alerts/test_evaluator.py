"""The evaluator task: the rules file reloaded on change, state kept across restarts, the lease
shared by several servers, the task started and stopped in a running loop."""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from tests.conftest import make_span

from watchkeeper.alerts.evaluator import LEASE, Evaluator
from watchkeeper.alerts.rules import parse_rule
from watchkeeper.meta.alerts import AlertStore
from watchkeeper.meta.store import MetaStore
from watchkeeper.store.duckdb import DuckDBStore

S = 10**9
MIN = 60 * S
T0 = int(datetime(2026, 11, 2, 12, 0, tzinfo=UTC).timestamp()) * S


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


RULES = f"""\
channels:
  - {{name: oncall, type: webhook, url: "http://127.0.0.1:{closed_port()}/hook", timeout: 2}}
policy:
  group_wait: 0s
  group_interval: 1m
  repeat_interval: 1h
rules:
  - name: Busy
    query: signals.requests
    value: count
    window: 1m
    threshold: 10
"""


@pytest.fixture
def store(tmp_path: Path) -> Iterator[DuckDBStore]:
    backend = DuckDBStore(tmp_path / "telemetry.duckdb")
    backend.migrate()
    yield backend
    backend.close()


@pytest.fixture
def meta(tmp_path: Path) -> Iterator[MetaStore]:
    store = MetaStore(f"sqlite:///{tmp_path / 'meta.sqlite3'}")
    store.migrate()
    store.ensure_project("default")
    yield store
    store.close()


@pytest.fixture
def rules(tmp_path: Path) -> Path:
    path = tmp_path / "alerts.yml"
    path.write_text(RULES)
    return path


def busy(store: DuckDBStore, at: int, count: int = 20) -> None:
    spans = [make_span("GET /", ts=at + n, span_kind="server") for n in range(count)]
    store.write([(1, spans)])


def evaluator(store: DuckDBStore, meta: MetaStore, rules: Path | None, holder: str) -> Evaluator:
    return Evaluator(store, meta, rules_file=rules, holder=holder, clock=lambda: T0,
                     dispatcher_options={"max_attempts": 1})  # fmt: skip


def test_rules_file_is_synced_and_reloaded_on_change(
    store: DuckDBStore, meta: MetaStore, rules: Path
) -> None:
    """The file's rules land in the metadata store; an edit is picked up at the next cycle; a
    broken edit keeps the previous rules and reports the problem."""
    ev = evaluator(store, meta, rules, "a")
    report = asyncio.run(ev.cycle(now=T0))
    assert report.rules == 1
    assert [r.name for r in AlertStore(meta).rules()] == ["Busy"]
    rules.write_text(RULES.replace("name: Busy", "name: VeryBusy"))
    os.utime(rules, (1, 1))  # a new mtime even within the file system's resolution
    asyncio.run(ev.cycle(now=T0 + MIN))
    assert [r.name for r in AlertStore(meta).rules()] == ["VeryBusy"]
    rules.write_text("rules:\n  - name: Broken\n    window: soon\n")
    os.utime(rules, (2, 2))
    report = asyncio.run(ev.cycle(now=T0 + 2 * MIN))
    assert "alerts.yml:3: rules[0].window: 'soon' is not a duration" in ev.file_error
    assert [r.name for r in AlertStore(meta).rules()] == ["VeryBusy"]
    assert report.rules == 1


def test_cycle_persists_state_and_logs_attempts(
    store: DuckDBStore, meta: MetaStore, rules: Path
) -> None:
    """A firing alert is stored with its history and the policy's state; the failed delivery
    to a closed port is in the attempts log."""
    busy(store, T0 - 30 * S)
    ev = evaluator(store, meta, rules, "a")

    async def once() -> list[str]:
        report = await ev.cycle(now=T0)
        await ev.drain()
        await ev.stop()
        return [n.status for n in report.notifications]

    assert asyncio.run(once()) == ["firing"]
    alerts = AlertStore(meta)
    assert [(i.rule, i.state, i.value) for i in alerts.instances(1)] == [("Busy", "firing", 20.0)]
    assert [h.to_state for h in alerts.history(1)] == ["firing"]
    [attempt] = alerts.attempts(1)
    assert (attempt.channel, attempt.ok) == ("oncall", False)
    assert attempt.error
    snapshot = alerts.policy_snapshot(1)
    assert snapshot is not None
    assert len(snapshot["groups"]) == 1
    [stored] = alerts.rules(1)
    assert (stored.health, stored.last_eval) == ("ok", T0)


def test_a_restarted_evaluator_carries_on_without_repeating(
    store: DuckDBStore, meta: MetaStore, rules: Path
) -> None:
    """A new evaluator (a restart) loads the instances and policy state: the firing alert is
    neither re-fired nor notified again before repeat_interval."""
    for minute in range(5):
        busy(store, T0 + minute * MIN - 30 * S)
    first = evaluator(store, meta, rules, "a")
    asyncio.run(first.cycle(now=T0))
    asyncio.run(first.stop())
    second = evaluator(store, meta, rules, "b")
    reports = [asyncio.run(second.cycle(now=T0 + m * MIN)) for m in (1, 2, 3)]
    assert [(r.holder, r.transitions, r.notifications) for r in reports] == [(True, 0, [])] * 3


def test_only_the_lease_holder_evaluates(store: DuckDBStore, meta: MetaStore, rules: Path) -> None:
    """Two servers on one metadata store: the second waits while the first renews its lease,
    and takes over once the first stopped (released it)."""
    busy(store, T0 - 30 * S)
    one, two = evaluator(store, meta, rules, "one"), evaluator(store, meta, rules, "two")
    assert asyncio.run(one.cycle(now=T0)).holder
    waiting = asyncio.run(two.cycle(now=T0 + 30 * S))
    assert (waiting.holder, waiting.rules) == (False, 0)
    assert AlertStore(meta).lease_holder(LEASE, T0 + 30 * S) == "one"
    asyncio.run(one.stop())
    assert asyncio.run(two.cycle(now=T0 + MIN)).holder


def test_an_expired_lease_is_taken_over(store: DuckDBStore, meta: MetaStore, rules: Path) -> None:
    """A holder that died (no release) loses the lease once it expired."""
    one, two = evaluator(store, meta, rules, "one"), evaluator(store, meta, rules, "two")
    asyncio.run(one.cycle(now=T0))
    assert not asyncio.run(two.cycle(now=T0 + one.lease_ttl - 1)).holder
    assert asyncio.run(two.cycle(now=T0 + one.lease_ttl)).holder


def test_ui_rules_are_evaluated_without_a_file(store: DuckDBStore, meta: MetaStore) -> None:
    """Rules created through the API are evaluated too; with no file there are no channels,
    so nothing is notified but the alert fires."""
    rule = parse_rule({"name": "Busy", "query": "signals.requests", "value": "count",
                       "window": "1m", "threshold": 10})  # fmt: skip
    AlertStore(meta).create_rule(1, rule)
    busy(store, T0 - 30 * S)
    report = asyncio.run(evaluator(store, meta, None, "a").cycle(now=T0))
    assert (report.rules, report.transitions) == (1, 1)
    assert [i.state for i in AlertStore(meta).instances(1)] == ["firing"]


def test_the_task_cycles_until_stopped(store: DuckDBStore, meta: MetaStore, rules: Path) -> None:
    """start() runs cycles every interval in the running loop; stop() ends them and gives the
    lease up."""
    ev = Evaluator(store, meta, rules_file=rules, interval=0.05, holder="task")

    async def main() -> None:
        ev.start()
        await asyncio.sleep(0.5)
        await ev.stop()

    asyncio.run(main())
    [stored] = AlertStore(meta).rules(1)
    assert stored.health == "ok"  # no requests: a count of 0, below the threshold
    assert stored.last_eval > 0
    assert AlertStore(meta).lease_holder(LEASE, 0) is None


def test_missing_rules_file_is_reported(
    store: DuckDBStore, meta: MetaStore, tmp_path: Path
) -> None:
    """A rules file that disappeared is reported; evaluation goes on with the stored rules."""
    ev = evaluator(store, meta, tmp_path / "gone.yml", "a")
    assert asyncio.run(ev.cycle(now=T0)).holder
    assert ev.file_error.endswith("cannot read: No such file or directory")
    assert ev.file_error.startswith(str(tmp_path / "gone.yml"))


def test_file_rules_of_a_project_created_later_are_stored_then(
    store: DuckDBStore, meta: MetaStore, rules: Path
) -> None:
    """A file rule for a project that does not exist yet is stored once the project exists,
    without the file changing."""
    rules.write_text(RULES + "    project: shop\n")
    ev = evaluator(store, meta, rules, "a")
    asyncio.run(ev.cycle(now=T0))
    assert AlertStore(meta).rules() == []
    shop = meta.ensure_project("shop")
    asyncio.run(ev.cycle(now=T0 + MIN))
    assert [(r.project_id, r.name) for r in AlertStore(meta).rules()] == [(shop.id, "Busy")]


def test_alertmanager_channels_get_firing_alerts_every_minute_with_links(
    store: DuckDBStore, meta: MetaStore, tmp_path: Path
) -> None:
    """Firing alerts are posted to an Alertmanager channel again once a minute (so its
    resolve_timeout never resolves them), with a link to the rule under public_url."""
    path = tmp_path / "alerts.yml"
    path.write_text(
        RULES.replace(
            "channels:\n",
            f'channels:\n  - {{name: am, type: alertmanager, url: "http://127.0.0.1:{closed_port()}"}}\n',
        )
        .replace("policy:\n", "policy:\n  channels: [oncall, am]\n  repeat_interval: 4h\n", 1)
        .replace("  repeat_interval: 1h\n", "")
    )
    watcher = Evaluator(store, meta, rules_file=path, holder="a", clock=lambda: T0,
                        external_url="https://wk.example.com",
                        dispatcher_options={"max_attempts": 1})  # fmt: skip

    async def run() -> list[list[str]]:
        sent = []
        for minute in range(4):
            busy(store, T0 + minute * MIN - 30 * S)
            report = await watcher.cycle(now=T0 + minute * MIN)
            sent.append(
                [f"{n.channel}:{n.group_key.endswith(':resend')}" for n in report.notifications]
            )
            if minute == 0:
                urls = {a.generator_url for n in report.notifications for a in n.alerts}
                assert urls == {"https://wk.example.com/alerts/rules/Busy?project=default"}
        await watcher.dispatcher.aclose()
        return sent

    sent = asyncio.run(run())
    # minute 0: the policy's first notification to both channels plus the Alertmanager resend;
    # then only the resend, once a minute, while the policy holds its repeats for 4 h.
    assert sorted(sent[0]) == ["am:False", "am:True", "oncall:False"]
    assert sent[1:] == [["am:True"], ["am:True"], ["am:True"]]
