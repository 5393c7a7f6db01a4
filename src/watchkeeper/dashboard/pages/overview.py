"""Overview: the project at a glance (event rate, span latency, top events, slowest spans)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from watchkeeper.dashboard import login
from watchkeeper.dashboard.pages.chart import chart
from watchkeeper.dashboard.pages.table import Column, Table
from watchkeeper.dashboard.pages.view import TABLE_ROWS, View, ViewDep, render_page
from watchkeeper.query import catalog

if TYPE_CHECKING:
    from watchkeeper.store.base import Store

router = APIRouter()

TOP_EVENTS = (Column("Name", "name"), Column("Count", "count", "count"),
              Column("Users", "users", "count"))  # fmt: skip
SLOWEST_SPANS = (
    Column("Name", "name"), Column("Count", "count", "count"), Column("p50 ms", "p50_ns", "ms"),
    Column("p95 ms", "p95_ns", "ms"), Column("p99 ms", "p99_ns", "ms"),
    Column("Errors", "errors", "count", alert=True),
)  # fmt: skip


def overview_data(store: Store, view: View) -> dict[str, Any]:
    """Event rate, span latency percentiles, the top events and the slowest spans."""
    events = catalog.run(store, "events.per_bucket", **view.window, bucket=view.bucket)
    spans = catalog.run(store, "spans.latency_per_bucket", **view.window, bucket=view.bucket)
    latency_ms = {"p50_ns": "p50", "p95_ns": "p95", "p99_ns": "p99"}
    top = catalog.run(store, "events.by_name", **view.window, limit=TABLE_ROWS)
    slowest = catalog.run(store, "spans.slowest", **view.window, limit=TABLE_ROWS)
    return {
        "event_total": sum(row["count"] for row in events),
        "span_total": sum(row["count"] for row in spans),
        "event_chart": chart(
            view, events, {"count": "events"}, name="event_rate", kind="bars", fill=0
        ),
        "latency_chart": chart(view, spans, latency_ms, name="span_latency", unit="ms", scale=1e-6),
        "top_events": Table("top_events", TOP_EVENTS, top),
        "slowest_spans": Table("slowest_spans", SLOWEST_SPANS, slowest),
    }


@router.get("/")
def overview(request: Request, view: ViewDep) -> Response:
    """The project at a glance."""
    store = login.services(request).store
    return render_page(request, view, "overview.html", overview_data(store, view))


@router.get("/partials/overview")
def overview_live(request: Request, view: ViewDep) -> Response:
    """The Overview's live part, for htmx."""
    store = login.services(request).store
    return render_page(request, view, "partials/overview.html", overview_data(store, view))
