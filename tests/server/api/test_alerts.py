"""/api/v1/alerts on the real app: reads by read token or session, writes by a member's session
with the CSRF token, rules checked like the file (422 naming the field), file rules read-only,
alerts, acknowledgements, silences, history and delivery attempts."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from watchkeeper.alerts.dispatch import DeliveryAttempt
from watchkeeper.alerts.engine import Cycle, Instance, Transition
from watchkeeper.meta.alerts import AlertStore
from watchkeeper.meta.store import MetaStore
from watchkeeper.server.app import Services, create_app
from watchkeeper.server.settings import Settings

PASSWORD = "correct-horse-battery"
RULES = """\
rules:
  - name: FromFile
    kind: new_issue
"""
UI_RULE = {"name": "Slow", "query": "signals.requests", "value": "p95_ms", "threshold": 500,
           "window": "5m", "for": "2m"}  # fmt: skip


@dataclass
class Api:
    client: TestClient
    services: Services
    project_id: int
    read_token: str

    @property
    def alerts(self) -> AlertStore:
        return AlertStore(self.services.meta)

    def login(self, email: str) -> dict[str, str]:
        """Log ``email`` in; the headers a write then needs (the CSRF token)."""
        page = self.client.get("/login").text
        token = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert token is not None
        response = self.client.post(
            "/login", data={"email": email, "password": PASSWORD, "csrf_token": token[1]},
            follow_redirects=False,
        )  # fmt: skip
        assert response.status_code == 303
        return {"X-CSRF-Token": self.client.cookies["wk_csrf"]}

    def read(self, url: str) -> Any:
        response = self.client.get(url, headers={"Authorization": f"Bearer {self.read_token}"})
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    """The app with a rules file over a data directory set up first (as `watchkeeper init`
    does): ana is a member and vic a viewer of project default."""
    rules = tmp_path / "alerts.yml"
    rules.write_text(RULES)
    settings = Settings(data_dir=tmp_path / "data", rules_file=rules)
    settings.data_dir.mkdir()
    meta = MetaStore(settings.meta_url)
    meta.migrate()
    project = meta.ensure_project("default")
    for email, role in (("ana@example.com", "member"), ("vic@example.com", "viewer")):
        meta.grant(meta.create_user(email, PASSWORD).id, project.id, role)
    token = meta.create_key(project.id, "read")
    meta.close()
    app = create_app(settings)
    with TestClient(app) as client:
        api = Api(client, app.state.services, project.id, token)
        deadline = time.monotonic() + 10
        while not api.alerts.rules() and time.monotonic() < deadline:
            time.sleep(0.02)  # the evaluator's first cycle syncs the file
        yield api


def test_rules_are_listed_with_their_source_and_health(api: Api) -> None:
    """A read token sees the project's rules: file rules read-only, with health and counts."""
    body = api.read("/api/v1/alerts/rules")
    assert body["rules_file_error"] is None
    [rule] = body["rules"]
    assert (rule["name"], rule["source"], rule["read_only"]) == ("FromFile", "file", True)
    assert rule["definition"] == {"name": "FromFile", "kind": "new_issue"}
    assert rule["health"] in ("unknown", "ok")
    assert (rule["pending"], rule["firing"]) == (0, 0)
    assert api.read("/api/v1/alerts/rules/FromFile")["kind"] == "new_issue"


def test_reads_need_a_token_or_a_session(api: Api) -> None:
    """Anonymous reads get 401; a logged-in member reads with the session alone; a project the
    user is not in is a 404."""
    response = api.client.get("/api/v1/alerts/rules")
    assert response.status_code == 401
    assert "read token" in response.json()["detail"]
    api.login("ana@example.com")
    assert api.client.get("/api/v1/alerts/rules").status_code == 200
    missing = api.client.get("/api/v1/alerts/rules?project=elsewhere")
    assert missing.status_code == 404


