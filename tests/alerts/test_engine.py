"""The rule engine over a real telemetry store and metadata store: states and transitions,
``for``, ``keep_firing_for``, no-data and error modes, issue rules, anomalies."""

from __future__ import annotations

import statistics
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import make_span

from watchkeeper.alerts.engine import Cycle, Engine, Source, month_ns, z_score
from watchkeeper.alerts.rules import Rule, parse_rule
from watchkeeper.errors.issues import Occurrence
from watchkeeper.meta.alerts import AlertStore
from watchkeeper.meta.store import MetaStore
from watchkeeper.records import Error, Span
from watchkeeper.store.duckdb import DuckDBStore

S = 10**9
MIN = 60 * S
T0 = int(datetime(2026, 11, 2, 12, 0, tzinfo=UTC).timestamp()) * S
WEEK = 7 * 86_400 * S


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def meta(tmp_path: Path) -> Iterator[MetaStore]:
    store = MetaStore(f"sqlite:///{tmp_path / 'meta.sqlite3'}", clock=Clock())
    store.migrate()
    store.ensure_project("default")
    yield store
    store.close()


@pytest.fixture
def alerts(meta: MetaStore) -> AlertStore:
    return AlertStore(meta)


def requests(store: DuckDBStore, at: int, ok: int, failed: int, service: str = "api",
             duration_ms: float = 10.0) -> None:  # fmt: skip
    """Write server spans at ``at``: ``ok`` answered 200 and ``failed`` answered 500."""
    spans: list[Span] = []
    for n in range(ok + failed):
        status = 500 if n < failed else 200
        spans.append(make_span("GET /x", ts=at + n, service=service, span_kind="server",
                               duration_ms=duration_ms,
                               attributes={"http.response.status_code": status}))  # fmt: skip
    store.write([(1, spans)])


def rule(**fields: Any) -> Rule:
    base = {"name": "HighErrorRate", "query": "signals.requests", "value": "error_pct",
            "threshold": 5, "window": "1m"}  # fmt: skip
    return parse_rule({**base, **fields})


def run(engine: Engine, rules: Sequence[Rule], at: int, store: Any, alerts: AlertStore) -> Cycle:
    return engine.evaluate([(1, r) for r in rules], at, Source(store, alerts))


def moves(cycle: Cycle) -> list[tuple[str, str]]:
    return [(t.from_state, t.to_state) for t in cycle.transitions]


def test_pending_then_firing_after_for_then_resolved(
    store: DuckDBStore, alerts: AlertStore
) -> None:
    """Above the threshold an instance is pending, fires once it held for `for`, and resolves
    when the condition stops; every transition is reported."""
    for minute in range(3):
        requests(store, T0 + minute * MIN - 30 * S, ok=90, failed=10)
    engine, high = Engine(), rule(**{"for": "2m"})
    first = run(engine, [high], T0, store, alerts)
    assert moves(first) == [("inactive", "pending")]
    assert first.alerts[1][0].state == "pending"
    assert first.alerts[1][0].value == pytest.approx(10.0)
    assert first.alerts[1][0].labels == {"alertname": "HighErrorRate"}
    assert moves(run(engine, [high], T0 + MIN, store, alerts)) == []
    fired = run(engine, [high], T0 + 2 * MIN, store, alerts)
    assert moves(fired) == [("pending", "firing")]
    assert fired.alerts[1][0].state == "firing"
    assert fired.alerts[1][0].starts_at == T0
    requests(store, T0 + 3 * MIN - 30 * S, ok=100, failed=0)
    resolved = run(engine, [high], T0 + 3 * MIN, store, alerts)
    assert moves(resolved) == [("firing", "resolved")]
    assert resolved.alerts[1][0].ends_at == T0 + 3 * MIN
    assert resolved.removed == [fired.alerts[1][0].fingerprint]
    assert engine.instances == {}


def test_pending_that_stops_goes_back_to_inactive(store: DuckDBStore, alerts: AlertStore) -> None:
    """A condition that stops before `for` elapsed never fires."""
    requests(store, T0 - 30 * S, ok=90, failed=10)
    requests(store, T0 + MIN - 30 * S, ok=100, failed=0)
    engine, high = Engine(), rule(**{"for": "5m"})
    run(engine, [high], T0, store, alerts)
    assert moves(run(engine, [high], T0 + MIN, store, alerts)) == [("pending", "inactive")]


def test_without_for_fires_at_once_in_one_transition(
    store: DuckDBStore, alerts: AlertStore
) -> None:
    """A rule without `for` fires on its first true evaluation: inactive → firing."""
    requests(store, T0 - 30 * S, ok=90, failed=10)
    assert moves(run(Engine(), [rule()], T0, store, alerts)) == [("inactive", "firing")]


