"""One alert rule's page: its state, alerts and history; UI rules created, edited, enabled,
disabled and deleted by members through the YAML editor, checked like the rules file; file rules
read-only; viewers only look."""

from __future__ import annotations

import html
import re

import httpx
import pytest
import yaml
from tests.dashboard.conftest import Dashboard, form_token, table_rows
from tests.dashboard.test_alerts import seed, stop_evaluator

from watchkeeper.alerts.rules import parse_rule
from watchkeeper.meta.alerts import AlertStore, StoredRule

RULE = """\
name: ChatErrors
kind: threshold
query: signals.requests
value: error_pct
threshold: 5
window: 5m
"""


def quiet(dashboard: Dashboard) -> AlertStore:
    """The project's alert store, with the app's evaluator stopped (the user is a member)."""
    stop_evaluator(dashboard)
    return AlertStore(dashboard.services.meta)


def post(dashboard: Dashboard, path: str, **data: str) -> httpx.Response:
    token = form_token(dashboard.client.get("/alerts").text)
    return dashboard.client.post(path, data=data | {"csrf_token": token}, follow_redirects=False)


def stored(store: AlertStore, dashboard: Dashboard, name: str) -> StoredRule:
    found = store.rule(dashboard.project.id, name)
    assert found is not None, f"no rule {name}"
    return found


def problems(page: str) -> list[str]:
    """The problems the editor lists, as text."""
    found = re.findall(r"<li>(.*?)</li>", page.split('class="problems"')[1].split("</ul>", 1)[0])
    return [html.unescape(re.sub(r"<[^>]+>", "", item)) for item in found]


def editor_text(page: str) -> str:
    found = re.search(r'<textarea name="definition"[^>]*>(.*?)</textarea>', page, re.S)
    assert found, "no editor on the page"
    return html.unescape(found.group(1))


def test_member_creates_a_rule_from_the_form(logged_in: Dashboard) -> None:
    """The New rule form starts from an example that checks; posting YAML stores a UI rule and
    opens its page with the definition in the editor."""
    store = quiet(logged_in)
    form = logged_in.client.get("/alerts/new-rule").text
    assert parse_rule(yaml.safe_load(editor_text(form))).name == "HighErrorRate"
    created = post(logged_in, "/alerts/rules", definition=RULE)
    assert created.status_code == 303
    assert created.headers["location"].startswith("/alerts/rules/ChatErrors")
    stored = store.rule(logged_in.project.id, "ChatErrors")
    assert stored is not None and stored.source == "ui" and stored.rule.threshold == 5
    page = logged_in.client.get("/alerts/rules/ChatErrors").text
    assert "signals.requests error_pct &gt; 5 over 5m" in page
    assert editor_text(page).startswith(
        "name: ChatErrors\nkind: threshold\nproject: shop\nquery: signals.requests"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (RULE.replace("window: 5m", "window: 5 minutes"),
         "line 6 window: '5 minutes' is not a duration like 30s, 5m, 2h, 7d"),
        (RULE + "treshold: 7\n", "line 7 treshold: is not a field of threshold rules"),
        (RULE.replace("signals.requests", "signals.nope"),
         "line 3 query: 'signals.nope' is not a catalog query"),
        (RULE + "by: [service, colour]\n",
         "line 7 by[1]: signals.requests groups by environment, http_method, http_route, release,"
         " service"),
        (RULE + "project: billing\n",
         "line 7 project: this rule would be in project 'shop': write that, or leave project out"),
        ("name: [unclosed\n", "line 2 not valid YAML: "),
        ("- just\n- a list\n", "a rule must be a mapping of fields"),
    ],
)  # fmt: skip
def test_bad_rule_is_refused_naming_field_and_line(
    logged_in: Dashboard, text: str, expected: str
) -> None:
    """A rule that does not check is a 400 with the editor keeping the text and each problem
    naming its field and line; nothing is stored."""
    store = quiet(logged_in)
    refused = logged_in.client.post(
        "/alerts/rules",
        data={"definition": text, "csrf_token": form_token(logged_in.client.get("/alerts").text)},
    )
    assert refused.status_code == 400
    assert any(problem.startswith(expected) for problem in problems(refused.text))
    assert editor_text(refused.text) == text
    assert store.rules(logged_in.project.id) == []


def test_taken_name_is_refused(logged_in: Dashboard) -> None:
    """Creating a rule with a name the project already has (here a file rule's) is a 400
    naming the field; the existing rule is untouched."""
    store = quiet(logged_in)
    store.sync_file_rules([parse_rule({"name": "ChatErrors", "project": "shop",
                                       "kind": "new_issue"})])  # fmt: skip
    refused = post(logged_in, "/alerts/rules", definition=RULE)
    assert refused.status_code == 400
    assert problems(refused.text) == ["name: this project has a rule named 'ChatErrors'"]
    (only,) = store.rules(logged_in.project.id)
    assert (only.source, only.rule.kind) == ("file", "new_issue")


