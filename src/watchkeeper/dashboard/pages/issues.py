"""Issues: errors grouped by fingerprint (R-E2), listed with their count, users and status in
the window (R-E4), narrowed by status, severity, title, release and environment; status changes
one at a time or in bulk; and, while the project has none, how to send errors (R-E7).

An issue's lasting facts (title, culprit, status, severity, first and last seen) live in the
MetaStore; what happened in the window (events, users, releases) comes from the catalog. The
list shows the issues with events in the window, as Sentry's and Bugsink's lists do.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Final

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import RedirectResponse, Response

from watchkeeper.dashboard import login
from watchkeeper.dashboard.pages.chart import chart
from watchkeeper.dashboard.pages.table import Column, Table
from watchkeeper.dashboard.pages.view import View, ViewDep, render_page
from watchkeeper.query import catalog

if TYPE_CHECKING:
    from watchkeeper.meta.store import Issue
    from watchkeeper.server.app import Services

router = APIRouter()

ISSUE_ROWS: Final = 100
STATUSES: Final = ("unresolved", "resolved", "ignored", "all")
"""The status filter's choices; "unresolved" includes regressed issues (resolved, then back)."""
STATUS_SETS: Final = {
    "unresolved": ("unresolved", "regressed"), "resolved": ("resolved",),
    "ignored": ("ignored",), "all": (),
}  # fmt: skip
MAX_ISSUES: Final = 1000
"""The most issues the list considers (the most recently seen); it shows the first 100."""
SEVERITIES: Final = ("critical", "major", "minor")
SORTS: Final = {"last_seen": "Last seen", "count": "Events", "first_seen": "First seen"}
ACTIONS: Final = {"resolved": "Resolve", "ignored": "Ignore", "unresolved": "Unresolve"}
"""Status changes a form may ask for, with their button labels."""
WRITERS: Final = frozenset({"admin", "member"})
"""Roles that may change an issue's status; viewers only look."""

ISSUES = (
    Column("Issue", "title", link="url"), Column("Culprit", "culprit"), Column("Type", "type"),
    Column("Level", "level"), Column("Severity", "severity"), Column("Status", "status"),
    Column("Events", "count", "count"), Column("Users", "users", "count"),
    Column("First seen", "first_seen", "time"), Column("Last seen", "last_seen", "time"),
    Column("Releases", "releases"), Column("Id", "id", "count"),
)  # fmt: skip
"""The list as downloaded; the page draws the same rows with badges and actions."""


@dataclass(frozen=True)
class IssueFilters:
    """What the reader narrowed the list to; ``problems`` says what was ignored and why."""

    status: str = "unresolved"
    severity: str = ""
    q: str = ""
    release: str = ""
    environment: str = ""
    sort: str = "last_seen"
    problems: tuple[str, ...] = ()

    @property
    def query(self) -> dict[str, str]:
        """The filters as URL parameters, for ``view.on`` (defaults left out)."""
        return {
            "status": "" if self.status == "unresolved" else self.status,
            "severity": self.severity,
            "q": self.q,
            "release": self.release,
            "environment": self.environment,
            "sort": "" if self.sort == "last_seen" else self.sort,
        }

    @property
    def window_params(self) -> dict[str, Any]:
        """The catalog's filter parameters for the window's events."""
        return {"release": self.release or None, "environment": self.environment or None}

    def keeps(self, issue: Mapping[str, Any]) -> bool:
        """Whether an issue passes the status, severity and title filters."""
        status = issue["status"]
        if self.status == "unresolved" and status not in ("unresolved", "regressed"):
            return False
        if self.status in ("resolved", "ignored") and status != self.status:
            return False
        if self.severity and issue.get("severity") != self.severity:
            return False
        return not self.q or self.q.casefold() in str(issue.get("title", "")).casefold()


def issue_filters(
    status: str = "unresolved",
    severity: str = "",
    q: str = "",
    release: str = "",
    environment: str = "",
    sort: str = "last_seen",
) -> IssueFilters:
    """Dependency: the Issues filters from the query string; a bad one is ignored and said."""
    problems = []
    status = status or "unresolved"
    if status not in STATUSES:
        problems.append(f"Status {status!r} is not one of {', '.join(STATUSES)}; ignored.")
        status = "unresolved"
    if severity and severity not in SEVERITIES:
        problems.append(f"Severity {severity!r} is not one of {', '.join(SEVERITIES)}; ignored.")
        severity = ""
    if sort not in SORTS:
        sort = "last_seen"
    for label, value in (("Search", q), ("Release", release), ("Environment", environment)):
        if len(value) > 256:
            problems.append(f"{label} is longer than 256 characters; ignored.")
    q = q.strip()
    return IssueFilters(
        status=status,
        severity=severity,
        q=q if len(q) <= 256 else "",
        release=release if len(release) <= 256 else "",
        environment=environment if len(environment) <= 256 else "",
        sort=sort,
        problems=tuple(problems),
    )


FiltersDep = Annotated[IssueFilters, Depends(issue_filters)]


def as_row(issue: Issue) -> dict[str, Any]:
    """A MetaStore issue as a row of the list, with its releases as one cell."""
    row = dataclasses.asdict(issue)
    first, last = issue.first_release, issue.last_release
    row["releases"] = first if first == last else " → ".join(r for r in (first, last) if r)
    return row


