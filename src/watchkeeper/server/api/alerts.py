"""The alerts API: rules with their state, alerts, acknowledgements, silences, history, and the
notification attempts log, under /api/v1/alerts.

Reads take a read token (``Authorization: Bearer wkr_…``, the token's project) or a dashboard
session (the project of ``?project=<slug>``, else the user's first, any role). Writes change
what pages people, so they take a dashboard session of a project **member or admin** plus the
CSRF token of the dashboard (``X-CSRF-Token`` header = the ``wk_csrf`` cookie), exactly as the
dashboard's own forms; read tokens stay read-only. Rule bodies are checked like the rules file
(alerts/rules.py): 422 naming each bad field. Rules from the rules file are read-only here
(409). ``since``/``until``/``starts_at``/``ends_at`` take ns, ISO 8601 or (for since/until) a
duration back from now.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Annotated, Any, Final

from fastapi import APIRouter, Body, Depends, HTTPException, Query, Request
from starlette.concurrency import run_in_threadpool

from watchkeeper.alerts.engine import Instance
from watchkeeper.alerts.model import Silence
from watchkeeper.alerts.rules import Rule, RulesError, parse_duration, parse_rule
from watchkeeper.alerts.silences import format_matcher, parse_matchers, silenced_by, state
from watchkeeper.dashboard import login
from watchkeeper.meta.alerts import (
    AlertStore,
    ReadOnlyRuleError,
    RuleExistsError,
    StoredRule,
)
from watchkeeper.server.api.records import MAX_TS, Since, Until, parse_time
from watchkeeper.server.auth import read_project

router = APIRouter(prefix="/api/v1/alerts", tags=["alerts"])

WRITERS: Final = ("admin", "member")
MAX_ROWS: Final = 1000
ProjectSlug = Annotated[
    str | None, Query(description="Project slug, for session requests (default: your first).")
]


@dataclass(frozen=True)
class Writer:
    project_id: int
    slug: str
    email: str


def _alerts(request: Request) -> AlertStore:
    return AlertStore(request.app.state.services.meta)


def _session_project(request: Request, slug: str | None) -> tuple[int, str, str, str] | None:
    """(project id, slug, role, email) for a logged-in user, None without a session."""
    user = login.current_user(request)
    if user is None:
        return None
    projects = request.app.state.services.meta.user_projects(user.id)
    chosen = next((p for p in projects if slug is None or p[0].slug == slug), None)
    if chosen is None:
        raise HTTPException(
            404,
            f"project: you are not a member of {slug!r}"
            if slug
            else "project: you are not a member of any project",
        )
    return chosen[0].id, chosen[0].slug, chosen[1], user.email


async def reader(request: Request, project: ProjectSlug = None) -> int:
    """The project a read may see: the read token's, or the session user's."""
    if request.headers.get("authorization"):
        return await read_project(request)
    found = await run_in_threadpool(_session_project, request, project)
    if found is None:
        raise HTTPException(
            401,
            "send a read token (Authorization: Bearer wkr_…) or log in",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return found[0]


async def writer(request: Request, project: ProjectSlug = None) -> Writer:
    """A logged-in member or admin of the project, with the dashboard's CSRF token."""
    found = await run_in_threadpool(_session_project, request, project)
    if found is None:
        detail = "changing alerts needs a logged-in member or admin (session cookie and"
        detail += " X-CSRF-Token); read tokens are read-only"
        raise HTTPException(401 if not request.headers.get("authorization") else 403, detail)
    project_id, slug, role, email = found
    if role not in WRITERS:
        raise HTTPException(403, "viewers cannot change alerts; ask an admin for the member role")
    await login.csrf_protect(request)
    return Writer(project_id, slug, email)


ReaderDep = Annotated[int, Depends(reader)]
WriterDep = Annotated[Writer, Depends(writer)]


# -- rules --------------------------------------------------------------------------------------


def _rule_json(stored: StoredRule, instances: list[Instance]) -> dict[str, Any]:
    mine = [i for i in instances if i.rule == stored.name]
    return {
        "name": stored.name,
        "kind": stored.rule.kind,
        "source": stored.source,
        "read_only": stored.source == "file",
        "enabled": stored.rule.enabled,
        "definition": dict(stored.rule.definition),
        "health": stored.health,
        "last_error": stored.last_error or None,
        "last_eval": stored.last_eval or None,
        "pending": sum(1 for i in mine if i.state == "pending"),
        "firing": sum(1 for i in mine if i.state == "firing"),
        "updated_at": stored.updated_at.isoformat(),
    }