def test_keep_firing_for_holds_through_a_gap(store: DuckDBStore, alerts: AlertStore) -> None:
    """After the condition stops, the alert keeps firing for keep_firing_for, then resolves
    (Prometheus: resolved once now - last true >= keep_firing_for)."""
    requests(store, T0 - 30 * S, ok=90, failed=10)
    for minute in (1, 2, 3):
        requests(store, T0 + minute * MIN - 30 * S, ok=100, failed=0)
    engine, high = Engine(), rule(keep_firing_for="2m")
    run(engine, [high], T0, store, alerts)
    kept = run(engine, [high], T0 + MIN, store, alerts)
    assert moves(kept) == []
    assert kept.alerts[1][0].state == "firing"
    assert moves(run(engine, [high], T0 + 2 * MIN, store, alerts)) == [("firing", "resolved")]


def test_by_makes_one_instance_per_group(store: DuckDBStore, alerts: AlertStore) -> None:
    """`by` labels each row; only the groups over the threshold alert, each with its labels
    and templated annotations."""
    requests(store, T0 - 30 * S, ok=80, failed=20, service="api")
    requests(store, T0 - 30 * S, ok=99, failed=1, service="web")
    high = rule(by=["service"], labels={"team": "{{ $labels.service }}-team"},
                annotations={"summary": "{{ $labels.service }} at {{ $value }}% (> {{ $threshold }})"})  # fmt: skip
    cycle = run(Engine(), [high], T0, store, alerts)
    [alert] = cycle.alerts[1]
    assert alert.labels == {"alertname": "HighErrorRate", "service": "api", "team": "api-team"}
    assert alert.annotations == {"summary": "api at 20% (> 5)"}


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("NoData", [{"alertname": "HighErrorRate", "alertstate": "NoData"}]),
        ("Alerting", [{"alertname": "HighErrorRate"}]),
        ("OK", []),
    ],
)
def test_no_data_modes(store: DuckDBStore, alerts: AlertStore, mode: str,
                       expected: list[dict[str, str]]) -> None:  # fmt: skip
    """No rows (no requests at all) is NoData: its own instance by default, the rule's
    instance with Alerting, nothing with OK; the rule's health says nodata."""
    cycle = run(Engine(), [rule(no_data=mode)], T0, store, alerts)
    assert [dict(a.labels) for a in cycle.alerts[1]] == expected
    assert all(a.state == "firing" for a in cycle.alerts[1])
    assert [h.health for h in cycle.health] == ["nodata"]


def test_no_data_keep_last_keeps_a_firing_alert(store: DuckDBStore, alerts: AlertStore) -> None:
    """KeepLast leaves a firing instance firing while the data is missing."""
    requests(store, T0 - 30 * S, ok=90, failed=10)
    engine, high = Engine(), rule(no_data="KeepLast")
    run(engine, [high], T0, store, alerts)
    later = run(engine, [high], T0 + 10 * MIN, store, alerts)
    assert moves(later) == []
    assert [a.state for a in later.alerts[1]] == ["firing"]


def test_no_data_honours_for_and_resolves_when_data_returns(
    store: DuckDBStore, alerts: AlertStore
) -> None:
    """The NoData instance goes through pending like any other and resolves with data."""
    engine, high = Engine(), rule(**{"for": "1m"})
    assert moves(run(engine, [high], T0, store, alerts)) == [("inactive", "pending")]
    assert moves(run(engine, [high], T0 + MIN, store, alerts)) == [("pending", "firing")]
    requests(store, T0 + 2 * MIN - 30 * S, ok=100, failed=0)
    assert moves(run(engine, [high], T0 + 2 * MIN, store, alerts)) == [("firing", "resolved")]


@pytest.mark.parametrize(("mode", "fires"), [("Error", True), ("Alerting", True), ("OK", False)])
def test_error_modes(store: DuckDBStore, alerts: AlertStore, mode: str, fires: bool) -> None:
    """A query that cannot give the rule's value is an error: an Error instance carrying the
    message by default; the rule's health is error either way."""
    requests(store, T0 - 30 * S, ok=90, failed=10)
    broken = rule(value="error_rate", on_error=mode)
    cycle = run(Engine(), [broken], T0, store, alerts)
    assert [h.health for h in cycle.health] == ["error"]
    assert "value: signals.requests has no column 'error_rate'" in cycle.health[0].error
    assert bool(cycle.alerts[1]) is fires
    if mode == "Error":
        [alert] = cycle.alerts[1]
        assert alert.labels["alertstate"] == "Error"
        assert alert.annotations["error"] == cycle.health[0].error


