"""The Issues list: issues made by real ingest (grouping pipeline), with their counts, filters,
status changes (CSRF-protected POST forms), downloads, and how to send errors when there are none."""

from __future__ import annotations

import itertools
import re
import time
from typing import Any

from tests.dashboard.conftest import SECOND, Dashboard, form_token, table_rows

_ids = itertools.count()


def frame(function: str, lineno: int, *, in_app: bool = True, module: str = "shop.cart",
          **fields: Any) -> dict[str, Any]:  # fmt: skip
    """A stack frame as the SDK sends it."""
    return {"module": module, "function": function, "filename": module.replace(".", "/") + ".py",
            "lineno": lineno, "in_app": in_app, **fields}  # fmt: skip


def error(kind: str, message: str, *, ago_s: float = 60, function: str = "checkout",
          **fields: Any) -> dict[str, Any]:  # fmt: skip
    """An error record ``ago_s`` seconds ago, raised in ``shop.cart.<function>``."""
    record = {
        "kind": "error", "id": f"er-{next(_ids):06d}",
        "ts": time.time_ns() - int(ago_s * SECOND), "type": kind, "message": message,
        "frames": [frame("dispatch", 88, in_app=False, module="starlette.routing"),
                   frame(function, 42)],
    }  # fmt: skip
    return record | fields


def ingest(dashboard: Dashboard, *records: dict[str, Any]) -> None:
    """POST the records to /api/v1/ingest with a new ingest key, as an app would."""
    key = dashboard.services.meta.create_key(dashboard.project.id, "ingest")
    response = dashboard.client.post(
        "/api/v1/ingest", json={"records": list(records)},
        headers={"Authorization": f"Bearer {key}"},
    )  # fmt: skip
    assert response.status_code == 200, response.text


def fill(dashboard: Dashboard) -> None:
    """Three issues: a KeyError seen 3 times by 2 users, a TimeoutError, a ValueError."""
    ingest(
        dashboard,
        error("KeyError", "'sku-1'", ago_s=300, user_id="u1", release="1.0", environment="prod"),
        error("KeyError", "'sku-2'", ago_s=200, user_id="u2", release="1.1", environment="prod"),
        error("KeyError", "'sku-3'", ago_s=100, user_id="u1", release="1.1", environment="prod"),
        error("TimeoutError", "upstream", ago_s=50, function="pay", release="1.1",
              environment="staging"),
        error("ValueError", "bad quantity", ago_s=400, function="add", level="warning",
              release="1.0", environment="prod"),
    )  # fmt: skip


def titles(page: str) -> list[str]:
    return [row[1].splitlines()[0] for row in table_rows(page, "issues")]


def issue_id(dashboard: Dashboard, title_start: str) -> int:
    return next(i.id for i in dashboard.services.meta.issues(dashboard.project.id)
                if i.title.startswith(title_start))  # fmt: skip


def test_list_shows_issues_made_by_ingest(logged_in: Dashboard) -> None:
    """Each issue shows title, culprit, level, status, events, users and releases, last seen first."""
    fill(logged_in)
    page = logged_in.client.get("/issues").text
    rows = table_rows(page, "issues")
    assert titles(page) == [
        "TimeoutError: upstream",
        "KeyError: 'sku-1'",
        "ValueError: bad quantity",
    ]
    key_error = next(row for row in rows if row[1].startswith("KeyError"))
    assert key_error[4:6] == ["3", "2"]  # events, users
    assert "shop.cart in checkout" in key_error[1]
    assert key_error[8] == "1.0 → 1.1"
    assert 'class="badge badge-warning">warning<' in page
    assert "Error events" in page and "data-chart=" in page


def test_filters_narrow_the_list(logged_in: Dashboard) -> None:
    """Title search, release, environment, severity and sort each change the list."""
    fill(logged_in)
    listed = lambda query: titles(logged_in.client.get(f"/issues?{query}").text)
    assert listed("q=timeout") == ["TimeoutError: upstream"]
    assert listed("environment=staging") == ["TimeoutError: upstream"]
    assert listed("release=1.0") == ["KeyError: 'sku-1'", "ValueError: bad quantity"]
    assert listed("sort=count")[0] == "KeyError: 'sku-1'"
    severities = {i.severity for i in logged_in.services.meta.issues(logged_in.project.id)}
    for severity in severities:
        assert listed(f"severity={severity}")
    page = logged_in.client.get("/issues?severity=huge").text
    assert "Severity &#39;huge&#39; is not one of critical, major, minor; ignored." in page


