"""Traces: the newest traces of the window, narrowed by service, root span, errors and
duration; each links to its waterfall (trace.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Final

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from watchkeeper.dashboard import login
from watchkeeper.dashboard.pages.table import Column, Table
from watchkeeper.dashboard.pages.view import (
    View,
    ViewDep,
    render_page,
    services_of,
)
from watchkeeper.query import catalog

if TYPE_CHECKING:
    from watchkeeper.store.base import Store

router = APIRouter()

TRACE_ROWS: Final = 50
TRACES = (
    Column("Root span", "root_name", link="trace_url"), Column("Service", "root_service"),
    Column("Start", "start_ts", "time"), Column("Duration ms", "duration_ns", "ms"),
    Column("Spans", "spans", "count"), Column("Services", "services", "count"),
    Column("Errors", "errors", "count", alert=True), Column("Trace", "trace_id", "id"),
)  # fmt: skip


@dataclass(frozen=True)
class TraceFilters:
    service: str = ""
    name: str = ""
    errors: bool = False
    min_ms: float | None = None
    problems: tuple[str, ...] = ()

    @property
    def params(self) -> dict[str, Any]:
        """traces.list's filter parameters."""
        return {
            "service": self.service or None,
            "name": self.name or None,
            "errors": True if self.errors else None,
            "min_duration_ns": None if self.min_ms is None else int(self.min_ms * 1e6),
        }

    @property
    def query(self) -> dict[str, str]:
        minimum = "" if self.min_ms is None else f"{self.min_ms:g}"
        return {"service": self.service, "name": self.name, "errors": "on" if self.errors else "",
                "min_ms": minimum}  # fmt: skip


def trace_filters(
    service: str = "", name: str = "", errors: str = "", min_ms: str = ""
) -> TraceFilters:
    """Dependency: the Traces filters from the query string; a bad one is ignored and said."""
    problems = []
    minimum = None
    if min_ms:
        try:
            minimum = float(min_ms)
        except ValueError:
            minimum = -1.0
        if not 0 <= minimum < 1e12:
            problems.append(f"Minimum duration {min_ms!r} is not a number of ms; ignored.")
            minimum = None
    if len(service) > 256 or len(name) > 256:
        problems.append("Service and root span names are at most 256 characters; ignored.")
    return TraceFilters(
        service=service if len(service) <= 256 else "",
        name=name if len(name) <= 256 else "",
        errors=bool(errors),
        min_ms=minimum,
        problems=tuple(problems),
    )


FiltersDep = Annotated[TraceFilters, Depends(trace_filters)]


def trace_url(view: View, trace_id: str, at: int) -> str:
    """The trace's page, told when it happened so it looks there first."""
    return view.url(f"/traces/{trace_id}", at=str(at))


def traces_data(store: Store, view: View, filters: TraceFilters) -> dict[str, Any]:
    """The newest traces that started in the window and pass the filters."""
    rows = catalog.run(store, "traces.list", **view.window, **filters.params, limit=TRACE_ROWS)
    for row in rows:
        row["trace_url"] = trace_url(view, row["trace_id"], row["start_ts"])
    return {
        "filters": filters,
        "services": [(s, s) for s in services_of(store, view, "span")],
        "traces": Table("traces", TRACES, rows),
        "limit": TRACE_ROWS,
    }


@router.get("/traces")
def traces(request: Request, view: ViewDep, filters: FiltersDep) -> Response:
    """The list of traces."""
    view = view.on("/traces", **filters.query)
    data = traces_data(login.services(request).store, view, filters)
    return render_page(request, view, "traces.html", data)


@router.get("/partials/traces")
def traces_live(request: Request, view: ViewDep, filters: FiltersDep) -> Response:
    """The Traces page's live part, for htmx."""
    view = view.on("/traces", **filters.query)
    data = traces_data(login.services(request).store, view, filters)
    return render_page(request, view, "partials/traces.html", data)