def test_budget_threshold_is_prorated_to_the_window(
    store: DuckDBStore, alerts: AlertStore, meta: MetaStore
) -> None:
    """`threshold: {budget: f}` compares with f * the monthly budget * window / month; without
    a budget the rule is in error."""
    spend = parse_rule({"name": "Spend", "query": "signals.spans", "value": "count",
                        "window": "1d", "threshold": {"budget": 0.5}, "on_error": "OK"})  # fmt: skip
    assert [h.error for h in run(Engine(), [spend], T0, store, alerts).health] == [
        "threshold: the project has no monthly LLM budget; set one first"
    ]
    meta.set_budget(1, 3000.0)
    limit = 0.5 * 3000.0 * 86_400 * S / month_ns(T0)
    assert limit == pytest.approx(50.0)  # November has 30 days
    requests(store, T0 - MIN, ok=51, failed=0)
    [alert] = run(Engine(), [spend], T0, store, alerts).alerts[1]
    assert alert.value == 51


def test_interval_skips_evaluations_but_keeps_alerts(
    store: DuckDBStore, alerts: AlertStore
) -> None:
    """A rule with its own interval is not evaluated before it is due; its alerts stay
    current for the policy."""
    requests(store, T0 - 30 * S, ok=90, failed=10)
    engine, high = Engine(), rule(interval="5m")
    run(engine, [high], T0, store, alerts)
    skipped = run(engine, [high], T0 + MIN, store, alerts)
    assert skipped.health == []
    assert [a.state for a in skipped.alerts[1]] == ["firing"]
    assert [h.rule for h in run(engine, [high], T0 + 5 * MIN, store, alerts).health] == [
        "HighErrorRate"
    ]


def test_removed_or_disabled_rules_resolve(store: DuckDBStore, alerts: AlertStore) -> None:
    """Alerts of a rule that was deleted or disabled resolve at the next cycle."""
    requests(store, T0 - 30 * S, ok=90, failed=10)
    engine, high = Engine(), rule()
    run(engine, [high], T0, store, alerts)
    disabled = rule(enabled=False)
    assert moves(run(engine, [disabled], T0 + MIN, store, alerts)) == [("firing", "resolved")]


def test_queries_are_shared_within_a_cycle(store: DuckDBStore, alerts: AlertStore) -> None:
    """Rules asking the same query, window and parameters run it once per cycle."""
    requests(store, T0 - 30 * S, ok=90, failed=10)
    rules = [rule(name=f"R{n}", threshold=n) for n in range(10)]
    source = Source(store, alerts)
    cycle = Engine().evaluate([(1, r) for r in rules], T0, source)
    assert source.queries_run == 1
    assert len(cycle.alerts[1]) == 10  # 10 % errors is above 0..9


def _occurrence(fingerprint: str, ts: int, release: str = "1.0") -> Occurrence:
    return Occurrence(fingerprint=fingerprint, grouping_key=fingerprint, title=f"{fingerprint} failed",
                      type="ValueError", culprit="app in f", level="error", severity="major",
                      ts=ts, release=release)  # fmt: skip


def test_new_issue_fires_once_per_issue_and_resolves_after_its_window(
    store: DuckDBStore, alerts: AlertStore, meta: MetaStore
) -> None:
    """A new issue (first seen within the window) fires with its id and title as labels, and
    resolves when it is older than the window; an old issue never fires."""
    meta.record_occurrences(1, [_occurrence("old", T0 - 2 * 3600 * S)])
    ids = meta.record_occurrences(1, [_occurrence("fresh", T0 - MIN)])
    new = parse_rule({"name": "NewIssue", "kind": "new_issue", "window": "1h",
                      "annotations": {"summary": "New: {{ $labels.title }}"}})  # fmt: skip
    engine = Engine()
    cycle = run(engine, [new], T0, store, alerts)
    [alert] = cycle.alerts[1]
    assert alert.labels["issue_id"] == str(ids["fresh"])
    assert alert.annotations == {"summary": "New: fresh failed"}
    assert moves(cycle) == [("inactive", "firing")]
    assert moves(run(engine, [new], T0 + 30 * MIN, store, alerts)) == []
    assert moves(run(engine, [new], T0 + 60 * MIN, store, alerts)) == [("firing", "resolved")]


def test_regressed_issue_fires_until_its_status_changes(
    store: DuckDBStore, alerts: AlertStore, meta: MetaStore
) -> None:
    """An issue that regressed fires; it resolves when someone sets it unresolved (or any
    status other than regressed)."""
    clock: Clock = meta._clock  # type: ignore[assignment]
    ids = meta.record_occurrences(1, [_occurrence("bug", T0 - 3600 * S)])
    clock.now = datetime(2026, 11, 2, 11, 30, tzinfo=UTC)
    meta.set_issue_status(1, ids["bug"], "resolved")
    meta.record_occurrences(1, [_occurrence("bug", T0 - 10 * MIN)])
    assert meta.issue(1, ids["bug"]).status == "regressed"  # type: ignore[union-attr]
    regressed = parse_rule({"name": "Regressed", "kind": "issue_regressed"})
    engine = Engine()
    assert moves(run(engine, [regressed], T0, store, alerts)) == [("inactive", "firing")]
    meta.set_issue_status(1, ids["bug"], "unresolved")
    assert moves(run(engine, [regressed], T0 + MIN, store, alerts)) == [("firing", "resolved")]


