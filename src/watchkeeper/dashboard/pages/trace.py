"""One trace: a waterfall of its spans with their attributes and errors, and its logs (R-T3).

The waterfall is server-rendered: one row per span in tree order (a child under its parent,
siblings by start), indented by depth, with an SVG bar whose ``x`` and ``width`` are percentages
of the trace's duration, so every row shares one time axis without any script or inline style.
"""

from __future__ import annotations

import re
import time
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from fastapi import APIRouter, Request
from fastapi.responses import Response

from watchkeeper.dashboard import login
from watchkeeper.dashboard.pages import logs
from watchkeeper.dashboard.pages.table import Column, Table
from watchkeeper.dashboard.pages.view import RANGES, SECOND, View, ViewDep, render_page
from watchkeeper.query import catalog

if TYPE_CHECKING:
    from watchkeeper.store.base import Store

router = APIRouter()

TRACE_LOGS: Final = 500
HOUR: Final = 3600 * SECOND
MIN_BAR: Final = 0.2
"""The narrowest bar, in % of the trace: a 1 µs span in a 10 s trace stays visible."""

TICKS: Final = ((0, "start"), (0.25, "middle"), (0.5, "middle"), (0.75, "middle"), (1, "end"))
"""The waterfall's axis: fractions of the trace and how their labels anchor."""

SPANS = (
    Column("Span", "name"), Column("Service", "service"), Column("Kind", "span_kind"),
    Column("Status", "status"), Column("Start ms", "offset_ns", "ms"),
    Column("Duration ms", "duration_ns", "ms"), Column("Depth", "depth", "count"),
    Column("Span id", "span_id"), Column("Parent id", "parent_span_id"),
    Column("Status message", "status_message"), Column("Attributes", "attributes", "json"),
)  # fmt: skip


@dataclass(frozen=True)
class Bar:
    """One row of the waterfall: the span, its depth in the tree and its bar in % of the trace."""

    span: Mapping[str, Any]
    depth: int
    offset: float
    width: float

    @property
    def error(self) -> bool:
        return self.span["status"] == "error" or (self.span.get("http_status_code") or 0) >= 500

    @property
    def label_at(self) -> tuple[float, str]:
        """Where the duration label goes (x in %, text-anchor): after the bar, else before it."""
        end = self.offset + self.width
        if end <= 80:
            return round(end + 0.5, 3), "start"
        if self.offset >= 20:
            return round(self.offset - 0.5, 3), "end"
        return round(self.offset + 0.5, 3), "inside"


def waterfall(spans: Sequence[Mapping[str, Any]]) -> list[Bar]:
    """The spans in tree order with depth and bar position; a span whose parent is missing (not
    arrived, or in another service's trace part) starts a tree of its own.

    >>> [(b.span["name"], b.depth, b.offset, b.width) for b in waterfall(spans)]  # doctest: +SKIP
    [('POST /chat', 0, 0.0, 100.0), ('llm.chat', 1, 10.0, 80.0)]
    """
    if not spans:
        return []
    start = min(span["ts"] for span in spans)
    total = max(max(span["ts"] + span["duration_ns"] for span in spans) - start, 1)
    ids = {span["span_id"] for span in spans}
    children: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    roots = []
    for span in sorted(spans, key=lambda s: (s["ts"], s["span_id"])):
        parent = span.get("parent_span_id") or ""
        if parent in ids and parent != span["span_id"]:
            children[parent].append(span)
        else:
            roots.append(span)
    bars: list[Bar] = []
    seen: set[str] = set()
    stack = [(root, 0) for root in reversed(roots)]
    while stack:
        span, depth = stack.pop()
        if span["span_id"] in seen:  # a cycle of parent ids: show each span once
            continue
        seen.add(span["span_id"])
        offset = (span["ts"] - start) / total * 100
        width = min(max(span["duration_ns"] / total * 100, MIN_BAR), 100 - offset)
        bars.append(Bar(span, depth, round(offset, 3), round(max(width, 0.0), 3)))
        stack.extend((child, depth + 1) for child in reversed(children[span["span_id"]]))
    # Spans only reachable through a cycle never met a root; list them at the top level.
    bars.extend(
        Bar(s, 0, round((s["ts"] - start) / total * 100, 3), MIN_BAR)
        for s in spans
        if s["span_id"] not in seen
    )
    return bars