def _checked(body: dict[str, Any], slug: str) -> Rule:
    if body.get("project", slug) != slug:
        raise HTTPException(422, f"project: this request is for project {slug!r}")
    try:
        return parse_rule({**body, "project": slug})
    except RulesError as exc:
        raise HTTPException(422, "; ".join(p.format() for p in exc.problems)) from None


@router.get("/rules", summary="Alert rules with their health and alert counts")
def list_rules(request: Request, project: ReaderDep) -> dict[str, Any]:
    store = _alerts(request)
    instances = store.instances(project)
    evaluator = getattr(request.app.state.services, "evaluator", None)
    return {
        "rules": [_rule_json(r, instances) for r in store.rules(project)],
        "rules_file_error": (evaluator.file_error or None) if evaluator is not None else None,
    }


@router.get("/rules/{name}", summary="One alert rule")
def get_rule(request: Request, project: ReaderDep, name: str) -> dict[str, Any]:
    store = _alerts(request)
    found = store.rule(project, name)
    if found is None:
        raise HTTPException(404, f"no rule named {name!r} in this project")
    return _rule_json(found, store.instances(project))


@router.post("/rules", status_code=201, summary="Create a rule (UI rules)")
def create_rule(
    request: Request, who: WriterDep, body: Annotated[dict[str, Any], Body()]
) -> dict[str, Any]:
    rule = _checked(body, who.slug)
    try:
        stored = _alerts(request).create_rule(who.project_id, rule)
    except RuleExistsError as exc:
        raise HTTPException(409, str(exc)) from None
    return _rule_json(stored, [])


@router.put("/rules/{name}", summary="Replace a UI rule")
def update_rule(
    request: Request, who: WriterDep, name: str, body: Annotated[dict[str, Any], Body()]
) -> dict[str, Any]:
    rule = _checked(body, who.slug)
    store = _alerts(request)
    try:
        stored = store.update_rule(who.project_id, name, rule)
    except LookupError as exc:
        raise HTTPException(404, str(exc)) from None
    except (ReadOnlyRuleError, RuleExistsError) as exc:
        raise HTTPException(409, str(exc)) from None
    return _rule_json(stored, store.instances(who.project_id))


@router.delete("/rules/{name}", status_code=204, summary="Delete a UI rule")
def delete_rule(request: Request, who: WriterDep, name: str) -> None:
    try:
        _alerts(request).delete_rule(who.project_id, name)
    except LookupError as exc:
        raise HTTPException(404, str(exc)) from None
    except ReadOnlyRuleError as exc:
        raise HTTPException(409, str(exc)) from None


# -- alerts, acknowledgements -------------------------------------------------------------------


@router.get("", summary="Pending and firing alerts, firing first")
def list_alerts(
    request: Request,
    project: ReaderDep,
    state_: Annotated[
        str | None, Query(alias="state", description="firing, pending or both (comma-separated).")
    ] = None,
) -> dict[str, list[dict[str, Any]]]:
    states = [s.strip() for s in (state_ or "firing,pending").split(",") if s.strip()]
    for name in states:
        if name not in ("firing", "pending"):
            raise HTTPException(400, f"state: {name!r} is not firing or pending")
    store = _alerts(request)
    now = time.time_ns()
    acks = store.acks(project)
    silences = store.silences(project, active_at=now)
    out = []
    for instance in store.instances(project, states):
        ack = acks.get(instance.fingerprint)
        muted = silenced_by(instance.labels, silences, now)
        out.append(
            {
                "fingerprint": instance.fingerprint,
                "rule": instance.rule,
                "labels": instance.labels,
                "annotations": instance.annotations,
                "state": instance.state,
                "value": instance.value,
                "active_at": instance.active_at,
                "fired_at": instance.fired_at or None,
                "last_eval": instance.last_eval,
                "acknowledged": None
                if ack is None or ack.at < instance.active_at
                else {"by": ack.by, "at": ack.at, "comment": ack.comment},
                "silenced_by": None if muted is None else muted.id,
            }
        )
    return {"alerts": out}


@router.post("/{fingerprint}/ack", summary="Acknowledge a firing alert: repeats stop")
def acknowledge(
    request: Request,
    who: WriterDep,
    fingerprint: str,
    body: Annotated[dict[str, Any] | None, Body()] = None,
) -> dict[str, Any]:
    comment = (body or {}).get("comment", "")
    if not isinstance(comment, str) or len(comment) > 2000:
        raise HTTPException(422, "comment: must be text of at most 2000 characters")
    try:
        ack = _alerts(request).acknowledge(
            who.project_id, fingerprint, who.email, time.time_ns(), comment
        )
    except LookupError as exc:
        raise HTTPException(404, str(exc)) from None
    return {"fingerprint": ack.fingerprint, "by": ack.by, "at": ack.at, "comment": ack.comment}


