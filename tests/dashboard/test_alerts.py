"""The Alerts page: alerts made by the real engine over real requests, the rules with their state,
the history, silences and notification attempts; acknowledging, silencing and expiring through
CSRF-protected forms; viewers only look."""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

import pytest
from tests.dashboard.conftest import SECOND, Dashboard, form_token, request_span, table_rows

from watchkeeper.alerts.dispatch import DeliveryAttempt
from watchkeeper.alerts.engine import Cycle, Engine, Source, Transition
from watchkeeper.alerts.rules import parse_rule
from watchkeeper.alerts.silences import parse_matchers
from watchkeeper.meta.alerts import AlertStore

HIGH_ERRORS = {
    "name": "HighErrorRate", "query": "signals.requests", "value": "error_pct",
    "by": ["service"], "threshold": 5, "window": "5m", "labels": {"severity": "major"},
    "annotations": {"summary": "Errors at {{ $value | humanize }}% on {{ $labels.service }}"},
}  # fmt: skip
SLOW = {
    "name": "SlowRequests", "query": "signals.requests", "value": "p95_ms", "threshold": 50,
    "window": "5m", "for": "10m",
}  # fmt: skip


def evaluate(dashboard: Dashboard, store: AlertStore, now: int | None = None) -> None:
    """One evaluation cycle of every enabled rule, saved as the evaluator saves it."""
    engine = Engine(store.instances())
    cycle = engine.evaluate(store.enabled_rules(), now or time.time_ns(),
                            Source(dashboard.services.store, store))  # fmt: skip
    store.save_cycle(cycle)


def stop_evaluator(dashboard: Dashboard) -> None:
    """Stop the app's own evaluator task, so that only the test moves the alerts' state."""
    evaluator = dashboard.services.evaluator
    portal = dashboard.client.portal
    if evaluator is not None and portal is not None:
        portal.call(evaluator.stop)


def seed(dashboard: Dashboard) -> AlertStore:
    """Service api fails half the time and is slow: HighErrorRate fires for it, SlowRequests is
    pending (its `for` is 10 minutes); a file rule and a delivery attempt besides."""
    stop_evaluator(dashboard)
    dashboard.write(
        *[request_span("POST", "/chat", 500 if i % 2 else 200, 400, ago_s=30) for i in range(8)],
        *[request_span("GET", "/health", 200, 1, ago_s=30, service="web") for _ in range(4)],
    )
    store = AlertStore(dashboard.services.meta)
    project = dashboard.project.id
    store.create_rule(project, parse_rule(HIGH_ERRORS))
    store.create_rule(project, parse_rule(SLOW))
    store.sync_file_rules([parse_rule({"name": "NewIssue", "project": "shop",
                                       "kind": "new_issue"})])  # fmt: skip
    evaluate(dashboard, store)
    store.record_attempt(project, DeliveryAttempt(
        channel="ops-webhook", group_key='{project="1"}:{alertname="HighErrorRate"}',
        status="firing", escalation=0, attempt=2, ok=False, error="HTTP 503 from receiver",
        at=time.time_ns(),
    ))  # fmt: skip
    return store


def fingerprint(store: AlertStore, dashboard: Dashboard, rule: str) -> str:
    return next(i.fingerprint for i in store.instances(dashboard.project.id) if i.rule == rule)


