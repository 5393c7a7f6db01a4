"""The page pattern on the Overview: view parameters, catalog data, full page and live part."""

from __future__ import annotations

import html
import json
import re
from typing import Any

import pytest
from tests.dashboard.conftest import Dashboard, event, span

from watchkeeper.dashboard import login
from watchkeeper.dashboard.pages import RANGES, bucket_seconds


def charts(page: str) -> list[dict[str, Any]]:
    """The chart data embedded in a page, in page order."""
    found = re.findall(r"data-chart='([^']*)'", page)
    return [json.loads(html.unescape(text)) for text in found]


def fill_shop(dashboard: Dashboard) -> None:
    dashboard.write(
        event("signup", user_id="u1"),
        event("signup", user_id="u2"),
        event("signup", user_id="u2", ago_s=120),
        event("message_sent", user_id="u1"),
        span("llm.chat", 800),
        span("llm.chat", 1200, status="error"),
        span("db.query", 3, ago_s=300),
    )


@pytest.mark.parametrize("key", list(RANGES))
def test_every_range_has_60_to_120_buckets(key: str) -> None:
    """Each time range is cut into 60 to 120 buckets."""
    seconds = RANGES[key].seconds
    assert 60 <= seconds // bucket_seconds(seconds) <= 120


def test_overview_shows_event_and_span_names(logged_in: Dashboard) -> None:
    """The Overview lists the project's events (count, users) and spans (count, errors)."""
    fill_shop(logged_in)
    page = logged_in.client.get("/").text
    assert "<h1>Overview</h1>" in page
    assert "<strong>4</strong> events" in page and "<strong>3</strong> spans" in page
    signup = re.search(r"<tr><td>signup</td>(.*?)</tr>", page)
    assert signup and re.findall(r">(\d+)<", signup.group(1)) == ["3", "2"]
    assert "<td>message_sent</td>" in page
    slowest = re.findall(r"<tr>\s*<td>([\w.]+)</td>", page.split("Slowest spans")[1])
    assert slowest == ["llm.chat", "db.query"]  # by p95, slowest first
    assert 'class="num bad">1<' in page  # the llm.chat error


def test_overview_chart_data_covers_every_bucket(logged_in: Dashboard) -> None:
    """Charts carry every bucket of the window: 0 events or no latency where nothing happened."""
    fill_shop(logged_in)
    event_chart, latency_chart = charts(logged_in.client.get("/?range=1h").text)
    assert event_chart["kind"] == "bars" and event_chart["step"] == 30
    assert len(event_chart["x"]) == 120
    assert event_chart["until"] - event_chart["since"] == 3600
    assert event_chart["x"] == latency_chart["x"]
    (events,) = event_chart["series"]
    assert sum(events["values"]) == 4 and events["values"].count(0) >= 117
    assert [s["label"] for s in latency_chart["series"]] == ["p50", "p95", "p99"]
    assert latency_chart["unit"] == "ms"
    p50 = latency_chart["series"][0]["values"]
    assert sorted(v for v in p50 if v is not None) == [3.0, 1000.0]  # ms; the rest are gaps
    assert p50.count(None) == 118


def test_time_range_changes_the_window(logged_in: Dashboard) -> None:
    """An event from 3 hours ago is outside the last hour and inside the last 6 hours."""
    logged_in.write(event("old_signup", ago_s=3 * 3600))
    last_hour = logged_in.client.get("/?range=1h").text
    assert "old_signup" not in last_hour
    last_6h = logged_in.client.get("/?range=6h").text
    assert "<td>old_signup</td>" in last_6h
    (event_chart,) = charts(last_6h)  # no spans: the latency panel says how to send them
    assert event_chart["step"] == 300 and len(event_chart["x"]) == 72
    assert 'href="/?project=shop&amp;range=6h" aria-current="page"' in last_6h  # nav keeps it
    assert 'aria-current="true">6h</a>' in last_6h


def test_unknown_range_falls_back_to_one_hour(logged_in: Dashboard) -> None:
    """A range that is not offered reads as the default, 1h."""
    page = logged_in.client.get("/?range=1y").text
    assert 'aria-current="true">1h</a>' in page


