"""Logs: search the project's log lines (R-L6), see their volume by severity (R-L8), page back,
tail them live, and go from a line to its trace.

The list is newest first and pages with a keyset (``before_ts`` + ``before_id``: the last line
shown), which stays right while lines arrive. Live tail polls ``/partials/logs/tail`` every two
seconds with the newest line on the page (app.js adds ``after_ts``/``after_id``) and puts what
is newer at the top, under the same filters.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Final

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from watchkeeper.dashboard import login
from watchkeeper.dashboard.pages.chart import chart
from watchkeeper.dashboard.pages.table import Column, Table
from watchkeeper.dashboard.pages.view import View, ViewDep, render_page, services_of
from watchkeeper.query import catalog

if TYPE_CHECKING:
    from watchkeeper.store.base import Store

router = APIRouter()

LEVELS: Final = (
    ("TRACE", 1),
    ("DEBUG", 5),
    ("INFO", 9),
    ("WARN", 13),
    ("ERROR", 17),
    ("FATAL", 21),
)
"""OpenTelemetry's severity ranges by their first number: the minimum-level filter's choices."""

SEVERITY_ALIASES: Final = {"WARNING": "WARN", "CRITICAL": "FATAL", "": "UNSET"}
PAGE_LINES: Final = 100
TAIL_LINES: Final = 200
TRACE_ID: Final = re.compile(r"[0-9a-f]{32}")

LINES = (
    Column("Time", "ts", "time"), Column("Level", "severity_text"), Column("Service", "service"),
    Column("Logger", "logger"), Column("Message", "body"), Column("Trace", "trace_id"),
    Column("Span", "span_id"), Column("Attributes", "attributes", "json"),
)  # fmt: skip
"""The columns of a page of lines, as downloaded (the page shows the attributes on expanding)."""


@dataclass(frozen=True)
class LogFilters:
    """What the reader narrowed the lines to; ``problems`` says what was ignored and why."""

    q: str = ""
    level: int | None = None
    service: str = ""
    logger: str = ""
    trace_id: str = ""
    before_ts: int | None = None
    before_id: str = ""
    tail: bool = False
    problems: tuple[str, ...] = ()

    @property
    def params(self) -> dict[str, Any]:
        """The catalog's filter parameters (logs.search, logs.count, logs.volume_per_bucket)."""
        return {
            "text": self.q or None,
            "level": self.level,
            "service": self.service or None,
            "logger": self.logger or None,
            "trace_id": self.trace_id or None,
        }

    @property
    def query(self) -> dict[str, str]:
        """The filters as URL parameters, for ``view.on``."""
        return {
            "q": self.q,
            "level": "" if self.level is None else str(self.level),
            "service": self.service,
            "logger": self.logger,
            "trace_id": self.trace_id,
            "before_ts": "" if self.before_ts is None else str(self.before_ts),
            "before_id": self.before_id,
            "tail": "on" if self.tail else "",
        }


def log_filters(
    q: str = "",
    level: str = "",
    service: str = "",
    logger: str = "",
    trace_id: str = "",
    before_ts: str = "",
    before_id: str = "",
    tail: str = "",
) -> LogFilters:
    """Dependency: the Logs filters from the query string; a bad one is ignored and said."""
    problems = []
    number: int | None = None
    if level:
        named = dict(LEVELS).get(level.upper())
        number = named if named is not None else int(level) if level.isdigit() else None
        if number is None or not 0 <= number <= 24:
            problems.append(f"Level {level!r} is not a severity (1–24 or a name); ignored.")
            number = None
    trace_id = trace_id.strip().lower()
    if trace_id and not TRACE_ID.fullmatch(trace_id):
        problems.append("A trace id is 32 hexadecimal digits; that filter is ignored.")
        trace_id = ""
    for label, value, limit in (("Search", q, 1024), ("Service", service, 256),
                                ("Logger", logger, 256)):  # fmt: skip
        if len(value) > limit:
            problems.append(f"{label} is longer than {limit} characters; ignored.")
    cursor = int(before_ts) if before_ts.isdigit() and 0 < len(before_id) <= 64 else None
    if tail:
        cursor = None  # a tail starts from the newest line
    return LogFilters(
        q=q if len(q) <= 1024 else "",
        level=number,
        service=service if len(service) <= 256 else "",
        logger=logger if len(logger) <= 256 else "",
        trace_id=trace_id,
        before_ts=cursor,
        before_id=before_id if cursor is not None else "",
        tail=bool(tail),
        problems=tuple(problems),
    )


