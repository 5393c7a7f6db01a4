"""Span queries: latency percentiles per bucket and name, slowest operations."""

from __future__ import annotations

import pytest
from tests.conftest import make_span

from watchkeeper.query import catalog
from watchkeeper.store.base import Store

NOW = 1_800_000_000_000_000_000
MINUTE = 60 * 10**9


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