def test_edit_renames_and_a_bad_edit_changes_nothing(logged_in: Dashboard) -> None:
    """Saving the editor replaces the rule (a new name moves it); a bad edit is a 400 and the
    stored rule stays as it was."""
    store = quiet(logged_in)
    post(logged_in, "/alerts/rules", definition=RULE)
    bad = post(logged_in, "/alerts/rules/ChatErrors", definition=RULE + "op: '>>'\n")
    assert bad.status_code == 400
    assert problems(bad.text) == ["line 7 op: '>>' is not one of >, >=, <, <=, ==, !="]
    assert stored(store, logged_in, "ChatErrors").rule.op == ">"
    renamed = RULE.replace("ChatErrors", "ChatFailures").replace("threshold: 5", "threshold: 9")
    done = post(logged_in, "/alerts/rules/ChatErrors", definition=renamed)
    assert done.headers["location"].startswith("/alerts/rules/ChatFailures")
    assert [r.name for r in store.rules(logged_in.project.id)] == ["ChatFailures"]
    assert stored(store, logged_in, "ChatFailures").rule.threshold == 9


def test_disable_enable_and_delete(logged_in: Dashboard) -> None:
    """Disable and Enable flip the stored rule's enabled; Delete removes it."""
    store = quiet(logged_in)
    post(logged_in, "/alerts/rules", definition=RULE)
    post(logged_in, "/alerts/rules/ChatErrors/enabled", enabled="off")
    assert stored(store, logged_in, "ChatErrors").rule.enabled is False
    page = logged_in.client.get("/alerts").text
    assert "disabled" in table_rows(page, "rules")[0][0]
    post(logged_in, "/alerts/rules/ChatErrors/enabled", enabled="on")
    assert stored(store, logged_in, "ChatErrors").rule.enabled is True
    assert post(logged_in, "/alerts/rules/ChatErrors/enabled", enabled="maybe").status_code == 400
    gone = post(logged_in, "/alerts/rules/ChatErrors/delete")
    assert gone.status_code == 303
    assert store.rules(logged_in.project.id) == []
    assert logged_in.client.get("/alerts/rules/ChatErrors").status_code == 404


def test_file_rule_is_read_only(logged_in: Dashboard) -> None:
    """A file rule's page shows its definition without an editor and says where to change it;
    editing, disabling or deleting it is a 409, as in the alerts API."""
    store = quiet(logged_in)
    store.sync_file_rules([parse_rule({"name": "NewIssue", "project": "shop",
                                       "kind": "new_issue", "window": "1h"})])  # fmt: skip
    page = logged_in.client.get("/alerts/rules/NewIssue").text
    assert "comes from the rules file" in page and 'name="definition"' not in page
    assert "kind: new_issue" in page and "Delete rule" not in page
    for path, data in (("/alerts/rules/NewIssue", {"definition": "name: NewIssue\n"}),
                       ("/alerts/rules/NewIssue/enabled", {"enabled": "off"}),
                       ("/alerts/rules/NewIssue/delete", {})):  # fmt: skip
        refused = post(logged_in, path, **data)
        assert refused.status_code == 409, path
        assert "rules file" in refused.json()["detail"]
    assert stored(store, logged_in, "NewIssue").rule.enabled is True


def test_viewers_cannot_change_rules(logged_in: Dashboard) -> None:
    """Without a CSRF token a member's change is a 403; a viewer sees the rule read-only, and
    the form and every rule change are 403 for them."""
    store = quiet(logged_in)
    post(logged_in, "/alerts/rules", definition=RULE)
    assert logged_in.client.post("/alerts/rules", data={"definition": RULE}).status_code == 403
    meta, project = logged_in.services.meta, logged_in.project.id
    meta.grant(logged_in.user.id, project, "viewer")
    page = logged_in.client.get("/alerts/rules/ChatErrors").text
    assert 'name="definition"' not in page and "member or admin can edit this rule" in page
    assert "New rule" not in logged_in.client.get("/alerts").text
    assert logged_in.client.get("/alerts/new-rule").status_code == 403
    for path, data in (("/alerts/rules", {"definition": RULE.replace("Chat", "Other")}),
                       ("/alerts/rules/ChatErrors", {"definition": RULE}),
                       ("/alerts/rules/ChatErrors/enabled", {"enabled": "off"}),
                       ("/alerts/rules/ChatErrors/delete", {})):  # fmt: skip
        refused = post(logged_in, path, **data)
        assert refused.status_code == 403, path
        assert "Viewers cannot" in refused.json()["detail"]
    assert [r.name for r in store.rules(project)] == ["ChatErrors"]
    assert stored(store, logged_in, "ChatErrors").rule.enabled is True


def test_rule_page_shows_its_alerts_and_history(logged_in: Dashboard) -> None:
    """A rule's page lists its firing alert with the Acknowledge form and its transition; the
    partial is its live part; an unknown rule is a 404."""
    seed(logged_in)
    page = logged_in.client.get("/alerts/rules/HighErrorRate").text
    (alert,) = table_rows(page, "alerts")
    assert alert[1].startswith("firing") and "service=api" in alert[2]
    assert "/alerts/acknowledge" in page
    (transition,) = table_rows(page, "history")
    assert transition[2] == "inactive → firing"
    live = logged_in.client.get("/partials/alerts/rules/HighErrorRate").text
    assert live.lstrip().startswith('<div id="live"') and 'name="definition"' not in live
    assert logged_in.client.get("/alerts/rules/Nope").status_code == 404