# -- silences -----------------------------------------------------------------------------------


def _silence_json(silence: Silence, now: int) -> dict[str, Any]:
    return {
        "id": silence.id,
        "matchers": [format_matcher(m) for m in silence.matchers],
        "starts_at": silence.starts_at,
        "ends_at": silence.ends_at,
        "state": state(silence, now),
        "created_by": silence.created_by,
        "comment": silence.comment,
    }


@router.get("/silences", summary="Silences, newest first")
def list_silences(
    request: Request,
    project: ReaderDep,
    expired: Annotated[bool, Query(description="Include expired silences.")] = False,
) -> dict[str, list[dict[str, Any]]]:
    now = time.time_ns()
    found = _alerts(request).silences(project, active_at=None if expired else now)
    return {"silences": [_silence_json(s, now) for s in found]}


def _moment(body: dict[str, Any], field: str, default: int, now: int) -> int:
    value = body.get(field)
    if value is None:
        return default
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if not isinstance(value, str):
        raise HTTPException(422, f"{field}: ns since the epoch or an ISO 8601 time")
    try:
        return parse_time(value, default, field=field, now=now)
    except HTTPException as exc:
        raise HTTPException(422, exc.detail) from None


@router.post("/silences", status_code=201, summary="Create a silence")
def create_silence(
    request: Request, who: WriterDep, body: Annotated[dict[str, Any], Body()]
) -> dict[str, Any]:
    """Body: ``matchers`` (``'service="api", env!="dev"'`` or a list), ``starts_at`` (default
    now), ``ends_at`` or ``duration`` (``2h``), ``comment``."""
    now = time.time_ns()
    matchers = body.get("matchers")
    if not isinstance(matchers, str | list):
        raise HTTPException(422, "matchers: a matcher list such as 'service=\"api\"'")
    try:
        parsed = parse_matchers(matchers)
    except ValueError as exc:
        raise HTTPException(422, f"matchers: {exc}") from None
    starts_at = _moment(body, "starts_at", now, now)
    if "duration" in body:
        try:
            ends_at = starts_at + parse_duration(body["duration"])
        except ValueError as exc:
            raise HTTPException(422, f"duration: {exc}") from None
    elif "ends_at" in body:
        ends_at = _moment(body, "ends_at", 0, now)
    else:
        raise HTTPException(422, "ends_at: give ends_at or a duration such as 2h")
    comment = body.get("comment", "")
    if not isinstance(comment, str):
        raise HTTPException(422, "comment: must be text")
    try:
        silence = _alerts(request).create_silence(
            who.project_id, parsed, starts_at, ends_at, created_by=who.email, comment=comment
        )
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None
    return _silence_json(silence, now)


@router.delete("/silences/{silence_id}", status_code=204, summary="Expire a silence now")
def expire_silence(request: Request, who: WriterDep, silence_id: int) -> None:
    if not 0 < silence_id < 2**63 or not _alerts(request).expire_silence(
        who.project_id, silence_id, time.time_ns()
    ):
        raise HTTPException(404, f"no silence {silence_id} in force in this project")


# -- history, notifications ---------------------------------------------------------------------


@router.get("/history", summary="State transitions, newest first")
def history(
    request: Request,
    project: ReaderDep,
    since: Since = None,
    until: Until = None,
    rule: Annotated[str | None, Query(max_length=128)] = None,
    fingerprint: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_ROWS)] = 100,
) -> dict[str, list[dict[str, Any]]]:
    now = time.time_ns()
    entries = _alerts(request).history(
        project,
        since=parse_time(since, 0, field="since", now=now),
        until=parse_time(until, MAX_TS, field="until", now=now),
        rule=rule,
        fingerprint=fingerprint,
        limit=limit,
    )
    return {
        "history": [
            {
                "rule": e.rule,
                "fingerprint": e.fingerprint,
                "labels": e.labels,
                "from": e.from_state,
                "to": e.to_state,
                "at": e.at,
                "value": e.value,
            }
            for e in entries
        ]
    }


@router.get("/notifications", summary="Notification delivery attempts, newest first")
def notifications(
    request: Request,
    project: ReaderDep,
    channel: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_ROWS)] = 100,
) -> dict[str, list[dict[str, Any]]]:
    attempts = _alerts(request).attempts(project, channel=channel, limit=limit)
    return {
        "attempts": [
            {
                "channel": a.channel,
                "group_key": a.group_key,
                "status": a.status,
                "escalation": a.escalation,
                "attempt": a.attempt,
                "ok": a.ok,
                "error": a.error or None,
                "at": a.at,
            }
            for a in attempts
        ]
    }