def covering_range(start_ns: int) -> str:
    """The shortest time range that still reaches back to ``start_ns``."""
    age = (time.time_ns() - start_ns) / SECOND
    return next((r.key for r in RANGES.values() if r.seconds >= age), "7d")


def _find_spans(store: Store, view: View, trace_id: str, at: int | None) -> list[dict[str, Any]]:
    # Where to look: around `at` (the list and log lines link with it), the page's window, then
    # the longest range; a trace id alone does not say when.
    windows = [(max(at - HOUR, 0), at + HOUR)] if at is not None else []
    windows += [(view.since, view.until), (view.until - RANGES["7d"].seconds * SECOND, view.until)]
    for since, until in windows:
        spans = catalog.run(
            store, "traces.spans", project=view.project.id, since=since, until=until,
            trace_id=trace_id,
        )  # fmt: skip
        if spans:
            return spans
    return []


def trace_data(store: Store, view: View, trace_id: str, at: int | None) -> dict[str, Any]:
    """One trace: the waterfall of its spans, a summary and its log lines, oldest first."""
    spans = _find_spans(store, view, trace_id, at)
    bars = waterfall(spans)
    context: dict[str, Any] = {"trace_id": trace_id, "bars": bars, "found": bool(spans)}
    lines: list[dict[str, Any]] = []
    rows = []
    if spans:
        start = min(span["ts"] for span in spans)
        end = max(span["ts"] + span["duration_ns"] for span in spans)
        rows = [{**bar.span, "offset_ns": bar.span["ts"] - start, "depth": bar.depth}
                for bar in bars]  # fmt: skip
        found = catalog.run(
            store, "logs.search", project=view.project.id, since=max(start - 60 * SECOND, 0),
            until=end + 60 * SECOND, trace_id=trace_id, limit=TRACE_LOGS,
        )  # fmt: skip
        lines = logs.with_links(view, found[::-1])
        total = max(end - start, 1)
        context |= {
            "root": bars[0].span,
            "start": start,
            "duration_ns": end - start,
            "services": sorted({span["service"] for span in spans if span["service"]}),
            "errors": sum(bar.error for bar in bars),
            "ticks": [(f * 100, axis_label(total * f), anchor) for f, anchor in TICKS],
            "logs_url": view.url("/logs", range=covering_range(start), trace_id=trace_id),
        }
    context["spans"] = Table("spans", SPANS, rows)
    context["lines"] = Table("logs", logs.LINES, lines)
    return context


def axis_label(ns: float) -> str:
    """A tick of the waterfall's axis: ``0 ms``, ``12.5 ms``, ``1.25 s``."""
    if ns == 0:
        return "0 ms"
    if ns >= 10 * SECOND:
        return f"{ns / SECOND:,.1f} s"
    if ns >= SECOND:
        return f"{ns / SECOND:.2f} s"
    return f"{login.format_ms(ns)} ms"


def _trace_view(view: View, trace_id: str, at: str) -> tuple[View, str, int | None]:
    trace_id = trace_id.lower()
    moment = int(at) if at.isdigit() and len(at) <= 19 else None
    kept = str(moment) if moment is not None else ""
    return view.on(f"/traces/{trace_id}", "/traces", at=kept), trace_id, moment


def _trace_page(request: Request, view: View, trace_id: str, at: str, name: str) -> Response:
    view, trace_id, moment = _trace_view(view, trace_id, at)
    if not re.fullmatch(r"[0-9a-f]{32}", trace_id):
        context = {"trace_id": trace_id, "found": False, "invalid": True}
        return render_page(request, view, name, context, status_code=404)
    data = trace_data(login.services(request).store, view, trace_id, moment)
    status = 200 if data["found"] else 404
    return render_page(request, view, name, {**data, "invalid": False}, status_code=status)


@router.get("/traces/{trace_id}")
def trace(request: Request, view: ViewDep, trace_id: str, at: str = "") -> Response:
    """One trace: waterfall, span details and the trace's logs."""
    return _trace_page(request, view, trace_id, at, "trace.html")


@router.get("/partials/traces/{trace_id}")
def trace_live(request: Request, view: ViewDep, trace_id: str, at: str = "") -> Response:
    """One trace's live part, for htmx (a trace may still be arriving)."""
    return _trace_page(request, view, trace_id, at, "partials/trace.html")
