"""The dashboard's pages: every page is a route → catalog queries → template, the same way.

The pattern, which every page copies:

1. :func:`resolve_view` (a dependency) resolves what all pages share once: the logged-in user,
   their projects and the chosen one (``?project=``), the time range (``?range=``) as
   ``since``/``until``/``bucket`` in ns, and the live refresh (``?refresh=``).
2. A data function, ``<page>_data(store, view)``, asks the catalog (``catalog.run``) and returns
   the template's context; it is the only place the page touches data.
3. ``GET <path>`` renders ``<page>.html`` with :func:`render_page`: it extends base.html (top
   bar, range picker, refresh toggle) and includes ``partials/<page>.html``.
4. ``GET /partials/<page>`` renders ``partials/<page>.html`` alone: the live part, wrapped in
   the ``live`` macro (partials/macros.html), which htmx swaps in while live refresh is on.
5. One line in :data:`NAV` puts the page in the top bar.

Charts travel as JSON in a ``data-chart`` attribute (see :func:`chart` and the ``chart`` macro);
app.js draws them with uPlot after load and after every swap.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Final
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse

from watchkeeper.dashboard import login
from watchkeeper.meta.store import Project, User
from watchkeeper.query import catalog

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from watchkeeper.store.base import Store

NAV: Final = (
    ("Overview", "/"),
)  # fmt: skip
"""The top bar's links, (title, path), in order. A new page adds one line."""

TABLE_ROWS: Final = 20
SECOND: Final = 1_000_000_000


@dataclass(frozen=True)
class TimeRange:
    key: str
    label: str
    seconds: int


RANGES: Final = {
    r.key: r
    for r in (
        TimeRange("15m", "15 minutes", 15 * 60),
        TimeRange("1h", "1 hour", 3600),
        TimeRange("6h", "6 hours", 6 * 3600),
        TimeRange("24h", "24 hours", 24 * 3600),
        TimeRange("7d", "7 days", 7 * 86_400),
    )
}
DEFAULT_RANGE: Final = "1h"
REFRESH: Final = ("off", "5s", "30s")

# Bucket widths a reader can count in; the smallest that keeps a range at ≤ 120 buckets gives
# every range above 60 to 120 buckets (15m/10s = 90, 1h/30s = 120, 6h/5m = 72, 24h/15m = 96,
# 7d/2h = 84).
BUCKET_SECONDS: Final = (
    1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10_800, 21_600, 43_200, 86_400,
)  # fmt: skip
MAX_BUCKETS: Final = 120


def bucket_seconds(range_seconds: int) -> int:
    """The bucket width for a range: the smallest in :data:`BUCKET_SECONDS` giving ≤ 120 buckets.

    >>> bucket_seconds(3600), bucket_seconds(7 * 86_400)
    (30, 7200)
    """
    return next((w for w in BUCKET_SECONDS if range_seconds / w <= MAX_BUCKETS), BUCKET_SECONDS[-1])


@dataclass(frozen=True)
class View:
    """What every page shows, resolved once per request by :func:`resolve_view`."""

    user: User
    projects: Sequence[tuple[Project, str]]
    project: Project
    role: str
    range: TimeRange
    refresh: str
    since: int
    until: int
    bucket: int

    @property
    def window(self) -> dict[str, int]:
        """The parameters every catalog query takes: ``catalog.run(store, q, **view.window)``."""
        return {"project": self.project.id, "since": self.since, "until": self.until}

    @property
    def buckets(self) -> list[int]:
        """Every bucket start in the window (ns), oldest first."""
        return list(range(self.since, self.until, self.bucket))

    @property
    def bucket_label(self) -> str:
        seconds = self.bucket // SECOND
        for unit, size in (("h", 3600), ("min", 60)):
            if seconds % size == 0:
                return f"{seconds // size} {unit}"
        return f"{seconds} s"

    def url(self, path: str, **changes: str) -> str:
        """``path`` with this view's query (project, range, refresh), with ``changes`` applied.

        >>> view.url("/", range="6h")  # doctest: +SKIP
        '/?project=shop&range=6h'
        """
        query = {"project": self.project.slug, "range": self.range.key, "refresh": self.refresh}
        query.update(changes)
        if query["refresh"] == "off":
            del query["refresh"]
        return f"{path}?{urlencode(query)}"