FiltersDep = Annotated[LogFilters, Depends(log_filters)]


def severity(text: str) -> str:
    """A severity text as the volume chart names it: ``warning`` → ``WARN``."""
    upper = text.upper()
    return SEVERITY_ALIASES.get(upper, upper)


def volume_chart(view: View, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Lines per bucket stacked by severity, the least severe at the bottom."""
    by_bucket: dict[int, dict[str, Any]] = {}
    for row in rows:
        counts = by_bucket.setdefault(row["bucket"], {"bucket": row["bucket"]})
        label = severity(row["severity_text"])
        counts[label] = counts.get(label, 0) + row["count"]
    order = [name for name, _ in LEVELS]
    seen = {label for counts in by_bucket.values() for label in counts if label != "bucket"}
    labels = sorted(seen, key=lambda s: (order.index(s) if s in order else len(order), s))
    columns = {label: label for label in labels}
    return chart(view, list(by_bucket.values()), columns, name="volume", kind="stacked", fill=0)


def with_links(view: View, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Lines with the link to their trace (at the line's span) where they have one."""
    for row in rows:
        if row.get("trace_id"):
            anchor = f"#span-{row['span_id']}" if row.get("span_id") else ""
            row["trace_url"] = view.url(f"/traces/{row['trace_id']}", at=str(row["ts"])) + anchor
    return rows


def logs_data(store: Store, view: View, filters: LogFilters) -> dict[str, Any]:
    """A page of lines (newest first, or older than the cursor), their count and volume."""
    params = filters.params
    total = catalog.run(store, "logs.count", **view.window, **params)[0]["count"]
    volume = catalog.run(
        store, "logs.volume_per_bucket", **view.window, bucket=view.bucket, **params
    )
    cursor = {}
    if filters.before_ts is not None:
        cursor = {"before_ts": filters.before_ts, "before_id": filters.before_id}
    found = catalog.run(
        store, "logs.search", **view.window, **params, **cursor, limit=PAGE_LINES + 1
    )
    lines = with_links(view, found[:PAGE_LINES])
    older = ""
    if len(found) > PAGE_LINES:
        last = lines[-1]
        older = view.here(before_ts=str(last["ts"]), before_id=last["id"], tail="")
    return {
        "filters": filters,
        "levels": [(number, name) for name, number in LEVELS],
        "services": [(s, s) for s in services_of(store, view, "log")],
        "total": total,
        "volume_chart": volume_chart(view, volume),
        "lines": Table("lines", LINES, lines),
        "older_url": older,
        "newest_url": view.here(before_ts="", before_id="") if cursor else "",
        "tail_url": view.partial("logs/tail", before_ts="", before_id="", tail=""),
    }


def _on(view: View, filters: LogFilters) -> View:
    return view.on("/logs", **filters.query)


@router.get("/logs")
def logs(request: Request, view: ViewDep, filters: FiltersDep) -> Response:
    """Search, volume, paging and live tail of the project's log lines."""
    view = _on(view, filters)
    data = logs_data(login.services(request).store, view, filters)
    return render_page(request, view, "logs.html", data)


@router.get("/partials/logs")
def logs_live(request: Request, view: ViewDep, filters: FiltersDep) -> Response:
    """The Logs page's live part, for htmx."""
    view = _on(view, filters)
    data = logs_data(login.services(request).store, view, filters)
    return render_page(request, view, "partials/logs.html", data)


def newer(rows: list[dict[str, Any]], after_ts: int, after_id: str) -> list[dict[str, Any]]:
    """The lines after the cursor (ts, id) in the list's order (newest first)."""
    return [row for row in rows if (row["ts"], row["id"]) > (after_ts, after_id)]


@router.get("/partials/logs/tail")
def logs_tail(
    request: Request,
    view: ViewDep,
    filters: FiltersDep,
    after_ts: str = "",
    after_id: str = "",
) -> Response:
    """Live tail: the lines newer than the newest on the page (``after_ts``, ``after_id``),
    newest first, as table rows to put on top; nothing without a cursor."""
    view = _on(view, filters)
    rows: list[dict[str, Any]] = []
    if after_ts.isdigit() and len(after_id) <= 64:
        cursor = int(after_ts)
        window = {**view.window, "since": max(view.since, min(cursor, view.until - 1))}
        found = catalog.run(
            login.services(request).store, "logs.search", **window, **filters.params,
            limit=TAIL_LINES,
        )  # fmt: skip
        rows = with_links(view, newer(found, cursor, after_id))
    return render_page(request, view, "partials/log_tail.html", {"rows": rows})
