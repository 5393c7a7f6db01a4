"""Requests: the HTTP server spans of the project as rate, errors and duration (RED), per bucket
and per route (R-M3), for one service or all; a route's link narrows the charts to it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Final

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from watchkeeper.dashboard import login
from watchkeeper.dashboard.pages.chart import chart
from watchkeeper.dashboard.pages.table import Column, Table
from watchkeeper.dashboard.pages.view import (
    SECOND,
    TABLE_ROWS,
    View,
    ViewDep,
    render_page,
    services_of,
)
from watchkeeper.query import catalog

if TYPE_CHECKING:
    from watchkeeper.store.base import Store

router = APIRouter()

ROUTES: Final = (
    Column("Method", "method"), Column("Route", "route", link="route_url"),
    Column("Count", "count", "count"), Column("Errors", "errors", "count", alert=True),
    Column("Error %", "error_pct", "percent", alert=True), Column("p50 ms", "p50_ns", "ms"),
    Column("p95 ms", "p95_ns", "ms"), Column("p99 ms", "p99_ns", "ms"),
)  # fmt: skip
"""Both route tables: busiest first, and slowest (p95) first."""


@dataclass(frozen=True)
class RequestFilters:
    service: str = ""
    route: str = ""

    @property
    def query(self) -> dict[str, str]:
        return {"service": self.service, "route": self.route}


def request_filters(service: str = "", route: str = "") -> RequestFilters:
    """Dependency: the service and route to narrow to (over-long values are dropped)."""
    return RequestFilters(
        service=service if len(service) <= 256 else "", route=route if len(route) <= 1024 else ""
    )


FiltersDep = Annotated[RequestFilters, Depends(request_filters)]


def error_pct(errors: int, count: int) -> float | None:
    """Errors as a percentage of requests; no value without requests."""
    return errors / count * 100 if count else None


def _routes(view: View, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for row in rows:
        row["error_pct"] = error_pct(row["errors"], row["count"])
        row["route_url"] = view.here(route=row["route"])
    return rows


def requests_data(store: Store, view: View, filters: RequestFilters) -> dict[str, Any]:
    """Request rate, error rate and latency per bucket; the busiest and the slowest routes."""
    service = {"service": filters.service or None}
    per_bucket = catalog.run(
        store, "requests.per_bucket", **view.window, bucket=view.bucket, **service,
        http_route=filters.route or None,
    )  # fmt: skip
    seconds = view.bucket / SECOND
    for row in per_bucket:
        row["rate"] = row["count"] / seconds
        row["error_pct"] = error_pct(row["errors"], row["count"])
    busiest = catalog.run(store, "requests.by_route", **view.window, **service, limit=TABLE_ROWS)
    slowest = catalog.run(
        store, "requests.slowest_routes", **view.window, **service, limit=TABLE_ROWS
    )
    total = sum(row["count"] for row in per_bucket)
    errors = sum(row["errors"] for row in per_bucket)
    latency_ms = {"p50_ns": "p50", "p95_ns": "p95", "p99_ns": "p99"}
    return {
        "filters": filters,
        "services": [(s, s) for s in services_of(store, view, "span")],
        "total": total,
        "errors": errors,
        "error_pct": error_pct(errors, total),
        "rate_chart": chart(
            view,
            per_bucket,
            {"rate": "requests"},
            name="request_rate",
            unit="req/s",
            kind="bars",
            fill=0,
        ),
        "error_chart": chart(
            view, per_bucket, {"error_pct": "errors"}, name="error_rate", unit="%"
        ),
        "latency_chart": chart(view, per_bucket, latency_ms, name="latency", unit="ms", scale=1e-6),
        "routes": Table("routes", ROUTES, _routes(view, busiest)),
        "slowest_routes": Table("slowest_routes", ROUTES, _routes(view, slowest)),
    }


@router.get("/requests")
def requests(request: Request, view: ViewDep, filters: FiltersDep) -> Response:
    """HTTP requests: rate, errors and latency over time and by route."""
    view = view.on("/requests", **filters.query)
    data = requests_data(login.services(request).store, view, filters)
    return render_page(request, view, "requests.html", data)


@router.get("/partials/requests")
def requests_live(request: Request, view: ViewDep, filters: FiltersDep) -> Response:
    """The Requests page's live part, for htmx."""
    view = view.on("/requests", **filters.query)
    data = requests_data(login.services(request).store, view, filters)
    return render_page(request, view, "partials/requests.html", data)
