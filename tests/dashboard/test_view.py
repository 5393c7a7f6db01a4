"""What every page shares (pages/view.py): the time range and buckets, the project, the live
part, the top bar, the security headers; shown on the Overview and the other pages."""

from __future__ import annotations

import html
import json
import re

import pytest
from tests.dashboard.conftest import Dashboard, charts, event, span

from watchkeeper.dashboard import login
from watchkeeper.dashboard.pages.view import NAV, RANGES, bucket_seconds


def fill_shop(dashboard: Dashboard) -> None:
    dashboard.write(event("signup", user_id="u1"), span("llm.chat", 800))


@pytest.mark.parametrize("key", list(RANGES))
def test_every_range_has_60_to_120_buckets(key: str) -> None:
    """Each time range is cut into 60 to 120 buckets."""
    seconds = RANGES[key].seconds
    assert 60 <= seconds // bucket_seconds(seconds) <= 120


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
    assert "hx-trigger" not in still and "hx-get" not in still  # a click must not reload it


def test_page_with_refresh_on_polls_its_partial(logged_in: Dashboard) -> None:
    """The full page embeds the same live part, with the refresh toggle set."""
    page = logged_in.client.get("/?refresh=30s").text
    assert 'hx-trigger="every 30s"' in page
    assert 'aria-current="true">30s</a>' in page


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


@pytest.mark.parametrize(
    "path",
    [
        "/requests",
        "/traces",
        f"/traces/{'ab' * 16}",
        "/logs?level=17",
        "/app-metrics",
        "/partials/logs/tail?after_ts=1",
        "/logs?table=lines&format=csv",
    ],
)
def test_anonymous_is_sent_to_login_from_every_page_and_export(
    dashboard: Dashboard, path: str
) -> None:
    """Pages, partials and downloads all need the session: anonymous requests go to the form."""
    response = dashboard.client.get(path, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login?next=")


def test_top_bar_lists_every_page_and_marks_the_section(logged_in: Dashboard) -> None:
    """The nav has Overview, Issues, Requests, LLM, Traces, Logs, Metrics and Alerts; a trace's
    page is under Traces."""
    page = logged_in.client.get(f"/traces/{'ab' * 16}").text
    nav = re.search(r'<nav class="nav".*?</nav>', page, re.S)
    assert nav
    labels = re.findall(r">(\w+)</a>", nav.group(0))
    assert labels == [label for label, _ in NAV] == [
        "Overview", "Issues", "Requests", "LLM", "Traces", "Logs", "Metrics", "Alerts",
    ]  # fmt: skip
    assert re.findall(r'aria-current="page">(\w+)<', nav.group(0)) == ["Traces"]


def test_range_and_refresh_links_keep_the_page_filters(logged_in: Dashboard) -> None:
    """Changing the range or refresh stays on the page with its filters; the nav drops them."""
    page = logged_in.client.get("/logs?service=api&q=timeout").text
    assert 'href="/logs?project=shop&amp;range=6h&amp;q=timeout&amp;service=api"' in page
    assert (
        'href="/logs?project=shop&amp;range=1h&amp;refresh=5s&amp;q=timeout&amp;service=api"'
        in page
    )
    assert 'href="/logs?project=shop&amp;range=1h" aria-current="page"' in page
    live = logged_in.client.get("/logs?service=api&q=timeout&refresh=5s").text
    assert (
        'hx-get="/partials/logs?project=shop&amp;range=1h&amp;refresh=5s&amp;q=timeout&amp;service=api"'
        in live
    )


def test_every_page_carries_the_security_headers(logged_in: Dashboard) -> None:
    """Each new page and its download keep the CSP without inline script or style."""
    for path in ("/requests", "/traces", "/logs", "/app-metrics", f"/traces/{'ab' * 16}",
                 "/logs?table=lines&format=json"):  # fmt: skip
        response = logged_in.client.get(path)
        csp = response.headers["content-security-policy"]
        assert "default-src 'self'" in csp and "unsafe-inline" not in csp, path
        assert response.headers["cache-control"] == "no-store", path
        assert " style=" not in response.text and "<script>" not in response.text, path
