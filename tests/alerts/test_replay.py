"""Replaying a rule over stored data: episodes with pending, firing and resolved times."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.conftest import make_span

from watchkeeper.alerts.replay import replay
from watchkeeper.alerts.rules import parse_rule
from watchkeeper.meta.alerts import AlertStore
from watchkeeper.meta.store import MetaStore
from watchkeeper.store.duckdb import DuckDBStore

S = 10**9
MIN = 60 * S
T0 = 1_800_000_000 * S // MIN * MIN


@pytest.fixture
def issues(tmp_path: Path) -> Iterator[AlertStore]:
    meta = MetaStore(f"sqlite:///{tmp_path / 'meta.sqlite3'}")
    meta.migrate()
    meta.ensure_project("default")
    yield AlertStore(meta)
    meta.close()


def slow(store: DuckDBStore, start: int, end: int, ms: float) -> None:
    spans = [make_span("GET /", ts=t, span_kind="server", duration_ms=ms,
                       service="api" if n % 2 else "web") for n, t in enumerate(range(start, end, 10 * S))]  # fmt: skip
    store.write([(1, spans)])


def test_episodes_of_a_replay(store: DuckDBStore, issues: AlertStore) -> None:
    """Two slow periods give two episodes per service; a blip shorter than `for` ends without
    firing; an episode still open at the end has no resolution."""
    slow(store, T0, T0 + 60 * MIN, 10)
    slow(store, T0 + 10 * MIN, T0 + 20 * MIN, 900)  # long enough to fire
    slow(store, T0 + 30 * MIN, T0 + 31 * MIN, 900)  # a blip
    slow(store, T0 + 50 * MIN, T0 + 60 * MIN, 900)  # still slow at the end
    rule = parse_rule({"name": "Slow", "query": "signals.requests", "value": "p95_ms",
                       "threshold": 500, "window": "1m", "for": "3m", "by": ["service"]})  # fmt: skip
    seen: list[int] = []
    episodes = replay(rule, 1, store, issues, since=T0 + MIN, until=T0 + 60 * MIN, step=MIN,
                      progress=seen.append)  # fmt: skip
    assert seen == list(range(60))
    api = [e for e in episodes if e.labels["service"] == "api"]
    minute = lambda ns: (ns - T0) // MIN if ns else None
    assert [
        (minute(e.pending_at), minute(e.firing_at), minute(e.resolved_at), minute(e.ended_at))
        for e in api
    ] == [
        (11, 14, 21, None),  # pending at the first wholly slow window, firing 3 min later
        (31, None, None, 32),  # the blip: pending, then back to inactive
        (51, 54, None, None),  # still firing when the replay ends
    ]
    assert api[0].peak == pytest.approx(900.0)


def test_replay_refuses_bad_steps(store: DuckDBStore, issues: AlertStore) -> None:
    """A zero step, an end before the start or too many evaluations are refused."""
    rule = parse_rule({"name": "X", "kind": "new_issue"})
    with pytest.raises(ValueError, match="step: must be longer than 0"):
        replay(rule, 1, store, issues, since=0, until=10, step=0)
    with pytest.raises(ValueError, match="since: must not be after the end"):
        replay(rule, 1, store, issues, since=10, until=0, step=1)
    with pytest.raises(ValueError, match="more than 200,000 evaluations"):
        replay(rule, 1, store, issues, since=0, until=10**9, step=1)