def test_partial_returns_only_the_live_part(logged_in: Dashboard) -> None:
    """/partials/overview is the live div alone, polling only while refresh is on."""
    fill_shop(logged_in)
    live = logged_in.client.get("/partials/overview?range=6h&refresh=5s").text
    assert live.lstrip().startswith('<div id="live"') and "<html" not in live
    assert 'hx-get="/partials/overview?project=shop&amp;range=6h&amp;refresh=5s"' in live
    assert 'hx-trigger="every 5s"' in live and "<td>signup</td>" in live
    still = logged_in.client.get("/partials/overview").text
    assert "hx-trigger" not in still


def test_page_with_refresh_on_polls_its_partial(logged_in: Dashboard) -> None:
    """The full page embeds the same live part, with the refresh toggle set."""
    page = logged_in.client.get("/?refresh=30s").text
    assert 'hx-trigger="every 30s"' in page
    assert 'aria-current="true">30s</a>' in page


def test_empty_project_says_how_to_send_data(logged_in: Dashboard) -> None:
    """With nothing in the window the page shows how to send data instead of empty charts."""
    page = logged_in.client.get("/").text
    assert "Nothing arrived in the last 1 hour" in page
    assert 'watchkeeper.init(endpoint="http://testserver"' in page
    assert "watchkeeper.track(" in page and 'href="/?project=shop&amp;range=24h"' in page
    assert charts(page) == []


def test_project_switcher_shows_only_the_chosen_projects_data(logged_in: Dashboard) -> None:
    """?project= picks one of the user's projects; the switcher lists them all."""
    meta = logged_in.services.meta
    other = meta.ensure_project("support", "Support desk")
    meta.grant(logged_in.user.id, other.id, "viewer")
    fill_shop(logged_in)
    logged_in.write(event("ticket_opened"), project=other)
    shop = logged_in.client.get("/").text  # the first project by slug
    assert "signup" in shop and "ticket_opened" not in shop
    support = logged_in.client.get("/?project=support").text
    assert "ticket_opened" in support and "signup" not in support
    assert "Support desk" in support and 'href="/?project=shop&amp;range=1h"' in support


def test_project_of_someone_else_is_404(logged_in: Dashboard) -> None:
    """A project the user has no role in is not found, like one that does not exist."""
    logged_in.services.meta.ensure_project("secret")
    assert logged_in.client.get("/?project=secret").status_code == 404
    assert logged_in.client.get("/?project=nope").status_code == 404


def test_user_without_projects_is_told_so(dashboard: Dashboard) -> None:
    """A user with no role anywhere gets 403 saying to ask an admin."""
    dashboard.services.meta.create_user("new@example.com", "long-enough-pw")
    assert dashboard.login(email="new@example.com", password="long-enough-pw").status_code == 303
    response = dashboard.client.get("/")
    assert response.status_code == 403
    assert "ask an admin" in response.json()["detail"]


def test_names_are_escaped(logged_in: Dashboard) -> None:
    """Record names are text, never markup."""
    logged_in.write(event("<script>alert(1)</script>"))
    page = logged_in.client.get("/").text
    assert "<script>alert(1)</script>" not in page
    assert html.escape("<script>alert(1)</script>") in page


def test_pages_carry_security_headers(logged_in: Dashboard) -> None:
    """Pages forbid inline script and framing."""
    response = logged_in.client.get("/")
    csp = response.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"] == "no-store"


def test_logout_form_and_user_menu(logged_in: Dashboard) -> None:
    """The top bar names the user and offers a CSRF-protected logout form."""
    page = logged_in.client.get("/").text
    assert "ada@example.com" in page and "member of Shop" in page
    assert re.search(
        r'<form method="post" action="/logout">\s*<input type="hidden" name="csrf_token"', page
    )


def test_chart_data_is_safe_in_its_attribute() -> None:
    """Chart JSON cannot end its single-quoted attribute, whatever the labels hold."""
    macros = login.templates.get_template("partials/macros.html").module
    label = "it's </div><script>x()</script>"
    spec = {"series": [{"label": label, "values": [1]}]}
    rendered = str(macros.chart("Rate", spec))  # type: ignore[attr-defined]
    attribute = re.search(r"data-chart='([^']*)'", rendered)
    assert attribute and "<" not in attribute.group(1)
    assert json.loads(html.unescape(attribute.group(1)))["series"][0]["label"] == label
