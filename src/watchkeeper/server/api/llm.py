"""The read API for LLM calls: a window's totals with the breakdown by provider and model, and
the month's spend against the project's budget (R-LLM3, R-LLM4).

Asked with a read token (``Authorization: Bearer wkr_…``) or from a logged-in dashboard session
(``?project=<slug>`` picks one of the user's projects, else their first). ``since``/``until``
take the same forms as /api/v1/records; the summary covers the last 24 hours by default. What an
LLM call, its model and its cost are is said in query/llm.py.
"""

from __future__ import annotations

import time
from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool

from watchkeeper.dashboard import login
from watchkeeper.query import catalog
from watchkeeper.query.llm import month_bounds, project_month_end
from watchkeeper.server.api.records import Since, Until, parse_time
from watchkeeper.server.auth import read_project

router = APIRouter(prefix="/api/v1/llm", tags=["read"])

DEFAULT_WINDOW_NS: Final = 24 * 3600 * 10**9


async def llm_project(
    request: Request,
    project: Annotated[
        str | None, Query(description="With a dashboard session: the project's slug.")
    ] = None,
) -> int:
    """The project asked about: the read token's, or the session user's chosen one (404 when
    they are not a member, so the answer does not tell which projects exist)."""
    if "authorization" in request.headers or not request.cookies.get(login.SESSION_COOKIE):
        return await read_project(request)
    user = await run_in_threadpool(login.current_user, request)
    if user is None:  # an expired session: say what a caller without one needs
        return await read_project(request)
    projects = await run_in_threadpool(login.services(request).meta.user_projects, user.id)
    chosen = next((p for p, _ in projects if project is None or p.slug == project), None)
    if chosen is None:
        raise HTTPException(404, f"project: no project {project!r} among yours")
    return chosen.id


ProjectDep = Annotated[int, Depends(llm_project)]
Filter = Annotated[str | None, Query(max_length=256)]


def _run(request: Request, name: str, **params: Any) -> list[dict[str, Any]]:
    try:
        return catalog.run(login.services(request).store, name, **params)
    except catalog.QueryError as error:
        raise HTTPException(400, str(error)) from None


@router.get("/summary", summary="LLM calls: totals, by provider, by model, error kinds")
def summary(
    request: Request,
    project: ProjectDep,
    since: Since = None,
    until: Until = None,
    provider: Filter = None,
    model: Filter = None,
    feature: Filter = None,
    service: Filter = None,
    user_id: Filter = None,
    limit: Annotated[int, Query(ge=1, le=1000, description="Most models listed.")] = 50,
) -> dict[str, Any]:
    """Calls, errors, tokens, cost (USD; ``unpriced_calls`` have none) and latency (ns) in the
    window, overall, per provider (with ``success_pct``), per model and per error kind."""
    now = time.time_ns()
    start = parse_time(since, now - DEFAULT_WINDOW_NS, field="since", now=now)
    end = parse_time(until, now, field="until", now=now)
    if end < start:
        raise HTTPException(400, "until: must not be before since")
    filters = {"provider": provider, "model": model, "feature": feature, "service": service,
               "user_id": user_id}  # fmt: skip
    params = {"project": project, "since": start, "until": end, **filters}
    (totals,) = _run(request, "llm.totals", **params)
    return {
        "since": start,
        "until": end,
        "totals": totals,
        "providers": _run(request, "llm.by_provider", **params),
        "models": _run(request, "llm.by_model", **params, limit=limit),
        "error_kinds": _run(request, "llm.error_kinds", **params, limit=limit),
    }


@router.get("/budget", summary="This month's LLM spend against the project's budget")
def budget(request: Request, project: ProjectDep) -> dict[str, Any]:
    """The UTC calendar month so far: spend (priced calls), the monthly budget (null when none),
    the share used and the month-end projection (month-to-date spend divided by the share of
    the month elapsed)."""
    now = time.time_ns()
    start, end = month_bounds(now)
    (month,) = _run(request, "llm.totals", project=project, since=start, until=end)
    monthly = login.services(request).meta.budget(project)
    spent = float(month["cost_usd"])
    projected = project_month_end(spent, now)
    return {
        "month_start": start,
        "month_end": end,
        "spent_usd": spent,
        "unpriced_calls": month["unpriced_calls"],
        "budget_usd": monthly,
        "used_pct": spent / monthly * 100 if monthly else None,
        "projected_usd": projected,
        "projected_pct": projected / monthly * 100 if monthly else None,
        "projection": "month-to-date spend / share of the month elapsed",
    }
