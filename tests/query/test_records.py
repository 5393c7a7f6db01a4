"""Record queries: raw lists and counts of any kind, and the services that sent them."""

from __future__ import annotations

from tests.conftest import make_event, make_span

from watchkeeper.query import catalog
from watchkeeper.store.base import Store

NOW = 1_800_000_000_000_000_000
WINDOW = {"project": 1, "since": NOW, "until": NOW + 3600 * 10**9}


def test_list_and_count_are_newest_first_in_the_window(store: Store) -> None:
    """records.list.<kind> is newest first and records.count.<kind> counts the window only."""
    store.write([(1, [make_event("a", ts=NOW + 1), make_event("b", ts=NOW + 2),
                      make_event("old", ts=NOW - 1)])])  # fmt: skip
    rows = catalog.run(store, "records.list.event", **WINDOW, limit=10)
    assert [r["name"] for r in rows] == ["b", "a"]
    assert catalog.run(store, "records.count.event", **WINDOW) == [{"count": 2}]


def test_services_busiest_first_without_blank_or_other_projects(store: Store) -> None:
    """records.services.<kind> lists named services of one project by record count."""
    store.write([
        (1, [make_span(ts=NOW + i, service="api") for i in range(3)]),
        (1, [make_span(ts=NOW + 5, service="worker"), make_span(ts=NOW + 6)]),
        (2, [make_span(ts=NOW + 7, service="elsewhere")]),
    ])  # fmt: skip
    rows = catalog.run(store, "records.services.span", **WINDOW, limit=10)
    assert rows == [{"service": "api", "count": 3}, {"service": "worker", "count": 1}]
    assert catalog.run(store, "records.services.span", **WINDOW, limit=1) == rows[:1]
    assert catalog.run(store, "records.services.log", **WINDOW, limit=10) == []
