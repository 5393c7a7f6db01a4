"""One alert rule (R-AL5): its definition, state and history; and, for rules made in the UI, the
editor, the New rule form, enable/disable and delete (members and admins, as in the alerts API).

A rule is edited as YAML (or JSON, which YAML reads too) in a text area and checked by the same
parser as the rules file (alerts/rules.py ``parse_rule``), so a rule is valid here exactly when
it is valid in the file; each problem names its field and line, and a rule with a problem is not
stored. Rules from the rules file are shown read-only: the file is the reviewed source, and the
evaluator would put it back at its next reload anyway.
"""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any, Final

import yaml  # type: ignore[import-untyped]
from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import RedirectResponse, Response

from watchkeeper.alerts import located
from watchkeeper.alerts.rules import Problem, Rule, RulesError, parse_rule
from watchkeeper.dashboard import login
from watchkeeper.dashboard.pages.alerts import (
    HISTORY,
    WRITERS,
    alert_rows,
    alert_store,
    condition,
    history_row,
)
from watchkeeper.dashboard.pages.table import Table
from watchkeeper.dashboard.pages.view import View, ViewDep, render_page
from watchkeeper.meta.alerts import ReadOnlyRuleError, RuleExistsError, StoredRule

if TYPE_CHECKING:
    from watchkeeper.server.app import Services

router = APIRouter()

RULE_EDITORS: Final = WRITERS
"""Roles that may create, edit and delete UI rules: the same as for acknowledgements and
silences, as server/api/alerts.py allows them (a page stricter than its API would protect
nothing: the API takes the same session and CSRF token)."""
MAX_TEXT: Final = 64 * 1024
RULE_HISTORY: Final = 50
ORDER: Final = (
    "name", "kind", "project", "description", "enabled", "query", "params", "value", "by", "op",
    "threshold", "z", "baseline_weeks", "min_baseline", "direction", "severity", "window", "for",
    "keep_firing_for", "interval", "no_data", "on_error", "labels", "annotations",
)  # fmt: skip
"""The order a definition is written in: what it is, what it asks, when it fires, what it says
(the store keeps it as JSON with sorted keys)."""
EXAMPLE: Final = """\
name: HighErrorRate
kind: threshold
query: signals.requests
value: error_pct
by: [service]
op: ">"
threshold: 5
window: 5m
for: 2m
labels:
  severity: major
annotations:
  summary: "Error rate {{ $value | humanize }}% on {{ $labels.service }}"
"""
"""What the New rule form starts from: docs/alerts.md describes every field."""


def to_yaml(definition: Mapping[str, Any]) -> str:
    """A rule's definition as the editor shows it: YAML, its fields in :data:`ORDER`.

    >>> print(to_yaml({"threshold": 5, "name": "Errors", "by": ["service"]}), end="")
    name: Errors
    by: [service]
    threshold: 5
    """
    ordered = {key: definition[key] for key in ORDER if key in definition}
    ordered |= {key: value for key, value in definition.items() if key not in ordered}
    text: str = yaml.dump(ordered, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)
    return text


class _Dumper(yaml.SafeDumper):  # type: ignore[misc]
    """Mappings as blocks, a list of plain values on one line: ``by: [service, http_route]``."""


def _list(dumper: Any, data: list[Any]) -> Any:
    flat = not any(isinstance(item, dict | list) for item in data)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flat)


_Dumper.add_representer(list, _list)


def _line(lines: Mapping[str, int], field: str) -> int | None:
    # A problem names a field (params.service, by[1]); the nearest written parent has a line.
    while field:
        if field in lines:
            return lines[field]
        field = re.sub(r"(\.[^.\[]*|\[\d+\])$", "", field) if re.search(r"[.\[]", field) else ""
    return None