def test_page_shows_alerts_rules_history_and_notifications(logged_in: Dashboard) -> None:
    """Firing and pending alerts with labels and value, rules with counts and source, the
    transitions, and the failed delivery attempt all show."""
    seed(logged_in)
    page = logged_in.client.get("/alerts").text
    alerts = table_rows(page, "alerts")
    assert [(row[0].splitlines()[0], row[1].split()[0]) for row in alerts] == [
        ("HighErrorRate", "firing"), ("SlowRequests", "pending"),
    ]  # fmt: skip
    assert "service=api" in alerts[0][2] and "severity=major" in alerts[0][2]
    assert alerts[0][3] == "50" and "Errors at 50% on api" in alerts[0][0]
    rules = {row[0].split()[0]: row for row in table_rows(page, "rules")}
    assert sorted(rules) == ["HighErrorRate", "NewIssue", "SlowRequests"]
    assert rules["HighErrorRate"][3:7] == ["ui", "ok", "1", "0"]  # source, health, firing, pending
    assert rules["SlowRequests"][5:7] == ["0", "1"]
    assert rules["NewIssue"][2:4] == ["new issue", "file"]
    assert "signals.requests error_pct by service > 5 over 5m" in rules["HighErrorRate"][1]
    history = table_rows(page, "history")
    assert sorted((row[1], row[3]) for row in history) == [
        ("HighErrorRate", "inactive → firing"), ("SlowRequests", "inactive → pending"),
    ]  # fmt: skip
    (attempt,) = table_rows(page, "notifications")
    assert attempt[1:4] == ["ops-webhook", "firing", "2"] and "failed" in attempt[4]
    assert "HTTP 503 from receiver" in attempt[4]
    summary = re.sub(r"<[^>]+>|\s+", " ", page.split('class="summary">')[1].split("</p>")[0])
    assert summary.split()[:8] == ["1", "firing", "·", "1", "pending", "·", "0", "silenced"]
    assert "no server is evaluating rules" in summary


def test_acknowledge_needs_csrf_and_marks_the_alert(logged_in: Dashboard) -> None:
    """Acknowledging stores who and the comment; the alert shows it; no token is a 403."""
    store = seed(logged_in)
    page = logged_in.client.get("/alerts").text
    firing = fingerprint(store, logged_in, "HighErrorRate")
    data = {"fingerprint": firing, "comment": "on it"}
    assert logged_in.client.post("/alerts/acknowledge", data=data).status_code == 403
    assert store.acks(logged_in.project.id) == {}
    done = logged_in.client.post("/alerts/acknowledge", data=data | {"csrf_token": form_token(page)},
                                 follow_redirects=False)  # fmt: skip
    assert done.status_code == 303
    ack = store.acks(logged_in.project.id)[firing]
    assert (ack.by, ack.comment) == ("ada@example.com", "on it")
    row = table_rows(logged_in.client.get("/alerts").text, "alerts")[0]
    assert "acknowledged by ada@example.com" in row[1]
    assert "Acknowledge" not in row[5]


def test_acknowledge_refuses_pending_and_unknown_alerts(logged_in: Dashboard) -> None:
    """A pending alert cannot be acknowledged (409), an unknown one is a 404; nothing stored."""
    store = seed(logged_in)
    token = form_token(logged_in.client.get("/alerts").text)
    pending = fingerprint(store, logged_in, "SlowRequests")
    refused = logged_in.client.post("/alerts/acknowledge",
                                    data={"fingerprint": pending, "csrf_token": token})  # fmt: skip
    assert refused.status_code == 409 and "pending" in refused.json()["detail"]
    unknown = logged_in.client.post("/alerts/acknowledge",
                                    data={"fingerprint": "f" * 64, "csrf_token": token})  # fmt: skip
    assert unknown.status_code == 404 and unknown.json()["detail"].startswith("fingerprint:")
    assert store.acks(logged_in.project.id) == {}


def test_silence_form_is_prefilled_and_mutes_the_alert(logged_in: Dashboard) -> None:
    """Silence… opens the form with the alert's labels as matchers; creating it mutes the alert
    and lists the silence as active."""
    store = seed(logged_in)
    firing = fingerprint(store, logged_in, "HighErrorRate")
    form = logged_in.client.get(f"/alerts?silence={firing}").text
    matchers = re.search(r'<textarea name="matchers"[^>]*>([^<]*)</textarea>', form)
    assert matchers
    text = matchers.group(1).replace("&#34;", '"')
    assert text == 'alertname="HighErrorRate", service="api", severity="major"'
    data = {"matchers": text, "duration": "1h", "comment": "deploy", "csrf_token": form_token(form)}
    created = logged_in.client.post("/alerts/silences", data=data, follow_redirects=False)
    assert created.status_code == 303
    (silence,) = store.silences(logged_in.project.id)
    assert silence.matchers == parse_matchers(text) and silence.created_by == "ada@example.com"
    assert abs(silence.ends_at - silence.starts_at - 3600 * SECOND) < SECOND
    page = logged_in.client.get("/alerts").text
    assert "silenced until" in table_rows(page, "alerts")[0][1]
    (row,) = table_rows(page, "silences")
    assert row[1:4] == ["active", row[2], "1"] and "deploy" in row[0]
    assert re.search(r"<strong>1</strong> silenced", page)