def test_a_member_creates_updates_and_deletes_ui_rules(api: Api) -> None:
    """POST checks the rule and stores it; PUT replaces it; DELETE removes it."""
    headers = api.login("ana@example.com")
    created = api.client.post("/api/v1/alerts/rules", json=UI_RULE, headers=headers)
    assert created.status_code == 201, created.text
    assert (created.json()["source"], created.json()["read_only"]) == ("ui", False)
    again = api.client.post("/api/v1/alerts/rules", json=UI_RULE, headers=headers)
    assert again.status_code == 409
    changed = api.client.put("/api/v1/alerts/rules/Slow", json={**UI_RULE, "threshold": 800},
                             headers=headers)  # fmt: skip
    assert changed.status_code == 200
    assert api.read("/api/v1/alerts/rules/Slow")["definition"]["threshold"] == 800
    stored = api.alerts.rule(api.project_id, "Slow")
    assert stored is not None
    assert stored.rule.threshold == 800.0
    assert api.client.delete("/api/v1/alerts/rules/Slow", headers=headers).status_code == 204
    assert api.client.get("/api/v1/alerts/rules/Slow").status_code == 404


def test_bad_rules_are_refused_naming_the_field(api: Api) -> None:
    """A rule that fails the file's checks is a 422 naming each bad field; nothing is stored."""
    headers = api.login("ana@example.com")
    bad = {**UI_RULE, "window": "five minutes", "op": "=>", "params": {"servce": "api"}}
    response = api.client.post("/api/v1/alerts/rules", json=bad, headers=headers)
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert "window: 'five minutes' is not a duration" in detail
    assert "op: '=>' is not one of" in detail
    assert "params.servce: is not a catalog parameter" in detail
    other = api.client.post("/api/v1/alerts/rules", json={**UI_RULE, "project": "shop"},
                            headers=headers)  # fmt: skip
    assert other.status_code == 422
    assert other.json()["detail"].startswith("project:")
    assert [r.name for r in api.alerts.rules()] == ["FromFile"]


def test_file_rules_are_read_only(api: Api) -> None:
    """The rules file's rules cannot be changed or deleted through the API (409)."""
    headers = api.login("ana@example.com")
    body = {"name": "FromFile", "kind": "new_issue", "window": "2h"}
    assert api.client.put("/api/v1/alerts/rules/FromFile", json=body,
                          headers=headers).status_code == 409  # fmt: skip
    response = api.client.delete("/api/v1/alerts/rules/FromFile", headers=headers)
    assert response.status_code == 409
    assert "rules file" in response.json()["detail"]


def test_writes_need_a_member_session_and_csrf(api: Api) -> None:
    """A read token cannot write; a session without the CSRF token cannot; a viewer cannot."""
    token = {"Authorization": f"Bearer {api.read_token}"}
    assert api.client.post("/api/v1/alerts/rules", json=UI_RULE, headers=token).status_code == 403
    api.login("ana@example.com")
    no_csrf = api.client.post("/api/v1/alerts/rules", json=UI_RULE)
    assert no_csrf.status_code == 403
    assert "CSRF" in no_csrf.json()["detail"]
    headers = api.login("vic@example.com")
    viewer = api.client.post("/api/v1/alerts/rules", json=UI_RULE, headers=headers)
    assert viewer.status_code == 403
    assert "viewers" in viewer.json()["detail"]
    assert [r.name for r in api.alerts.rules()] == ["FromFile"]


def _firing(api: Api, fingerprint: str = "f" * 64) -> str:
    now = time.time_ns()
    instance = Instance(api.project_id, "FromFile", fingerprint,
                        {"alertname": "FromFile", "service": "api"}, {"summary": "new issue"},
                        "firing", active_at=now - 10**9, fired_at=now, last_true=now, value=3.0,
                        last_eval=now)  # fmt: skip
    api.alerts.save_cycle(Cycle(changed=[instance], transitions=[
        Transition(api.project_id, "FromFile", fingerprint, instance.labels, "inactive",
                   "firing", now, 3.0)]))  # fmt: skip
    return fingerprint