def read_rule(text: str, project: str) -> Rule:
    """A rule from the editor's text, checked as the rules file checks one; :class:`RulesError`
    naming each bad field, with its line. ``project`` is the page's: a rule names no other.

    >>> read_rule("name: NewIssue\\nkind: new_issue\\nwindow: soon\\n", "shop")
    Traceback (most recent call last):
    ...
    watchkeeper.alerts.rules.RulesError: 3: window: 'soon' is not a duration like 30s, 5m, 2h, 7d
    """
    if len(text) > MAX_TEXT:
        raise RulesError([Problem("definition", f"is longer than {MAX_TEXT:,} characters")])
    try:
        data, paths = located.load(text)
    except located.LocatedError as exc:
        raise RulesError([Problem(located.field_name(exc.path), str(exc), exc.line)]) from None
    lines = {located.field_name(path): line for path, line in paths.items()}
    if isinstance(data, dict) and data.get("project", project) != project:
        message = f"this rule would be in project {project!r}: write that, or leave project out"
        raise RulesError([Problem("project", message, lines.get("project"))])
    try:
        # Stored with its project, as the API stores it: the definition says where it belongs.
        return parse_rule({**data, "project": project} if isinstance(data, dict) else data)
    except RulesError as exc:
        found = [dataclasses.replace(p, line=_line(lines, p.field)) for p in exc.problems]
        raise RulesError(found) from None


def _stored(services: Services, view: View, name: str) -> StoredRule:
    found = alert_store(services).rule(view.project.id, name)
    if found is None:
        raise HTTPException(404, f"No alert rule {name[:128]!r} in project {view.project.slug}.")
    return found


def rules_file(services: Services) -> str:
    """The rules file the server reads ('' for none): where a file rule is changed."""
    evaluator = services.evaluator
    path = evaluator.rules_file if evaluator is not None else services.settings.rules_file
    return str(path or "")


def require_editor(view: View, what: str) -> None:
    """Refuse (403) a viewer's attempt to change rules."""
    if view.role not in RULE_EDITORS:
        raise HTTPException(403, f"Viewers cannot {what}; ask an admin for the member role.")


def rule_data(
    services: Services, view: View, stored: StoredRule | None, text: str = "",
    problems: tuple[Problem, ...] = (),
) -> dict[str, Any]:  # fmt: skip
    """A rule's page (``stored``), or the New rule form (None): the definition, the editor's
    text, the rule's alerts now and its transitions."""
    common = {
        "stored": stored, "problems": problems, "can_edit": view.role in RULE_EDITORS,
        "can_write": view.role in WRITERS, "rules_file": rules_file(services),
    }  # fmt: skip
    if stored is None:
        return common | {"text": text or EXAMPLE, "definition": "", "condition": ""}
    store, project, now = alert_store(services), view.project.id, time.time_ns()
    instances = [i for i in store.instances(project) if i.rule == stored.name]
    alerts = alert_rows(store, view, instances, store.silences(project, active_at=now), now)
    history = store.history(project, rule=stored.name, limit=RULE_HISTORY)
    definition = to_yaml(stored.rule.definition) if stored.rule.definition else ""
    return common | {
        "text": text or definition,
        "definition": definition,
        "condition": condition(stored.rule) if stored.rule.definition else "",
        "alerts": alerts,
        "history": Table("history", HISTORY, [history_row(view, e) for e in history]),
    }


def _page(
    request: Request, view: View, stored: StoredRule | None, name: str, **context: Any
) -> Response:
    services = login.services(request)
    path = f"/alerts/rules/{stored.name}" if stored else "/alerts/new-rule"
    view = view.on(path, "/alerts")
    status = 400 if context.get("problems") else 200
    return render_page(request, view, name, rule_data(services, view, stored, **context), status)


@router.get("/alerts/new-rule")
def new_rule(request: Request, view: ViewDep) -> Response:
    """The New rule form (members and admins)."""
    require_editor(view, "create alert rules")
    return _page(request, view, None, "alert_rule.html")


@router.get("/alerts/rules/{name}")
def rule(request: Request, view: ViewDep, name: str) -> Response:
    """One rule: its definition (an editor for UI rules), its alerts and history."""
    stored = _stored(login.services(request), view, name)
    return _page(request, view, stored, "alert_rule.html")