def test_status_change_needs_csrf_and_moves_the_issue(logged_in: Dashboard) -> None:
    """Resolving through the bulk form moves the issue to Resolved; without a token it is a 403."""
    fill(logged_in)
    page = logged_in.client.get("/issues").text
    target = issue_id(logged_in, "KeyError")
    data = {"status": "resolved", "issue": str(target), "next": "/issues"}
    refused = logged_in.client.post("/issues/status", data=data, follow_redirects=False)
    assert refused.status_code == 403
    assert logged_in.services.meta.issue(logged_in.project.id, target).status == "unresolved"  # type: ignore[union-attr]
    done = logged_in.client.post(
        "/issues/status", data=data | {"csrf_token": form_token(page)}, follow_redirects=False
    )
    assert done.status_code == 303 and done.headers["location"] == "/issues"
    assert logged_in.services.meta.issue(logged_in.project.id, target).status == "resolved"  # type: ignore[union-attr]
    assert "KeyError: 'sku-1'" not in titles(logged_in.client.get("/issues").text)
    assert titles(logged_in.client.get("/issues?status=resolved").text) == ["KeyError: 'sku-1'"]
    assert len(titles(logged_in.client.get("/issues?status=all").text)) == 3


def test_bulk_ignore_and_unresolve(logged_in: Dashboard) -> None:
    """Several checked issues change at once; unresolve brings them back."""
    fill(logged_in)
    token = form_token(logged_in.client.get("/issues").text)
    ids = [str(issue_id(logged_in, "KeyError")), str(issue_id(logged_in, "ValueError"))]
    post = lambda status: logged_in.client.post(
        "/issues/status", data={"status": status, "issue": ids, "csrf_token": token}
    )
    assert post("ignored").status_code == 200  # followed back to the list
    assert titles(logged_in.client.get("/issues?status=ignored").text) == [
        "KeyError: 'sku-1'", "ValueError: bad quantity",
    ]  # fmt: skip
    post("unresolved")
    assert len(titles(logged_in.client.get("/issues").text)) == 3
    assert post("deleted").status_code == 400


def test_regressed_issue_is_flagged(logged_in: Dashboard) -> None:
    """An issue resolved in a release that comes back in a newer one is listed as regressed."""
    fill(logged_in)
    target = issue_id(logged_in, "KeyError")
    logged_in.services.meta.set_issue_status(logged_in.project.id, target, "resolved", "1.1")
    ingest(logged_in, error("KeyError", "'sku-9'", ago_s=5, release="1.2"))
    page = logged_in.client.get("/issues").text
    assert re.search(r'class="status status-regressed"[^>]*>regressed<', page)


def test_export_has_the_rows(logged_in: Dashboard) -> None:
    """CSV and JSON downloads carry the listed issues with their counts."""
    fill(logged_in)
    rows = logged_in.client.get("/issues?table=issues&format=json").json()["rows"]
    assert [(r["title"], r["count"], r["users"]) for r in rows] == [
        ("TimeoutError: upstream", 1, 0), ("KeyError: 'sku-1'", 3, 2),
        ("ValueError: bad quantity", 1, 0),
    ]  # fmt: skip
    csv = logged_in.client.get("/issues?table=issues&format=csv").text
    assert csv.splitlines()[0].startswith("title,culprit,type,level,severity,status,count,users")
    chart = logged_in.client.get("/issues?table=events&format=json").json()["rows"]
    assert sum(row["events"] for row in chart) == 5


def test_empty_state_says_how_to_send_errors(logged_in: Dashboard) -> None:
    """Without errors the page shows capture_exception and the project's Sentry DSN format."""
    page = logged_in.client.get("/issues").text
    assert "watchkeeper.capture_exception(error)" in page
    assert f"http://&lt;ingest key&gt;@testserver/{logged_in.project.id}" in page
    assert "Create a DSN" not in page  # members cannot create keys


def test_admin_creates_a_dsn_once(logged_in: Dashboard) -> None:
    """An admin's "Create a DSN" makes an ingest key and shows its DSN; it needs the CSRF token."""
    meta = logged_in.services.meta
    meta.grant(logged_in.user.id, logged_in.project.id, "admin")
    page = logged_in.client.get("/issues").text
    assert "Create a DSN" in page
    assert logged_in.client.post("/issues/dsn").status_code == 403
    created = logged_in.client.post("/issues/dsn", data={"csrf_token": form_token(page)}).text
    found = re.search(rf"http://(wki_[\w-]+)@testserver/{logged_in.project.id}", created)
    assert found and meta.resolve_key(found.group(1), "ingest") == logged_in.project.id
    assert found.group(1) not in logged_in.client.get("/issues").text


def test_anonymous_is_sent_to_login(dashboard: Dashboard) -> None:
    """Without a session the list redirects to the login form."""
    response = dashboard.client.get("/issues", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=%2Fissues"


def test_partial_is_the_live_part(logged_in: Dashboard) -> None:
    """/partials/issues is the live part alone with the same filters."""
    fill(logged_in)
    live = logged_in.client.get("/partials/issues?q=timeout&refresh=30s").text
    assert live.lstrip().startswith('<div id="live"')
    assert titles(live) == ["TimeoutError: upstream"]