def resolve_view(
    request: Request,
    user: Annotated[User, Depends(login.require_user)],
    project: str | None = None,
    range_key: Annotated[str, Query(alias="range")] = DEFAULT_RANGE,
    refresh: str = "off",
) -> View:
    """Dependency for every page: the user, project, time window and refresh of this request.

    An unknown range or refresh falls back to the default; a project the user is not a member of
    is a 404, so the answer does not tell which projects exist.
    """
    projects = login.services(request).meta.user_projects(user.id)
    if not projects:
        raise HTTPException(
            403, "You are not a member of any project yet; ask an admin to add you."
        )
    chosen = (
        projects[0]
        if project is None
        else next((entry for entry in projects if entry[0].slug == project), None)
    )
    if chosen is None:
        raise HTTPException(404, f"No project {project!r} among yours.")
    time_range = RANGES.get(range_key, RANGES[DEFAULT_RANGE])
    bucket = bucket_seconds(time_range.seconds) * SECOND
    # Buckets align to multiples of their width, as the catalog's bucket() floors them; the
    # window ends with the bucket holding "now", so the newest point is the one still filling.
    until = (time.time_ns() // bucket + 1) * bucket
    return View(
        user=user,
        projects=projects,
        project=chosen[0],
        role=chosen[1],
        range=time_range,
        refresh=refresh if refresh in REFRESH else "off",
        since=until - time_range.seconds * SECOND,
        until=until,
        bucket=bucket,
    )


ViewDep = Annotated[View, Depends(resolve_view)]


def render_page(request: Request, view: View, name: str, context: dict[str, Any]) -> HTMLResponse:
    """Render a page (or a page's live part) with what the base layout needs."""
    common = {"view": view, "nav": NAV, "ranges": RANGES, "refresh_choices": REFRESH}
    return login.render(request, name, {**common, **context})


def chart(
    view: View,
    rows: Sequence[Mapping[str, Any]],
    columns: Mapping[str, str],
    *,
    unit: str = "",
    kind: str = "line",
    scale: float = 1.0,
    fill: float | None = None,
) -> dict[str, Any]:
    """A chart's data for app.js: one series per column of ``rows`` (one row per bucket).

    Every bucket of the window is present, so a gap shows as a gap: a bucket without a row gets
    ``fill`` (0 for counts; ``None``, drawn as a break in the line, for measurements). ``x`` is
    in seconds, as uPlot expects; values are multiplied by ``scale`` (ns → ms: 1e-6).
    """
    by_bucket = {row["bucket"]: row for row in rows}
    starts = view.buckets
    series = []
    for column, label in columns.items():
        values: list[float | None] = []
        for start in starts:
            value = by_bucket.get(start, {}).get(column)
            values.append(fill if value is None else round(value * scale, 3))
        series.append({"label": label, "values": values})
    return {
        "kind": kind,
        "unit": unit,
        "since": view.since // SECOND,
        "until": view.until // SECOND,
        "step": view.bucket // SECOND,
        "x": [start // SECOND for start in starts],
        "series": series,
    }


router = APIRouter(dependencies=[Depends(login.csrf_protect)], include_in_schema=False)
router.include_router(login.router)


# --- Overview ------------------------------------------------------------------------------


def overview_data(store: Store, view: View) -> dict[str, Any]:
    """Event rate, span latency percentiles, the top events and the slowest spans."""
    events = catalog.run(store, "events.per_bucket", **view.window, bucket=view.bucket)
    spans = catalog.run(store, "spans.latency_per_bucket", **view.window, bucket=view.bucket)
    latency_ms = {"p50_ns": "p50", "p95_ns": "p95", "p99_ns": "p99"}
    return {
        "event_total": sum(row["count"] for row in events),
        "span_total": sum(row["count"] for row in spans),
        "event_chart": chart(view, events, {"count": "events"}, kind="bars", fill=0),
        "latency_chart": chart(view, spans, latency_ms, unit="ms", scale=1e-6),
        "top_events": catalog.run(store, "events.by_name", **view.window, limit=TABLE_ROWS),
        "slowest_spans": catalog.run(store, "spans.slowest", **view.window, limit=TABLE_ROWS),
    }


@router.get("/")
def overview(request: Request, view: ViewDep) -> HTMLResponse:
    """The project at a glance."""
    store = login.services(request).store
    return render_page(request, view, "overview.html", overview_data(store, view))


@router.get("/partials/overview")
def overview_live(request: Request, view: ViewDep) -> HTMLResponse:
    """The Overview's live part, for htmx."""
    store = login.services(request).store
    return render_page(request, view, "partials/overview.html", overview_data(store, view))