def test_alerts_are_listed_and_acknowledged(api: Api) -> None:
    """Firing alerts are listed; a member acknowledges one (shown with who and when); an
    unknown fingerprint is a 404."""
    fp = _firing(api)
    [alert] = api.read("/api/v1/alerts")["alerts"]
    assert (alert["fingerprint"], alert["state"], alert["acknowledged"]) == (fp, "firing", None)
    assert api.read("/api/v1/alerts?state=pending")["alerts"] == []
    assert api.client.get("/api/v1/alerts?state=bogus",
                          headers={"Authorization": f"Bearer {api.read_token}"}).status_code == 400  # fmt: skip
    headers = api.login("ana@example.com")
    acked = api.client.post(f"/api/v1/alerts/{fp}/ack", json={"comment": "on it"}, headers=headers)
    assert acked.status_code == 200
    assert acked.json()["by"] == "ana@example.com"
    [alert] = api.read("/api/v1/alerts")["alerts"]
    assert alert["acknowledged"]["comment"] == "on it"
    assert api.client.post(f"/api/v1/alerts/{'0' * 64}/ack", headers=headers).status_code == 404


def test_silences_are_created_listed_applied_and_expired(api: Api) -> None:
    """A silence from matchers and a duration mutes matching alerts until it is expired."""
    fp = _firing(api)
    headers = api.login("ana@example.com")
    bad = api.client.post("/api/v1/alerts/silences",
                          json={"matchers": 'service="api', "duration": "1h"}, headers=headers)  # fmt: skip
    assert bad.status_code == 422
    assert bad.json()["detail"].startswith("matchers:")
    no_end = api.client.post("/api/v1/alerts/silences", json={"matchers": 'service="api"'},
                             headers=headers)  # fmt: skip
    assert no_end.status_code == 422
    created = api.client.post(
        "/api/v1/alerts/silences",
        json={"matchers": 'service="api"', "duration": "1h", "comment": "deploy"},
        headers=headers,
    )
    assert created.status_code == 201, created.text
    silence = created.json()
    assert (silence["matchers"], silence["state"]) == (['service="api"'], "active")
    assert silence["created_by"] == "ana@example.com"
    assert [s["id"] for s in api.read("/api/v1/alerts/silences")["silences"]] == [silence["id"]]
    [alert] = api.read("/api/v1/alerts")["alerts"]
    assert alert["fingerprint"] == fp
    assert alert["silenced_by"] == silence["id"]
    gone = api.client.delete(f"/api/v1/alerts/silences/{silence['id']}", headers=headers)
    assert gone.status_code == 204
    assert api.read("/api/v1/alerts/silences")["silences"] == []
    assert api.read("/api/v1/alerts/silences?expired=true")["silences"][0]["state"] == "expired"
    again = api.client.delete(f"/api/v1/alerts/silences/{silence['id']}", headers=headers)
    assert again.status_code == 404


def test_history_and_notification_attempts(api: Api) -> None:
    """Transitions and delivery attempts are readable, newest first."""
    fp = _firing(api)
    api.alerts.record_attempt(api.project_id, DeliveryAttempt(
        "oncall", "{}:{}", "firing", 0, 1, False, "HTTP 503", time.time_ns()))  # fmt: skip
    [entry] = api.read("/api/v1/alerts/history?since=1h")["history"]
    assert (entry["fingerprint"], entry["from"], entry["to"]) == (fp, "inactive", "firing")
    assert api.read(f"/api/v1/alerts/history?fingerprint={'0' * 64}")["history"] == []
    [attempt] = api.read("/api/v1/alerts/notifications")["attempts"]
    assert (attempt["channel"], attempt["ok"], attempt["error"]) == ("oncall", False, "HTTP 503")
