"""The query catalog: named questions, checked parameters, the same answers from every store."""

from __future__ import annotations

import pytest
from tests.conftest import make_event, make_span

from watchkeeper.query import catalog
from watchkeeper.query.catalog import CATALOG, QueryError
from watchkeeper.query.sql import DuckDBDialect
from watchkeeper.store.base import Store

NOW = 1_800_000_000_000_000_000
MINUTE = 60 * 10**9


def test_every_query_builds_sql_with_its_dialects_placeholders() -> None:
    """Each catalog entry builds a statement using only named parameters."""
    for name, query in CATALOG.items():
        params = dict.fromkeys(query.params, 1) | {"until": 10, "bucket": 1}
        statement = catalog.statement(name, DuckDBDialect(), **params)
        assert "$project" in statement.sql and "$since" in statement.sql, name


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"since": 0, "until": 1}, "'project' is required"),
        ({"project": 1, "since": "0", "until": 1}, "'since' must be a whole number"),
        ({"project": 1, "since": 0, "until": 1, "limit": 0}, "'limit' must be"),
        ({"project": 1, "since": 0, "until": 1, "color": "red"}, "unknown parameter 'color'"),
    ],
)
def test_bad_parameters_are_refused_with_their_name(
    params: dict[str, object], message: str
) -> None:
    """A missing, mistyped, out-of-range or unknown parameter raises QueryError naming it."""
    with pytest.raises(QueryError, match=message):
        catalog.statement("events.by_name", DuckDBDialect(), **({"limit": 5} | params))


def test_too_many_buckets_is_refused() -> None:
    """A bucket width that would make thousands of points is refused rather than run."""
    with pytest.raises(QueryError, match="buckets"):
        catalog.statement(
            "events.per_bucket", DuckDBDialect(), project=1, since=0, until=10**9, bucket=1
        )


def test_unknown_query_is_refused() -> None:
    """Asking for a name the catalog lacks raises QueryError."""
    with pytest.raises(QueryError, match="no catalog query"):
        catalog.statement("nope", DuckDBDialect())


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


def test_span_queries_give_interpolated_percentiles(store: Store) -> None:
    """spans.latency_* return p50/p95/p99 of duration per bucket and name; slowest sorts by p95."""
    spans = [make_span("fast", duration_ms=ms, ts=NOW) for ms in range(1, 101)]
    spans += [make_span("slow", duration_ms=1000, ts=NOW + MINUTE, status="error")]
    store.write([(1, spans)])
    window = {"project": 1, "since": NOW, "until": NOW + 2 * MINUTE}
    (fast,) = catalog.run(store, "spans.latency_per_bucket", **window, bucket=MINUTE, name="fast")
    assert fast["count"] == 100
    assert fast["p50_ns"] == pytest.approx(50.5e6)
    assert fast["p95_ns"] == pytest.approx(95.05e6)
    assert fast["p99_ns"] == pytest.approx(99.01e6)
    by_name = catalog.run(store, "spans.latency_by_name_per_bucket", **window, bucket=MINUTE)
    assert [(r["name"], r["count"]) for r in by_name] == [("fast", 100), ("slow", 1)]
    slowest = catalog.run(store, "spans.slowest", **window, limit=5)
    assert [(r["name"], r["errors"]) for r in slowest] == [("slow", 1), ("fast", 0)]
    assert catalog.run(store, "spans.count", **window) == [{"count": 101}]
