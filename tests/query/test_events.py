"""Event queries: counts, names and buckets."""

from __future__ import annotations

from tests.conftest import make_event

from watchkeeper.query import catalog
from watchkeeper.store.base import Store

NOW = 1_800_000_000_000_000_000
MINUTE = 60 * 10**9


def test_event_queries_count_name_and_bucket(store: Store) -> None:
    """events.count, events.by_name and events.per_bucket agree with what was written."""
    events = [make_event("signup", ts=NOW + i * MINUTE, user_id=f"u{i % 2}") for i in range(3)]
    events += [make_event("login", ts=NOW + 30 * 10**9)]
    store.write([(1, events), (2, [make_event("other", ts=NOW)])])
    window = {"project": 1, "since": NOW, "until": NOW + 10 * MINUTE}
    assert catalog.run(store, "events.count", **window) == [{"count": 4}]
    assert catalog.run(store, "events.by_name", **window, limit=10) == [
        {"name": "signup", "count": 3, "users": 2},
        {"name": "login", "count": 1, "users": 0},
    ]
    buckets = catalog.run(store, "events.per_bucket", **window, bucket=MINUTE)
    assert [(b["bucket"], b["count"]) for b in buckets] == [
        (NOW, 2),
        (NOW + MINUTE, 1),
        (NOW + 2 * MINUTE, 1),
    ]
    signups = catalog.run(store, "events.per_bucket", **window, bucket=MINUTE, name="signup")
    assert sum(b["count"] for b in signups) == 3
