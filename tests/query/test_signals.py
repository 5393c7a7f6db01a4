"""Signals: one row of figures per group over a window, the shape alert rules compare."""

from __future__ import annotations

import pytest
from tests.conftest import make_span

from watchkeeper.query import catalog
from watchkeeper.records import Error, Event, Log, Metric
from watchkeeper.store.base import Store

NOW = 1_800_000_000_000_000_000
MINUTE = 60 * 10**9
WINDOW = {"project": 1, "since": NOW, "until": NOW + MINUTE}


def server(service: str, status: int, ms: float, route: str = "/pay"):  # type: ignore[no-untyped-def]
    return make_span(f"GET {route}", duration_ms=ms, ts=NOW + 1, service=service,
                     span_kind="server", attributes={"http.response.status_code": status,
                                                     "http.route": route})  # fmt: skip


def test_requests_error_rate_and_latency(store: Store) -> None:
    """Server requests: count, errors, error_pct, rate and percentiles in ms, per service."""
    store.write([(1, [*(server("api", 200, ms) for ms in range(1, 10)), server("api", 500, 10),
                      server("web", 200, 100), make_span("internal", ts=NOW + 1)])])  # fmt: skip
    [total] = catalog.run(store, "signals.requests", **WINDOW)
    assert (total["count"], total["errors"]) == (11, 1)
    assert total["error_pct"] == pytest.approx(100 / 11)
    assert total["per_second"] == pytest.approx(11 / 60)
    rows = catalog.run(store, "signals.requests", **WINDOW, group_by="service")
    assert [(r["service"], r["count"], r["error_pct"]) for r in rows] == [
        ("api", 10, 10.0), ("web", 1, 0.0),
    ]  # fmt: skip
    assert rows[1]["p95_ms"] == pytest.approx(100.0)
    [api] = catalog.run(store, "signals.requests", **WINDOW, service="api")
    assert api["p50_ms"] == pytest.approx(5.5)


def test_an_empty_window_is_no_data(store: Store) -> None:
    """Without group_by an empty window is one row of zero count and NULL rates; with it, no
    row at all."""
    [row] = catalog.run(store, "signals.requests", **WINDOW)
    assert (row["count"], row["error_pct"], row["p95_ms"]) == (0, None, None)
    assert catalog.run(store, "signals.requests", **WINDOW, group_by="service,http_route") == []


def test_spans_logs_errors_metrics_events(store: Store) -> None:
    """The other signals: span errors by name, ERROR log volume, error events and users, a
    metric's last value and counter increase, event counts."""
    store.write([(1, [
        make_span("llm.chat", ts=NOW + 1, status="error"), make_span("llm.chat", ts=NOW + 2),
        Log(id="l1", ts=NOW + 1, body="boom", severity_text="ERROR", severity_number=17),
        Log(id="l2", ts=NOW + 2, body="fine", severity_text="INFO", severity_number=9),
        Error(id="e1", ts=NOW + 1, type="ValueError", user_id="u1", issue_id=4),
        Error(id="e2", ts=NOW + 2, type="ValueError", user_id="u2", issue_id=4),
        Metric(id="m1", ts=NOW + 1, name="queue.depth", type="gauge", value=3.0),
        Metric(id="m2", ts=NOW + 2, name="queue.depth", type="gauge", value=7.0),
        Event(id="v1", ts=NOW + 1, name="signup"),
    ])])  # fmt: skip
    [spans] = catalog.run(store, "signals.spans", **WINDOW, group_by="name")
    assert (spans["name"], spans["errors"], spans["error_pct"]) == ("llm.chat", 1, 50.0)
    [logs] = catalog.run(store, "signals.logs", **WINDOW, level=17)
    assert (logs["count"], logs["per_minute"]) == (1, 1.0)
    [errors] = catalog.run(store, "signals.errors", **WINDOW, group_by="issue_id")
    assert (errors["issue_id"], errors["count"], errors["users"]) == (4, 2, 2)
    [metric] = catalog.run(store, "signals.metric", **WINDOW, name="queue.depth")
    assert (metric["last"], metric["max"], metric["increase"], metric["samples"]) == (7, 7, 4, 2)
    [events] = catalog.run(store, "signals.events", **WINDOW, name="signup")
    assert events["count"] == 1


def test_group_by_is_checked(store: Store) -> None:
    """group_by names only known columns (the catalog refuses others before any SQL), and each
    query only its own."""
    with pytest.raises(catalog.QueryError, match="group_by' names an unknown column 'x; drop'"):
        catalog.run(store, "signals.requests", **WINDOW, group_by="x; drop")
    with pytest.raises(ValueError, match="group_by 'logger' is not one of"):
        catalog.run(store, "signals.requests", **WINDOW, group_by="logger")
