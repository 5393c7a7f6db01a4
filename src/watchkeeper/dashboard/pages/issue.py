"""One issue: what it is, its status and actions, its frequency, and one of its events at a time
with the stack trace (R-E3), breadcrumbs, tags and context (R-E5), and links to its trace.

The event shown is the newest unless ``?event=<id>`` names one; Older and Newer step through the
issue's events by their (ts, id) keyset, the order the catalog lists them in.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any, Final

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import RedirectResponse, Response

from watchkeeper.dashboard import login
from watchkeeper.dashboard.pages.chart import chart
from watchkeeper.dashboard.pages.issues import as_row, change_status
from watchkeeper.dashboard.pages.trace import covering_range
from watchkeeper.dashboard.pages.view import SECOND, View, ViewDep, render_page
from watchkeeper.query import catalog

if TYPE_CHECKING:
    from watchkeeper.server.app import Services
    from watchkeeper.store.base import Store

router = APIRouter()

NEAR: Final = 1000
"""How many events one look for the next newer event reads."""
CONTEXTS: Final = (("Request", ("request.", "http.", "url.")), ("User", ("user.", "client.")))
"""How an event's attributes are shown: request and user context by key prefix; the rest are
tags."""


def grouped_attributes(attributes: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """An event's attributes as Tags, Request and User sections, each sorted by key.

    >>> grouped_attributes({"http.request.method": "GET", "user.id": "u1", "tags.os": "Linux"})
    {'Tags': {'os': 'Linux'}, 'Request': {'http.request.method': 'GET'}, 'User': {'user.id': 'u1'}}
    """
    sections: dict[str, dict[str, Any]] = {"Tags": {}, "Request": {}, "User": {}}
    for key in sorted(attributes):
        section = next((name for name, starts in CONTEXTS if key.startswith(starts)), "Tags")
        sections[section][key.removeprefix("tags.")] = attributes[key]
    return sections


FRAME: Final = {"module": "", "function": "", "filename": "", "lineno": 0, "in_app": False,
                "context_line": "", "pre_context": [], "post_context": []}  # fmt: skip
CRUMB: Final = {"category": "", "message": "", "level": "info", "data": {}}
"""Fields a frame or breadcrumb left out (the wire omits defaults), as the templates expect."""


def complete(event: dict[str, Any]) -> dict[str, Any]:
    """The event with every frame and breadcrumb field present."""
    event["frames"] = [FRAME | frame for frame in event.get("frames") or []]
    event["breadcrumbs"] = [CRUMB | crumb for crumb in event.get("breadcrumbs") or []]
    return event


def _events(store: Store, project: int, issue_id: int, **params: Any) -> list[dict[str, Any]]:
    params = {"project": project, "since": 0, "until": _end(), **params}
    return catalog.run(store, "errors.events", issue_id=issue_id, **params)


def _end() -> int:
    return time.time_ns() + 60 * SECOND


def newer_event(store: Store, project: int, event: Mapping[str, Any]) -> dict[str, Any] | None:
    """The issue's next event after ``event`` in (ts, id) order, or None.

    errors.events pages backwards only, so this looks in windows after the event that grow
    sixteenfold (a minute, 16 minutes, ~4 hours, ...) and takes the oldest newer event found.
    """
    ts, key = event["ts"], (event["ts"], event["id"])
    width, end = SECOND * 60, _end()
    while True:
        until = min(ts + width, end)
        found = _events(store, project, event["issue_id"], since=ts, until=until, limit=NEAR)
        later = [row for row in found if (row["ts"], row["id"]) > key]
        if later:
            return min(later, key=lambda row: (row["ts"], row["id"]))
        if until >= end:
            return None
        width *= 16


def issue_data(
    services: Services, view: View, issue: Mapping[str, Any], event_id: str
) -> dict[str, Any]:
    """The issue, its counts and chart in the window, and one event with its neighbours."""
    store, project, issue_id = services.store, view.project.id, issue["id"]
    stats = catalog.run(store, "errors.by_issue", **view.window, issue_id=issue_id, limit=1)
    volume = catalog.run(store, "errors.per_bucket", **view.window, bucket=view.bucket,
                         issue_id=issue_id)  # fmt: skip
    releases = catalog.run(store, "errors.releases", project=project, since=0, until=_end(),
                           issue_id=issue_id)  # fmt: skip
    event: dict[str, Any] | None = None
    if event_id:
        found = catalog.run(
            store, "errors.event", project=project, since=0, until=_end(), id=event_id
        )
        event = found[0] if found and found[0]["issue_id"] == issue_id else None
    if event is None:
        newest = _events(store, project, issue_id, limit=1)
        event = newest[0] if newest else None
    older = newer = ""
    if event is not None:
        before = _events(store, project, issue_id, before_ts=event["ts"], before_id=event["id"],
                         limit=1)  # fmt: skip
        after = newer_event(store, project, event)
        older = view.here(event=before[0]["id"]) if before else ""
        newer = view.here(event=after["id"]) if after else ""
    links = {}
    if event is not None:
        event = complete(event)
    if event is not None and event.get("trace_id"):
        trace_id = event["trace_id"]
        links = {
            "trace_url": view.url(f"/traces/{trace_id}", at=str(event["ts"]))
            + (f"#span-{event['span_id']}" if event.get("span_id") else ""),
            "logs_url": view.url("/logs", range=covering_range(event["ts"]), trace_id=trace_id),
        }
    window_stats = stats[0] if stats else {"count": 0, "users": 0}
    ordered = sorted(releases, key=lambda r: r["first_seen"])
    return {
        "issue": issue,
        "count": window_stats["count"],
        "users": window_stats["users"],
        "releases": ordered,
        "first_release": ordered[0]["release"] if ordered else "",
        "last_release": max(ordered, key=lambda r: r["last_seen"])["release"] if ordered else "",
        "events_chart": chart(
            view, volume, {"count": "events"}, name="events", kind="bars", fill=0
        ),
        "event": event,
        "sections": grouped_attributes(event["attributes"]) if event else {},
        "older_url": older,
        "newer_url": newer,
        "newest_url": view.here(event="") if newer else "",
        "can_write": view.role in ("admin", "member"),
        **links,
    }


def _issue(services: Services, view: View, issue_id: int) -> dict[str, Any]:
    found = services.meta.issue(view.project.id, issue_id)
    if found is None:
        raise HTTPException(404, f"No issue {issue_id} in project {view.project.slug}.")
    return as_row(found)


def _page(request: Request, view: View, issue_id: int, event: str, name: str) -> Response:
    services = login.services(request)
    view = view.on(f"/issues/{issue_id}", "/issues", event=event[:64])
    issue = _issue(services, view, issue_id)
    data = issue_data(services, view, issue, event[:64])
    return render_page(request, view, name, data)


@router.get("/issues/{issue_id}")
def issue(request: Request, view: ViewDep, issue_id: int, event: str = "") -> Response:
    """One issue and one of its events."""
    return _page(request, view, issue_id, event, "issue.html")


@router.get("/partials/issues/{issue_id}")
def issue_live(request: Request, view: ViewDep, issue_id: int, event: str = "") -> Response:
    """One issue's live part, for htmx."""
    return _page(request, view, issue_id, event, "partials/issue.html")


@router.post("/issues/{issue_id}/status")
def issue_status(
    request: Request,
    view: ViewDep,
    issue_id: int,
    status: Annotated[str, Form()],
    release: Annotated[str, Form()] = "",
    next_path: Annotated[str, Form(alias="next")] = "",
) -> Response:
    """Set one issue's status (resolve, optionally in a release; ignore; reopen), then back."""
    services = login.services(request)
    _issue(services, view, issue_id)
    change_status(services, view, [issue_id], status, release[:256] or None)
    target = login.safe_next(next_path) if next_path else view.url(f"/issues/{issue_id}")
    return RedirectResponse(target, status_code=303)