@pytest.mark.parametrize(
    ("matchers", "duration", "named"),
    [
        ('env!="prod"', "1h", "matchers: at least one matcher must not match the empty string"),
        ('model=~"gpt-(4"', "1h", "matchers: matcher model=~"),
        ("service=api service=web", "1h", "matchers: matchers"),
        ('service="api"', "5y", "duration: must be one of 30m"),
    ],
)
def test_bad_silence_is_refused_naming_the_field(
    logged_in: Dashboard, matchers: str, duration: str, named: str
) -> None:
    """A silence that does not check is a 400 with the form again, its text kept, naming the
    field; nothing is stored."""
    store = seed(logged_in)
    token = form_token(logged_in.client.get("/alerts").text)
    data = {"matchers": matchers, "duration": duration, "csrf_token": token}
    refused = logged_in.client.post("/alerts/silences", data=data)
    assert refused.status_code == 400
    error = re.search(r'<p class="error" role="alert">([^<]*)</p>', refused.text)
    assert error and error.group(1).replace("&#34;", '"').startswith(named)
    assert store.silences(logged_in.project.id) == []


def test_expire_ends_a_silence(logged_in: Dashboard) -> None:
    """Expire ends a silence now: it is listed as expired and the alert is no longer muted;
    expiring it again is a 404."""
    store = seed(logged_in)
    now = time.time_ns()
    silence = store.create_silence(logged_in.project.id, parse_matchers('alertname="HighErrorRate"'),
                                   now - SECOND, now + 3600 * SECOND)  # fmt: skip
    token = form_token(logged_in.client.get("/alerts").text)
    path = f"/alerts/silences/{silence.id}/expire"
    assert logged_in.client.post(path).status_code == 403  # no CSRF token
    done = logged_in.client.post(path, data={"csrf_token": token}, follow_redirects=False)
    assert done.status_code == 303
    assert store.silences(logged_in.project.id, active_at=time.time_ns()) == []
    page = logged_in.client.get("/alerts").text
    assert table_rows(page, "silences")[0][1] == "expired"
    assert "silenced" not in table_rows(page, "alerts")[0][1]
    again = logged_in.client.post(path, data={"csrf_token": token})
    assert again.status_code == 404


def test_viewer_sees_but_cannot_act(logged_in: Dashboard) -> None:
    """A viewer gets the page without action forms; acknowledging, silencing and expiring are
    403 even with a valid token."""
    store = seed(logged_in)
    meta = logged_in.services.meta
    meta.grant(logged_in.user.id, logged_in.project.id, "viewer")
    page = logged_in.client.get("/alerts").text
    assert "HighErrorRate" in page
    assert "/alerts/acknowledge" not in page and 'class="silence-link"' not in page
    assert "New silence" not in page and "New rule" not in page
    token = form_token(page)
    firing = fingerprint(store, logged_in, "HighErrorRate")
    silence = store.create_silence(logged_in.project.id, parse_matchers('alertname="X"'),
                                   time.time_ns(), time.time_ns() + 3600 * SECOND)  # fmt: skip
    for path, data in (
        ("/alerts/acknowledge", {"fingerprint": firing}),
        ("/alerts/silences", {"matchers": 'alertname="X"', "duration": "1h"}),
        (f"/alerts/silences/{silence.id}/expire", {}),
    ):
        refused = logged_in.client.post(path, data=data | {"csrf_token": token})
        assert refused.status_code == 403, path
        assert "Viewers cannot" in refused.json()["detail"]
    assert store.acks(logged_in.project.id) == {}
    assert len(store.silences(logged_in.project.id, active_at=time.time_ns())) == 1


