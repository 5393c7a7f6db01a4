"""Alerts (R-AL4, R-AL5): what fires and what is pending now, acknowledged or silenced; the rules
with their state; the history of transitions; the silences; the notifications sent.

Everything comes from the metadata store through :class:`~watchkeeper.meta.alerts.AlertStore`,
which the evaluator (alerts/evaluator.py) keeps up to date every cycle; this page only reads it
and records what people decide. Members and admins acknowledge alerts, create and expire
silences and change UI rules (alert_rule.py), as the alerts API lets them; viewers only look.
Every change is a CSRF-protected POST form (login.csrf_protect). A silence is made from an
alert's row ("Silence…"): the form opens above the live part, so a refresh does not wipe it,
prefilled with the alert's labels as matchers.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Final

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import RedirectResponse, Response

from watchkeeper.alerts import silences as silencing
from watchkeeper.alerts.evaluator import LEASE
from watchkeeper.alerts.model import Acknowledgement, Matcher, Silence
from watchkeeper.alerts.rules import Rule, format_duration, parse_duration
from watchkeeper.dashboard import login
from watchkeeper.dashboard.pages.table import Column, Table, format_value
from watchkeeper.dashboard.pages.view import View, ViewDep, render_page
from watchkeeper.meta.alerts import AlertStore, AttemptEntry, HistoryEntry, StoredRule

if TYPE_CHECKING:
    from watchkeeper.alerts.engine import Instance
    from watchkeeper.server.app import Services

router = APIRouter()
login.templates.env.filters.update(value=format_value)

HISTORY_ROWS: Final = 50
MAX_HISTORY: Final = 1000
"""How far back the history pages (AlertStore.history's limit); narrow the range for more."""
ATTEMPT_ROWS: Final = 50
SILENCE_ROWS: Final = 100
WRITERS: Final = frozenset({"admin", "member"})
"""Roles that may acknowledge alerts, create or expire silences and change UI rules (the same
as server/api/alerts.py); viewers only look."""
SILENCE_FOR: Final = {
    "30m": "30 minutes", "1h": "1 hour", "2h": "2 hours", "4h": "4 hours", "12h": "12 hours",
    "1d": "1 day", "3d": "3 days", "1w": "1 week",
}  # fmt: skip
"""How long a new silence lasts: the form's choices, from now."""
DEFAULT_SILENCE: Final = "2h"
MAX_COMMENT: Final = 2000
MAX_MATCHERS: Final = 4000

ALERTS = (
    Column("Rule", "rule", link="rule_url"), Column("State", "state"),
    Column("Labels", "labels", "json"), Column("Value", "value", "value"),
    Column("Active since", "active_at", "time"), Column("Firing since", "fired_at", "time"),
    Column("Silenced by", "silence_id", "count"), Column("Acknowledged by", "acked_by"),
    Column("Fingerprint", "fingerprint", "id"),
)  # fmt: skip
RULES = (
    Column("Rule", "name", link="url"), Column("Kind", "kind"), Column("Source", "source"),
    Column("Enabled", "enabled"), Column("Health", "health"),
    Column("Firing", "firing", "count", alert=True), Column("Pending", "pending", "count"),
    Column("Condition", "condition"), Column("Last evaluated", "last_eval", "time"),
    Column("Last error", "last_error"),
)  # fmt: skip
HISTORY = (
    Column("Time", "at", "time"), Column("Rule", "rule", link="rule_url"),
    Column("Labels", "labels", "json"), Column("From", "from_state"), Column("To", "to_state"),
    Column("Value", "value", "value"), Column("Fingerprint", "fingerprint", "id"),
)  # fmt: skip
SILENCES = (
    Column("Id", "id", "count"), Column("Matchers", "matchers"), Column("State", "state"),
    Column("Starts", "starts_at", "time"), Column("Ends", "ends_at", "time"),
    Column("Mutes now", "mutes", "count"), Column("Created by", "created_by"),
    Column("Comment", "comment"),
)  # fmt: skip
NOTIFICATIONS = (
    Column("Time", "at", "time"), Column("Channel", "channel"), Column("Status", "status"),
    Column("Escalation", "escalation", "count"), Column("Attempt", "attempt", "count"),
    Column("Outcome", "outcome"), Column("Error", "error"), Column("Group", "group_key"),
)  # fmt: skip


def alert_store(services: Services) -> AlertStore:
    """The app's :class:`AlertStore` (``services.alerts`` when the server built one), else one
    on the app's MetaStore: it holds no state of its own, only the store's connections."""
    found = getattr(services, "alerts", None)
    return found if isinstance(found, AlertStore) else AlertStore(services.meta)


def rule_url(view: View, name: str) -> str:
    """A rule's own page, in this view's project and range."""
    return view.url(f"/alerts/rules/{name}")


def condition(rule: Rule) -> str:
    """A rule's condition in one line, as the rules list shows it.

    >>> condition(Rule("Slow", query="signals.requests", value="p95_ms", threshold=500,
    ...                window=300 * 10**9, for_=120 * 10**9))
    'signals.requests p95_ms > 500 over 5m for 2m'
    """
    if rule.kind == "new_issue":
        text = f"a new issue in {format_duration(rule.window)}"
    elif rule.kind == "issue_regressed":
        text = "an issue regressed"
    else:
        if rule.kind == "anomaly":
            test = f"{rule.direction} |z| > {format_value(rule.z)}"
        elif rule.budget is not None:
            test = f"{rule.op} {format_value(rule.budget * 100)} % of the budget"
        else:
            test = f"{rule.op} {format_value(rule.threshold)}"
        by = f" by {', '.join(rule.by)}" if rule.by else ""
        text = f"{rule.query} {rule.value}{by} {test} over {format_duration(rule.window)}"
    if rule.severity:
        text += f" ({', '.join(rule.severity)})"
    return text + (f" for {format_duration(rule.for_)}" if rule.for_ else "")


def rule_row(view: View, stored: StoredRule, counts: Mapping[str, int]) -> dict[str, Any]:
    """A stored rule as a row of the rules list, with its alerts' counts by state."""
    rule = stored.rule
    return {
        "name": stored.name, "url": rule_url(view, stored.name), "kind": rule.kind,
        "source": stored.source, "enabled": "yes" if rule.enabled else "no",
        "health": stored.health, "firing": counts.get("firing", 0),
        "pending": counts.get("pending", 0),
        "condition": condition(rule) if rule.definition else "",
        "last_eval": stored.last_eval or None, "last_error": stored.last_error,
        "description": rule.description,
    }  # fmt: skip


def alert_row(
    view: View, instance: Instance, silence: Silence | None, ack: Acknowledgement | None
) -> dict[str, Any]:
    """A pending or firing instance as a row, with the silence muting it and the
    acknowledgement of its current episode (an older one no longer counts: policy.py)."""
    if ack is not None and ack.at < instance.active_at:
        ack = None
    return {
        "rule": instance.rule, "rule_url": rule_url(view, instance.rule),
        "state": instance.state, "labels": instance.labels,
        "shown_labels": {k: v for k, v in sorted(instance.labels.items()) if k != "alertname"},
        "annotations": instance.annotations, "value": instance.value,
        "active_at": instance.active_at, "fired_at": instance.fired_at or None,
        "fingerprint": instance.fingerprint,
        "silence_id": silence.id if silence else None,
        "silenced_until": silence.ends_at if silence else None,
        "acked_by": ack.by if ack else "", "acked_at": ack.at if ack else None,
        "ack_comment": ack.comment if ack else "",
        "silence_url": view.url("/alerts", silence=instance.fingerprint) + "#silence",
    }  # fmt: skip


def alert_rows(
    store: AlertStore,
    view: View,
    instances: Sequence[Instance],
    silences: Sequence[Silence],
    now: int,
) -> list[dict[str, Any]]:
    """Rows of the alerts now, each with the silence muting it and its acknowledgement."""
    muting = silencing.silenced([i.alert() for i in instances], silences, now)
    acks = store.acks(view.project.id)
    return [
        alert_row(view, i, muting.get(i.fingerprint), acks.get(i.fingerprint)) for i in instances
    ]


def silence_row(silence: Silence, now: int, mutes: int) -> dict[str, Any]:
    return {
        "id": silence.id,
        "matchers": ", ".join(silencing.format_matcher(m) for m in silence.matchers),
        "state": silencing.state(silence, now), "starts_at": silence.starts_at,
        "ends_at": silence.ends_at, "mutes": mutes, "created_by": silence.created_by,
        "comment": silence.comment,
    }  # fmt: skip


def history_row(view: View, entry: HistoryEntry) -> dict[str, Any]:
    return dataclasses.asdict(entry) | {"rule_url": rule_url(view, entry.rule)}


def attempt_row(attempt: AttemptEntry) -> dict[str, Any]:
    """A delivery attempt as a row; attempt 0 is a decision not to send yet (rate limit,
    superseded: dispatch.py), shown as held."""
    outcome = "held" if attempt.attempt == 0 else "ok" if attempt.ok else "failed"
    return dataclasses.asdict(attempt) | {"outcome": outcome}


@dataclass(frozen=True)
class AlertFilters:
    """The history's rule filter and page (1 is the newest)."""

    rule: str = ""
    page: int = 1

    @property
    def query(self) -> dict[str, str]:
        return {"rule": self.rule, "page": str(self.page) if self.page > 1 else ""}


def alert_filters(rule: str = "", page: str = "1") -> AlertFilters:
    """Dependency: the history filters; a page that is not a positive number is the first."""
    number = int(page) if page.isdigit() else 1
    return AlertFilters(rule=rule.strip()[:128], page=max(1, min(number, MAX_HISTORY)))


FiltersDep = Annotated[AlertFilters, Depends(alert_filters)]


def _history(store: AlertStore, view: View, filters: AlertFilters) -> dict[str, Any]:
    start = (filters.page - 1) * HISTORY_ROWS
    found = store.history(
        view.project.id, since=view.since, until=view.until, rule=filters.rule or None,
        limit=min(start + HISTORY_ROWS + 1, MAX_HISTORY),
    )  # fmt: skip
    rows = [history_row(view, entry) for entry in found[start : start + HISTORY_ROWS]]
    more = len(found) > start + HISTORY_ROWS
    return {
        "history": Table("history", HISTORY, rows),
        "newer_url": view.here(page=str(filters.page - 1)) if filters.page > 1 else "",
        "older_url": view.here(page=str(filters.page + 1)) if more else "",
        "history_capped": len(found) >= MAX_HISTORY and not more,
    }


def alerts_data(
    services: Services, view: View, filters: AlertFilters, now: int | None = None
) -> dict[str, Any]:
    """The project's alerts now, its rules, the history in the window, silences and the
    latest notification attempts."""
    now = time.time_ns() if now is None else now
    store, project = alert_store(services), view.project.id
    instances = store.instances(project)
    silences = store.silences(project)
    muting = silencing.silenced([i.alert() for i in instances], silences, now)
    alerts = alert_rows(store, view, instances, silences, now)
    counts: dict[str, dict[str, int]] = {}
    for instance in instances:
        by_state = counts.setdefault(instance.rule, {})
        by_state[instance.state] = by_state.get(instance.state, 0) + 1
    stored = store.rules(project)
    shown = sorted(silences, key=lambda s: (silencing.state(s, now) == "expired", -s.id))
    mutes = {s.id: sum(1 for f in muting.values() if f.id == s.id) for s in shown}
    attempts = [attempt_row(a) for a in store.attempts(project, limit=ATTEMPT_ROWS)]
    return {
        "filters": filters,
        "now": now,
        "can_write": view.role in WRITERS,
        "firing": sum(1 for a in alerts if a["state"] == "firing"),
        "pending": sum(1 for a in alerts if a["state"] == "pending"),
        "silenced": sum(1 for a in alerts if a["silence_id"]),
        "alerts": Table("alerts", ALERTS, alerts),
        "rules": Table("rules", RULES, [rule_row(view, r, counts.get(r.name, {})) for r in stored]),
        "rule_choices": [(r.name, r.name) for r in stored],
        "silences": Table(
            "silences", SILENCES, [silence_row(s, now, mutes[s.id]) for s in shown][:SILENCE_ROWS]
        ),
        "notifications": Table("notifications", NOTIFICATIONS, attempts),
        "evaluator": store.lease_holder(LEASE, now),
        "rules_file_error": services.evaluator.file_error if services.evaluator else "",
        "silence_form": None,
        **_history(store, view, filters),
    }


def silence_form(
    matchers: str = "", duration: str = DEFAULT_SILENCE, comment: str = "", error: str = ""
) -> dict[str, Any]:
    """What the New silence form shows."""
    return {"matchers": matchers, "duration": duration, "comment": comment, "error": error,
            "choices": SILENCE_FOR}  # fmt: skip


def matchers_for(labels: Mapping[str, str]) -> str:
    """An alert's labels as the matchers of a silence that mutes exactly it and its repeats.

    >>> matchers_for({"service": "api", "alertname": "HighErrorRate"})
    'alertname="HighErrorRate", service="api"'
    """
    return ", ".join(
        silencing.format_matcher(Matcher(name, "=", value))
        for name, value in sorted(labels.items())
    )


def _on(view: View, filters: AlertFilters) -> View:
    return view.on("/alerts", **filters.query)


@router.get("/alerts")
def alerts(request: Request, view: ViewDep, filters: FiltersDep, silence: str = "") -> Response:
    """The Alerts page; ``?silence=<fingerprint>`` (or ``new``) opens the New silence form."""
    view = _on(view, filters)
    services = login.services(request)
    data = alerts_data(services, view, filters)
    if silence and view.role in WRITERS:
        found = next((a for a in data["alerts"].rows if a["fingerprint"] == silence), None)
        data["silence_form"] = silence_form(matchers_for(found["labels"]) if found else "")
    return render_page(request, view, "alerts.html", data)


@router.get("/partials/alerts")
def alerts_live(request: Request, view: ViewDep, filters: FiltersDep) -> Response:
    """The Alerts page's live part, for htmx."""
    view = _on(view, filters)
    data = alerts_data(login.services(request), view, filters)
    return render_page(request, view, "partials/alerts.html", data)


def require_writer(view: View, what: str) -> None:
    """Refuse (403) a viewer's attempt to change anything."""
    if view.role not in WRITERS:
        raise HTTPException(403, f"Viewers cannot {what}; ask an admin for the member role.")


def _back(view: View, next_path: str) -> Response:
    target = login.safe_next(next_path) if next_path else view.url("/alerts")
    return RedirectResponse(target, status_code=303)


@router.post("/alerts/acknowledge")
def acknowledge(
    request: Request,
    view: ViewDep,
    fingerprint: Annotated[str, Form()],
    comment: Annotated[str, Form()] = "",
    next_path: Annotated[str, Form(alias="next")] = "",
) -> Response:
    """Acknowledge a firing alert ("I'm on it"): its repeats and escalation stop."""
    require_writer(view, "acknowledge alerts")
    if len(comment) > MAX_COMMENT:
        raise HTTPException(400, f"comment: at most {MAX_COMMENT} characters.")
    store = alert_store(login.services(request))
    found = next((i for i in store.instances(view.project.id) if i.fingerprint == fingerprint),
                 None)  # fmt: skip
    if found is None:
        where = view.project.slug
        raise HTTPException(
            404, f"fingerprint: no alert {fingerprint[:64]!r} is pending or firing in {where}"
            " (it may have resolved).",
        )  # fmt: skip
    if found.state != "firing":
        raise HTTPException(
            409, f"fingerprint: {found.rule} is {found.state}; only a firing alert can be"
            " acknowledged.",
        )  # fmt: skip
    try:
        store.acknowledge(view.project.id, fingerprint, view.user.email, time.time_ns(),
                          comment.strip())  # fmt: skip
    except LookupError as exc:  # it resolved meanwhile
        raise HTTPException(404, f"fingerprint: {exc}") from None
    return _back(view, next_path)


def parse_silence(
    matchers: str, duration: str, comment: str, now: int
) -> tuple[tuple[Matcher, ...], int, int]:
    """The form's matchers, start and end; ValueError naming the field.

    >>> parse_silence('service="api"', "1h", "", 0)[2] // 10**9
    3600
    """
    if duration not in SILENCE_FOR:
        raise ValueError(f"duration: must be one of {', '.join(SILENCE_FOR)}, not {duration!r}")
    if len(comment) > MAX_COMMENT:
        raise ValueError(f"comment: at most {MAX_COMMENT} characters")
    if len(matchers) > MAX_MATCHERS:
        raise ValueError(f"matchers: at most {MAX_MATCHERS} characters")
    try:
        parsed = silencing.parse_matchers(matchers)
    except ValueError as exc:
        raise ValueError(f"matchers: {exc}") from None
    ends = now + parse_duration(duration)
    silencing.validate_silence(Silence(0, 0, parsed, now, ends))
    return parsed, now, ends


@router.post("/alerts/silences")
def create_silence(
    request: Request,
    view: ViewDep,
    matchers: Annotated[str, Form()] = "",
    duration: Annotated[str, Form()] = DEFAULT_SILENCE,
    comment: Annotated[str, Form()] = "",
) -> Response:
    """Create a silence from now for the chosen time; the form again (400) with what is wrong,
    nothing stored, when it does not check."""
    require_writer(view, "create silences")
    services, now = login.services(request), time.time_ns()
    try:
        parsed, starts, ends = parse_silence(matchers, duration, comment, now)
    except ValueError as exc:
        view = _on(view, AlertFilters())
        data = alerts_data(services, view, AlertFilters(), now)
        data["silence_form"] = silence_form(matchers, duration, comment, str(exc))
        return render_page(request, view, "alerts.html", data, status_code=400)
    alert_store(services).create_silence(
        view.project.id, parsed, starts, ends, created_by=view.user.email, comment=comment.strip()
    )
    return RedirectResponse(view.url("/alerts") + "#silences", status_code=303)


@router.post("/alerts/silences/{silence_id}/expire")
def expire_silence(
    request: Request,
    view: ViewDep,
    silence_id: int,
    next_path: Annotated[str, Form(alias="next")] = "",
) -> Response:
    """End a silence now (it stays listed as expired); the alerts it muted are told again."""
    require_writer(view, "expire silences")
    if not alert_store(login.services(request)).expire_silence(
        view.project.id, silence_id, time.time_ns()
    ):
        raise HTTPException(404, f"No silence {silence_id} in force or pending in"
                                 f" {view.project.slug}.")  # fmt: skip
    return _back(view, next_path)
