"""Trace queries: one row per trace with its root, and one trace's spans."""

from __future__ import annotations

from watchkeeper.query import catalog
from watchkeeper.records import Span
from watchkeeper.store.base import Store

NOW = 1_800_000_000_000_000_000
MS = 10**6
WINDOW = {"project": 1, "since": NOW, "until": NOW + 3600 * 10**9}


def span(trace: str, span_id: str, name: str, start_ms: int, duration_ms: int, parent: str | None = None,
         **fields: object) -> Span:  # fmt: skip
    return Span(id=f"{trace}-{span_id}", ts=NOW + start_ms * MS, trace_id=trace * 32, span_id=span_id * 16,
                parent_span_id=parent * 16 if parent else None, name=name, duration_ns=duration_ms * MS,
                **fields)  # type: ignore[arg-type]  # fmt: skip


def seed(store: Store) -> None:
    store.write([(1, [
        span("a", "1", "POST /chat", 0, 900, service="api", span_kind="server"),
        span("a", "2", "llm.chat", 100, 700, "1", service="api", status="error"),
        span("a", "3", "GET /search", 850, 100, "2", service="search", span_kind="server"),
        span("b", "4", "GET /health", 2000, 5, service="api", span_kind="server"),
    ])])  # fmt: skip


def test_list_has_one_row_per_trace_with_root_and_duration(store: Store) -> None:
    """traces.list gives root name and service, span and service counts, duration and errors."""
    seed(store)
    rows = catalog.run(store, "traces.list", **WINDOW, limit=10)
    assert [
        (
            r["trace_id"][0],
            r["root_name"],
            r["root_service"],
            r["spans"],
            r["services"],
            r["errors"],
        )
        for r in rows
    ] == [
        ("b", "GET /health", "api", 1, 1, 0),
        ("a", "POST /chat", "api", 3, 2, 1),
    ]
    assert rows[1]["duration_ns"] == 950 * MS


def test_list_filters(store: Store) -> None:
    """errors, min_duration_ns and name (of the root) narrow the list."""
    seed(store)
    ids = lambda **f: [
        r["trace_id"][0] for r in catalog.run(store, "traces.list", **WINDOW, limit=10, **f)
    ]
    assert ids(errors=True) == ["a"]
    assert ids(min_duration_ns=100 * MS) == ["a"]
    assert ids(name="GET /health") == ["b"]


def test_service_filter_keeps_the_whole_trace(store: Store) -> None:
    """service= lists the traces that service took part in, with their real root and size."""
    seed(store)
    rows = catalog.run(store, "traces.list", **WINDOW, limit=10, service="search")
    assert [(r["trace_id"][0], r["root_name"], r["root_service"], r["spans"]) for r in rows] == [
        ("a", "POST /chat", "api", 3)
    ]


def test_spans_of_one_trace_in_start_order(store: Store) -> None:
    """traces.spans returns that trace's spans only, parents before children."""
    seed(store)
    rows = catalog.run(store, "traces.spans", **WINDOW, trace_id="a" * 32)
    assert [(r["name"], r["parent_span_id"]) for r in rows] == [
        ("POST /chat", None), ("llm.chat", "1" * 16), ("GET /search", "2" * 16),
    ]  # fmt: skip
