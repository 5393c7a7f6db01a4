"""One issue's page: its facts and actions, the event's stack with source context, breadcrumbs,
tags and context, the trace link, and stepping through its events."""

from __future__ import annotations

import html
import re
import time
from typing import Any

from tests.dashboard.conftest import SECOND, Dashboard, charts, form_token
from tests.dashboard.test_issues import error, frame, ingest, issue_id

TRACE = "ab" * 16


def detailed(**fields: Any) -> dict[str, Any]:
    """A KeyError with source context, breadcrumbs, tags, request and user, in a trace."""
    now = time.time_ns()
    return error(
        "KeyError", "'sku-1'", ago_s=30, trace_id=TRACE, span_id="cd" * 8, release="2.0",
        environment="prod", user_id="u7",
        frames=[
            frame("dispatch", 88, in_app=False, module="starlette.routing",
                  context_line="    return await self.app(scope)"),
            frame("checkout", 42, pre_context=["def checkout(cart):", "    total = 0"],
                  context_line="    price = PRICES[cart.sku]", post_context=["    return price"]),
        ],
        breadcrumbs=[{"ts": now - 31 * SECOND, "category": "http", "message": "GET /prices",
                      "level": "info", "data": {"status_code": 200}},
                     {"ts": now - 30 * SECOND, "category": "log", "message": "cart loaded",
                      "level": "warning"}],
        attributes={"tags.browser": "Firefox", "http.request.method": "POST",
                    "user.email": "ada@example.com"},
        **fields,
    )  # fmt: skip


def test_issue_page_shows_the_event(logged_in: Dashboard) -> None:
    """The page shows the stack with context lines, breadcrumbs, tags, context and trace link."""
    ingest(logged_in, detailed())
    target = issue_id(logged_in, "KeyError")
    page = logged_in.client.get(f"/issues/{target}").text
    assert "KeyError: &#39;sku-1&#39;" in page and "shop.cart in checkout" in page
    assert '<li class="current"><code>    price = PRICES[cart.sku]</code></li>' in page
    assert '<ol class="source" start="40">' in page
    assert 'class="frame in-app crashed" open' in page
    assert 'class="frame library"' in page and "1 library frame" in page
    assert "GET /prices" in page and "cart loaded" in page and "status_code" in page
    assert "<dt>browser</dt><dd>Firefox</dd>" in page
    assert "<dt>http.request.method</dt><dd>POST</dd>" in page
    assert "<dt>user.email</dt><dd>ada@example.com</dd>" in page
    link = re.search(r'class="trace-link" href="([^"]+)"', page)
    assert link and html.unescape(link.group(1)).startswith(f"/traces/{TRACE}?project=shop")
    assert f"trace_id={TRACE}" in html.unescape(page)
    (events,) = charts(page)
    assert sum(events["series"][0]["values"]) == 1


def test_older_and_newer_step_through_events(logged_in: Dashboard) -> None:
    """The newest event shows first; Older and Newer move one event at a time."""
    ingest(logged_in, *(error("KeyError", f"'sku-{n}'", ago_s=100 - n) for n in range(3)))
    target = issue_id(logged_in, "KeyError")
    shown = lambda page: re.findall(r'class="exception-message">([^<]+)<', page)[0]
    url = lambda page, rel: html.unescape(re.search(rf'href="([^"]+)" rel="{rel}"', page).group(1))  # type: ignore[union-attr]
    page = logged_in.client.get(f"/issues/{target}").text
    assert shown(page) == "&#39;sku-2&#39;" and 'rel="prev"' not in page
    page = logged_in.client.get(url(page, "next")).text
    assert shown(page) == "&#39;sku-1&#39;"
    older = logged_in.client.get(url(page, "next")).text
    assert shown(older) == "&#39;sku-0&#39;" and 'rel="next"' not in older
    assert shown(logged_in.client.get(url(page, "prev")).text) == "&#39;sku-2&#39;"


def test_resolve_in_release_and_reopen(logged_in: Dashboard) -> None:
    """Resolve in the current release records it; Reopen makes the issue unresolved again."""
    ingest(logged_in, detailed())
    target = issue_id(logged_in, "KeyError")
    page = logged_in.client.get(f"/issues/{target}").text
    assert "Resolve in 2.0" in page
    token = form_token(page)
    path = f"/issues/{target}/status"
    assert logged_in.client.post(path, data={"status": "resolved"}).status_code == 403
    done = logged_in.client.post(path + "?release=2.0", data={"status": "resolved",
                                 "release": "2.0", "csrf_token": token}, follow_redirects=False)  # fmt: skip
    assert done.status_code == 303
    issue = logged_in.services.meta.issue(logged_in.project.id, target)
    assert issue is not None and (issue.status, issue.resolved_in_release) == ("resolved", "2.0")
    page = logged_in.client.get(f"/issues/{target}").text
    assert "Reopen" in page and "<dt>Resolved in</dt><dd>2.0</dd>" in page
    logged_in.client.post(path, data={"status": "unresolved", "csrf_token": token})
    assert logged_in.services.meta.issue(logged_in.project.id, target).status == "unresolved"  # type: ignore[union-attr]


def test_unknown_issue_is_404(logged_in: Dashboard) -> None:
    """An issue id that is not the project's answers 404."""
    assert logged_in.client.get("/issues/999").status_code == 404


def test_anonymous_is_sent_to_login(dashboard: Dashboard) -> None:
    """Without a session the issue page redirects to the login form."""
    response = dashboard.client.get("/issues/1", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"].startswith("/login")