def test_history_filters_by_rule_and_pages(logged_in: Dashboard) -> None:
    """The history narrows to one rule and pages by 50, newest first."""
    store = seed(logged_in)
    now, project = time.time_ns(), logged_in.project.id
    flips = [
        Transition(project, "Flappy", f"{n:064x}", {"alertname": "Flappy", "n": str(n)},
                   "inactive", "pending", now - (n + 1) * SECOND, float(n))
        for n in range(60)
    ]  # fmt: skip
    store.save_cycle(Cycle(transitions=flips))
    first = logged_in.client.get("/alerts?rule=Flappy").text
    rows = table_rows(first, "history")
    assert [row[4] for row in rows] == [str(n) for n in range(50)]
    assert {row[1] for row in rows} == {"Flappy"}
    older = re.search(r'<a href="([^"]+)" rel="next">Older', first)
    assert older
    second = logged_in.client.get(older.group(1).replace("&amp;", "&")).text
    assert [row[4] for row in table_rows(second, "history")] == [str(n) for n in range(50, 60)]
    assert 'rel="next"' not in second and 'rel="prev"' in second
    everything = table_rows(logged_in.client.get("/alerts").text, "history")
    assert {row[1] for row in everything[:2]} == {"HighErrorRate", "SlowRequests"}


def test_exports_have_the_rows(logged_in: Dashboard) -> None:
    """Each table downloads as JSON and CSV with the rows the page shows."""
    seed(logged_in)
    document = json.loads(logged_in.client.get("/alerts?table=alerts&format=json").text)
    assert [row["rule"] for row in document["rows"]] == ["HighErrorRate", "SlowRequests"]
    assert document["rows"][0]["labels"]["service"] == "api"
    csv = logged_in.client.get("/alerts?table=rules&format=csv").text.splitlines()
    assert csv[0].startswith("name,kind,source,enabled,health,firing,pending")
    assert len(csv) == 4
    for name in ("history", "silences", "notifications"):
        assert logged_in.client.get(f"/alerts?table={name}&format=json").status_code == 200


def test_empty_page_and_live_part(logged_in: Dashboard) -> None:
    """Without rules the page says where rules come from; the partial is the live part alone."""
    page = logged_in.client.get("/alerts").text
    assert "No alert rules in Shop yet" in page and "Nothing is firing" in page
    live = logged_in.client.get("/partials/alerts?refresh=5s").text
    assert live.lstrip().startswith('<div id="live"') and "<html" not in live
    assert 'hx-get="/partials/alerts?project=shop&amp;range=1h&amp;refresh=5s"' in live


def test_rules_file_rules_and_its_problems_show(logged_in: Dashboard, tmp_path: Path) -> None:
    """Rules the evaluator loads from the rules file are listed as file rules, their page names
    the file; a file with problems is reported on the page, its last good rules kept."""
    stop_evaluator(logged_in)
    evaluator = logged_in.services.evaluator
    assert evaluator is not None
    rules_file = tmp_path / "alerts.yml"
    rules_file.write_text("rules:\n  - name: FromFile\n    project: shop\n    kind: new_issue\n")
    evaluator.rules_file = rules_file
    assert evaluator.reload()
    page = logged_in.client.get("/alerts").text
    assert table_rows(page, "rules")[0][:4] == [
        "FromFile",
        "a new issue in 1h",
        "new issue",
        "file",
    ]
    assert str(rules_file) in logged_in.client.get("/alerts/rules/FromFile").text
    rules_file.write_text("rules:\n  - name: FromFile\n    kind: new_issue\n    window: soon\n")
    os.utime(rules_file, ns=(time.time_ns(), time.time_ns() + SECOND))
    assert not evaluator.reload()
    page = logged_in.client.get("/alerts").text
    assert "The rules file has problems" in page
    assert "rules[0].window: &#39;soon&#39; is not a duration" in page
    assert table_rows(page, "rules")[0][0] == "FromFile"