def test_regression_replayed_fires_from_its_first_event_after_the_fix(
    store: DuckDBStore, alerts: AlertStore, meta: MetaStore
) -> None:
    """Replaying the past, a regressed issue fires only from the first error after it was
    resolved (the telemetry store knows when that was)."""
    clock: Clock = meta._clock  # type: ignore[assignment]
    ids = meta.record_occurrences(1, [_occurrence("bug", T0 - 3600 * S)])
    clock.now = datetime(2026, 11, 2, 11, 30, tzinfo=UTC)
    meta.set_issue_status(1, ids["bug"], "resolved")
    meta.record_occurrences(1, [_occurrence("bug", T0 + 10 * MIN)])
    store.write([(1, [Error(id="e1", ts=T0 + 10 * MIN, type="ValueError", issue_id=ids["bug"])])])
    regressed = parse_rule({"name": "Regressed", "kind": "issue_regressed"})
    engine = Engine()
    assert moves(run(engine, [regressed], T0, store, alerts)) == []
    assert moves(run(engine, [regressed], T0 + 11 * MIN, store, alerts)) == [("inactive", "firing")]


def test_anomaly_against_the_same_hour_of_previous_weeks(
    store: DuckDBStore, alerts: AlertStore
) -> None:
    """The value is compared with the same window 1..N weeks back: firing when its z-score is
    above z, with $z and $baseline in the annotations; quiet when it is usual."""
    baseline = [40, 50, 60, 50]
    for week, count in enumerate(baseline, start=1):
        requests(store, T0 - week * WEEK - 30 * S, ok=count, failed=0)
    requests(store, T0 - 30 * S, ok=90, failed=0)
    spike = parse_rule({"name": "TrafficSpike", "kind": "anomaly", "query": "signals.requests",
                        "value": "count", "window": "1m", "z": 3,
                        "annotations": {"why": "z={{ $z | printf \"%.2f\" }} vs {{ $baseline }}"}})  # fmt: skip
    expected = (90 - statistics.fmean(baseline)) / statistics.stdev(baseline)
    assert expected == pytest.approx(4.899, abs=1e-3)
    [alert] = run(Engine(), [spike], T0, store, alerts).alerts[1]
    assert alert.value == 90
    assert alert.annotations == {"why": f"z={expected:.2f} vs 50"}
    calm = parse_rule({**spike.definition, "z": 5})
    assert run(Engine(), [calm], T0, store, alerts).alerts[1] == []


def test_anomaly_needs_enough_baseline(store: DuckDBStore, alerts: AlertStore) -> None:
    """With fewer baseline weeks holding a value than min_baseline, nothing is anomalous yet
    (a latency has no value in a week without requests; a count would be 0 there)."""
    requests(store, T0 - WEEK - 30 * S, ok=10, failed=0, duration_ms=10)
    requests(store, T0 - 2 * WEEK - 30 * S, ok=10, failed=0, duration_ms=11)
    requests(store, T0 - 30 * S, ok=10, failed=0, duration_ms=900)
    slow = parse_rule({"name": "Slow", "kind": "anomaly", "query": "signals.requests",
                       "value": "p95_ms", "window": "1m", "min_baseline": 3})  # fmt: skip
    assert run(Engine(), [slow], T0, store, alerts).alerts[1] == []
    requests(store, T0 - 3 * WEEK - 30 * S, ok=10, failed=0, duration_ms=12)
    assert [a.value for a in run(Engine(), [slow], T0, store, alerts).alerts[1]] == [900.0]


def test_z_score_of_a_flat_baseline() -> None:
    """A baseline that never varied makes any change infinitely unusual, and no change 0."""
    assert z_score(5.0, [5.0, 5.0]) == 0.0
    assert z_score(6.0, [5.0, 5.0]) == float("inf")
    assert z_score(4.0, [5.0, 5.0]) == float("-inf")


def test_fingerprints_are_stable_across_engines(store: DuckDBStore, alerts: AlertStore) -> None:
    """The same rule and labels give the same fingerprint in a new engine (a restart)."""
    requests(store, T0 - 30 * S, ok=90, failed=10)
    first = run(Engine(), [rule()], T0, store, alerts).alerts[1][0]
    again = run(Engine(), [rule()], T0, store, alerts).alerts[1][0]
    assert first.fingerprint == again.fingerprint
    assert len(first.fingerprint) == 64