@router.get("/partials/alerts/rules/{name}")
def rule_live(request: Request, view: ViewDep, name: str) -> Response:
    """A rule's live part (state, alerts, history), for htmx."""
    stored = _stored(login.services(request), view, name)
    return _page(request, view, stored, "partials/alert_rule.html")


@router.post("/alerts/rules")
def create_rule(
    request: Request, view: ViewDep, definition: Annotated[str, Form()] = ""
) -> Response:
    """Create a UI rule from the editor's text; the form again (400) naming each problem,
    nothing stored, when it does not check or its name is taken."""
    require_editor(view, "create alert rules")
    services = login.services(request)
    try:
        checked = read_rule(definition, view.project.slug)
        created = alert_store(services).create_rule(view.project.id, checked)
    except (RulesError, RuleExistsError) as exc:
        return _page(request, view, None, "alert_rule.html", text=definition,
                     problems=_problems(exc))  # fmt: skip
    return RedirectResponse(view.url(f"/alerts/rules/{created.name}"), status_code=303)


def _problems(exc: RulesError | RuleExistsError) -> tuple[Problem, ...]:
    if isinstance(exc, RulesError):
        return exc.problems
    field, _, message = str(exc).partition(": ")
    return (Problem(field, message),)


def _writable(services: Services, view: View, name: str, what: str) -> StoredRule:
    require_editor(view, what)
    stored = _stored(services, view, name)
    if stored.source != "ui":
        raise HTTPException(409, f"{name} comes from the rules file: change it there.")
    return stored


@router.post("/alerts/rules/{name}")
def update_rule(
    request: Request, view: ViewDep, name: str, definition: Annotated[str, Form()] = ""
) -> Response:
    """Replace a UI rule with the editor's text (it may rename it); the page again (400)
    naming each problem, the stored rule unchanged, when it does not check."""
    services = login.services(request)
    stored = _writable(services, view, name, "edit alert rules")
    try:
        checked = read_rule(definition, view.project.slug)
        updated = alert_store(services).update_rule(view.project.id, name, checked)
    except (RulesError, RuleExistsError) as exc:
        return _page(request, view, stored, "alert_rule.html", text=definition,
                     problems=_problems(exc))  # fmt: skip
    except ReadOnlyRuleError as exc:  # the rules file took the name meanwhile
        raise HTTPException(409, str(exc)) from None
    return RedirectResponse(view.url(f"/alerts/rules/{updated.name}"), status_code=303)


@router.post("/alerts/rules/{name}/enabled")
def set_enabled(
    request: Request, view: ViewDep, name: str, enabled: Annotated[str, Form()]
) -> Response:
    """Enable (``enabled=on``) or disable (``off``) a UI rule; a disabled rule's alerts
    resolve at the next cycle."""
    if enabled not in ("on", "off"):
        raise HTTPException(400, f"enabled: must be on or off, not {enabled[:16]!r}.")
    services = login.services(request)
    stored = _writable(services, view, name, "enable or disable alert rules")
    definition = dict(stored.rule.definition) | {"enabled": enabled == "on"}
    try:
        checked = parse_rule(definition)
    except RulesError as exc:  # a stored rule that no longer checks: fix it in the editor
        return _page(request, view, stored, "alert_rule.html", problems=exc.problems)
    alert_store(services).update_rule(view.project.id, name, checked)
    return RedirectResponse(view.url(f"/alerts/rules/{name}"), status_code=303)


@router.post("/alerts/rules/{name}/delete")
def delete_rule(request: Request, view: ViewDep, name: str) -> Response:
    """Delete a UI rule; its alerts resolve at the next cycle, its history stays."""
    services = login.services(request)
    _writable(services, view, name, "delete alert rules")
    alert_store(services).delete_rule(view.project.id, name)
    return RedirectResponse(view.url("/alerts") + "#rules", status_code=303)
