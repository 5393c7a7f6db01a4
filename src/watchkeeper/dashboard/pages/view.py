"""What every page shares: the top bar's :data:`NAV`, the time ranges, the :class:`View` that
:func:`resolve_view` builds for each request, and :func:`render_page`."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any, Final
from urllib.parse import urlencode

from fastapi import Depends, HTTPException, Query, Request
from fastapi.responses import Response

from watchkeeper.dashboard import login
from watchkeeper.dashboard.pages import table
from watchkeeper.meta.store import Project, User
from watchkeeper.query import catalog

if TYPE_CHECKING:
    from watchkeeper.store.base import Store

NAV: Final = (
    ("Overview", "/"),
    ("Issues", "/issues"),
    ("Requests", "/requests"),
    ("LLM", "/llm"),
    ("Traces", "/traces"),
    ("Logs", "/logs"),
    ("Metrics", "/app-metrics"),
    ("Alerts", "/alerts"),
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
    """What every page shows, resolved once per request by :func:`resolve_view`; a page then
    names itself and its filters with :meth:`on`, so its links keep them."""

    user: User
    projects: Sequence[tuple[Project, str]]
    project: Project
    role: str
    range: TimeRange
    refresh: str
    since: int
    until: int
    bucket: int
    path: str = "/"
    section: str = "/"
    filters: Mapping[str, str] = field(default_factory=dict)

    def on(self, path: str, section: str | None = None, **filters: str) -> View:
        """This view on page ``path`` (in the top bar's ``section``) with the page's filters.

        >>> view.on("/logs", service="api").here(range="6h")  # doctest: +SKIP
        '/logs?project=shop&range=6h&service=api'
        """
        kept = {name: value for name, value in filters.items() if value}
        return dataclasses.replace(self, path=path, section=section or path, filters=kept)

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
        """``path`` with this view's query (project, range, refresh), with ``changes`` applied;
        an empty value drops a parameter.

        >>> view.url("/", range="6h")  # doctest: +SKIP
        '/?project=shop&range=6h'
        """
        query = {"project": self.project.slug, "range": self.range.key, "refresh": self.refresh}
        query.update(changes)
        if query["refresh"] == "off":
            del query["refresh"]
        return f"{path}?{urlencode({name: value for name, value in query.items() if value})}"

    def here(self, **changes: str) -> str:
        """This page with its filters, with ``changes`` applied (``name=""`` drops one)."""
        return self.url(self.path, **{**self.filters, **changes})

    def partial(self, page: str, **changes: str) -> str:
        """``/partials/<page>`` with this page's filters: what the live part reloads."""
        return self.url(f"/partials/{page}", **{**self.filters, **changes})


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

login.templates.env.filters.update(time=table.format_time, iso=table.iso_time)


def render_page(
    request: Request, view: View, name: str, context: dict[str, Any], status_code: int = 200
) -> Response:
    """Render a page (or a page's live part) with what the base layout needs.

    With ``?format=csv`` or ``?format=json`` (and ``table=<name>``) the answer is instead one of
    the page's tables or charts as a download (:func:`table.export`): the same rows the page
    shows, behind the same session.
    """
    fmt = request.query_params.get("format")
    if fmt is not None:
        return table.export(view, context, request.query_params.get("table", ""), fmt)
    common = {"view": view, "nav": NAV, "ranges": RANGES, "refresh_choices": REFRESH}
    return login.render(request, name, {**common, **context}, status_code)


def services_of(store: Store, view: View, kind: str) -> list[str]:
    """The services that sent ``kind`` records in the window: the choices of a service filter."""
    rows = catalog.run(store, f"records.services.{kind}", **view.window, limit=100)
    return [row["service"] for row in rows]
