"""The read API for issues: the list with counts in a window, and one issue with its latest event.

Issues come from the metadata store (status, releases, severity); counts and users from the
telemetry store, so they are exact even when a batch was sent twice. ``since``/``until`` take
the same forms as /api/v1/records. ``status=unresolved`` includes regressed issues.
"""

from __future__ import annotations

import time
from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, HTTPException, Query, Request

from watchkeeper.errors.issues import OPEN_STATUSES, STATUSES
from watchkeeper.meta.store import Issue
from watchkeeper.query import catalog
from watchkeeper.server.api.records import MAX_TS, Since, Until, parse_time
from watchkeeper.server.auth import read_project

router = APIRouter(prefix="/api/v1", tags=["read"])

MAX_ISSUES: Final = 1000


def _statuses(value: str | None) -> tuple[str, ...]:
    if not value:
        return ()
    wanted: list[str] = []
    for part in value.split(","):
        status = part.strip()
        if status not in STATUSES:
            raise HTTPException(
                400, f"status: {status!r} is not one of {', '.join(STATUSES)} (comma-separated)"
            )
        wanted.extend(OPEN_STATUSES if status == "unresolved" else (status,))
    return tuple(dict.fromkeys(wanted))


def _issue_json(issue: Issue) -> dict[str, Any]:
    return {
        "id": issue.id,
        "title": issue.title,
        "type": issue.type,
        "culprit": issue.culprit,
        "level": issue.level,
        "severity": issue.severity,
        "status": issue.status,
        "regressed": issue.status == "regressed",
        "first_seen": issue.first_seen,
        "last_seen": issue.last_seen,
        "first_release": issue.first_release,
        "last_release": issue.last_release,
        "resolved_in_release": issue.resolved_in_release or None,
        "times_seen": issue.times_seen,
        "grouping_key": issue.grouping_key,
    }


def _releases(store: Any, project: int, issue_id: int, start: int, end: int) -> list[str]:
    rows = catalog.run(
        store, "errors.releases", project=project, since=start, until=end, issue_id=issue_id
    )
    return [row["release"] for row in rows if row["release"]]


@router.get("/issues", summary="List issues, last seen first")
def list_issues(
    request: Request,
    project: Annotated[int, Depends(read_project)],
    status: Annotated[
        str | None,
        Query(
            description="Comma-separated: unresolved (includes regressed), resolved, ignored,"
            " regressed. All when absent."
        ),
    ] = None,
    since: Since = None,
    until: Until = None,
    query: Annotated[
        str | None, Query(max_length=256, description="Text in the title or culprit.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_ISSUES)] = 100,
) -> dict[str, list[dict[str, Any]]]:
    now = time.time_ns()
    start = parse_time(since, 0, field="since", now=now)
    end = parse_time(until, MAX_TS, field="until", now=now)
    if end < start:
        raise HTTPException(400, "until: must not be before since")
    services = request.app.state.services
    issues = services.meta.issues(
        project, statuses=_statuses(status), since=start, until=end, text=query or "",
        limit=limit,
    )  # fmt: skip
    stats = {
        row["issue_id"]: row
        for row in catalog.run(services.store, "errors.by_issue", project=project,
                               since=start, until=end)
    }  # fmt: skip
    listed = []
    for issue in issues:
        row = stats.get(issue.id, {})
        listed.append(
            _issue_json(issue)
            | {
                "count": int(row.get("count", 0)),
                "users": int(row.get("users", 0)),
                "releases": _releases(services.store, project, issue.id, start, end),
            }
        )
    return {"issues": listed}


@router.get("/issues/{issue_id}", summary="One issue with its latest event")
def get_issue(
    request: Request,
    project: Annotated[int, Depends(read_project)],
    issue_id: int,
) -> dict[str, Any]:
    services = request.app.state.services
    issue = services.meta.issue(project, issue_id) if 0 < issue_id < 2**63 else None
    if issue is None:
        raise HTTPException(404, f"no issue {issue_id} in this project")
    window = {"project": project, "since": 0, "until": MAX_TS}
    stats = catalog.run(services.store, "errors.by_issue", **window, issue_id=issue_id)
    latest = catalog.run(services.store, "errors.events", **window, issue_id=issue_id, limit=1)
    event = None
    if latest:
        event = {"kind": "error"} | {
            k: v for k, v in latest[0].items() if k != "project" and v is not None
        }
    return _issue_json(issue) | {
        "count": int(stats[0]["count"]) if stats else 0,
        "users": int(stats[0]["users"]) if stats else 0,
        "releases": _releases(services.store, project, issue_id, 0, MAX_TS),
        "latest_event": event,
    }