def issue_url(view: View, issue_id: int) -> str:
    """The issue's own page, in this view's project and range."""
    return view.url(f"/issues/{issue_id}")


def issues_data(services: Services, view: View, filters: IssueFilters) -> dict[str, Any]:
    """The issues with events in the window that pass the filters, with the window's counts."""
    store = services.store
    window = {**view.window, **filters.window_params}
    seen = {
        row["issue_id"]: row
        for row in catalog.run(store, "errors.by_issue", **window, limit=MAX_ISSUES)
    }
    listed = services.meta.issues(
        view.project.id, statuses=STATUS_SETS[filters.status], since=view.since,
        until=view.until, text=filters.q, limit=MAX_ISSUES,
    )  # fmt: skip
    rows = []
    for issue in listed:
        row = as_row(issue)
        stats = seen.get(issue.id)
        if stats is None or not filters.keeps(row):
            continue
        row |= {
            "count": stats["count"],
            "users": stats["users"],
            "window_last_seen": stats["last_seen"],
            "url": issue_url(view, issue.id),
        }
        rows.append(row)
    key = {"last_seen": "window_last_seen", "count": "count", "first_seen": "first_seen"}
    rows.sort(key=lambda row: (row[key[filters.sort]], row["id"]), reverse=True)
    volume = catalog.run(store, "errors.per_bucket", **window, bucket=view.bucket)
    return {
        "filters": filters,
        "statuses": [(s, s) for s in STATUSES if s != "unresolved"],
        "severities": [(s, s) for s in SEVERITIES],
        "sorts": SORTS,
        "actions": ACTIONS,
        "can_write": view.role in WRITERS,
        "issues": Table("issues", ISSUES, rows[:ISSUE_ROWS]),
        "more": max(len(rows) - ISSUE_ROWS, 0),
        "any_seen": bool(seen) or bool(services.meta.issues(view.project.id, limit=1)),
        "events_chart": chart(
            view, volume, {"count": "events"}, name="events", kind="bars", fill=0
        ),
        "dsn": "",
    }


def dsn(request: Request, key: str, project_id: int) -> str:
    """The Sentry DSN of an ingest key: ``http://<key>@<host>/<numeric project id>``.

    Sentry SDKs post to ``<scheme>://<host>/api/<project>/envelope/`` with the key as the DSN's
    user (reference §1.2); the id only has to be numeric, the key decides the project.
    """
    base = request.base_url
    path = base.path.rstrip("/")
    return f"{base.scheme}://{key}@{base.netloc}{path}/{project_id}"


def _on(view: View, filters: IssueFilters) -> View:
    return view.on("/issues", **filters.query)


@router.get("/issues")
def issues(request: Request, view: ViewDep, filters: FiltersDep) -> Response:
    """The list of issues."""
    view = _on(view, filters)
    data = issues_data(login.services(request), view, filters)
    return render_page(request, view, "issues.html", data)


@router.get("/partials/issues")
def issues_live(request: Request, view: ViewDep, filters: FiltersDep) -> Response:
    """The Issues page's live part, for htmx."""
    view = _on(view, filters)
    data = issues_data(login.services(request), view, filters)
    return render_page(request, view, "partials/issues.html", data)


def require_writer(view: View) -> None:
    """Refuse (403) a viewer's attempt to change anything."""
    if view.role not in WRITERS:
        raise HTTPException(403, "Viewers cannot change issues; ask an admin for the member role.")


def change_status(
    services: Services, view: View, ids: Sequence[int], status: str, release: str | None = None
) -> int:
    """Set the status of the project's issues ``ids``; the number changed. An unknown status is
    a 400; ids of other projects' issues change nothing."""
    if status not in ACTIONS:
        raise HTTPException(400, f"status must be one of {', '.join(ACTIONS)}, not {status!r}.")
    require_writer(view)
    changed = 0
    for issue_id in ids:
        if services.meta.issue(view.project.id, issue_id) is None:
            continue
        services.meta.set_issue_status(
            view.project.id, issue_id, status, resolved_in_release=release
        )
        changed += 1
    return changed


@router.post("/issues/status")
def issues_status(
    request: Request,
    view: ViewDep,
    status: Annotated[str, Form()],
    issue: Annotated[list[int] | None, Form()] = None,
    next_path: Annotated[str, Form(alias="next")] = "/issues",
) -> Response:
    """Bulk action: set the status of the checked issues, then back to the list."""
    change_status(login.services(request), view, issue or [], status)
    return RedirectResponse(login.safe_next(next_path), status_code=303)


@router.post("/issues/dsn")
def create_dsn(request: Request, view: ViewDep) -> Response:
    """Create an ingest key and show its DSN, once, on the Issues page (admins only)."""
    if view.role != "admin":
        raise HTTPException(403, "Only a project admin can create ingest keys.")
    services = login.services(request)
    key = services.meta.create_key(view.project.id, "ingest")
    view = _on(view, IssueFilters())
    data = issues_data(services, view, IssueFilters())
    data["dsn"] = dsn(request, key, view.project.id)
    return render_page(request, view, "issues.html", data)
