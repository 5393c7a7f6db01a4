"""The Traces list: one row per trace with filters, each linking to its waterfall."""

from __future__ import annotations

import html
import re
import time

from tests.dashboard.conftest import SECOND, Dashboard, table_rows, trace_span


def fill(dashboard: Dashboard) -> int:
    start = time.time_ns() - 120 * SECOND
    dashboard.write(
        trace_span("a" * 32, "1" * 16, "POST /chat", 0, 900, start=start, service="api",
                   span_kind="server"),
        trace_span("a" * 32, "2" * 16, "llm.chat", 100, 700, "1" * 16, start=start, service="api",
                   status="error"),
        trace_span("a" * 32, "3" * 16, "search", 850, 100, "2" * 16, start=start,
                   service="search"),
        trace_span("b" * 32, "4" * 16, "GET /health", 0, 5, start=start + 30 * SECOND,
                   service="api", span_kind="server"),
    )  # fmt: skip
    return start


def roots(page: str) -> list[str]:
    return [row[0] for row in table_rows(page, "traces")]


def test_list_has_one_row_per_trace_newest_first(logged_in: Dashboard) -> None:
    """Each trace shows root span, service, start, duration, spans, services and errors."""
    start = fill(logged_in)
    page = logged_in.client.get("/traces").text
    rows = table_rows(page, "traces")
    assert [row[:2] + row[3:] for row in rows] == [
        ["GET /health", "api", "5.0", "1", "1", "0", "bbbbbbbb"],
        ["POST /chat", "api", "950", "3", "2", "1", "aaaaaaaa"],
    ]
    assert 'class="num bad">1<' in page
    link = re.search(r'<a href="([^"]+)">POST /chat</a>', page)
    assert (
        link
        and html.unescape(link.group(1)) == f"/traces/{'a' * 32}?project=shop&range=1h&at={start}"
    )


def test_filters_narrow_the_list(logged_in: Dashboard) -> None:
    """Service, root span name, errors only and a minimum duration each narrow the list."""
    fill(logged_in)
    listed = lambda query: roots(logged_in.client.get(f"/traces?{query}").text)
    assert listed("errors=on") == ["POST /chat"]
    assert listed("min_ms=100") == ["POST /chat"]
    assert listed("min_ms=0.5") == ["GET /health", "POST /chat"]
    assert listed("name=GET+/health") == ["GET /health"]
    assert listed("service=search") == ["POST /chat"]  # a trace with a span of that service
    page = logged_in.client.get("/traces?errors=on&min_ms=100").text
    assert 'name="errors" value="on" checked' in page and 'name="min_ms" value="100"' in page


def test_bad_minimum_duration_is_said_and_ignored(logged_in: Dashboard) -> None:
    """A minimum duration that is not a number is reported and dropped."""
    fill(logged_in)
    page = logged_in.client.get("/traces?min_ms=slow").text
    assert "Minimum duration &#39;slow&#39; is not a number of ms; ignored." in page
    assert len(roots(page)) == 2


def test_export_has_whole_trace_ids(logged_in: Dashboard) -> None:
    """The download carries the whole trace id and the duration in ms."""
    fill(logged_in)
    rows = logged_in.client.get("/traces?table=traces&format=json").json()["rows"]
    assert [(r["trace_id"], r["duration_ms"], r["errors"]) for r in rows] == [
        ("b" * 32, 5.0, 0), ("a" * 32, 950.0, 1),
    ]  # fmt: skip


def test_empty_states(logged_in: Dashboard) -> None:
    """No traces says how to make one; filters matching nothing say so."""
    page = logged_in.client.get("/traces").text
    assert "No traces started in the last 1 hour" in page and "watchkeeper.span(" in page
    fill(logged_in)
    assert "matches these filters" in logged_in.client.get("/traces?name=nope").text


def test_partial_keeps_the_filters(logged_in: Dashboard) -> None:
    """/partials/traces is the live part alone, polling with the filters."""
    fill(logged_in)
    live = logged_in.client.get("/partials/traces?errors=on&refresh=30s").text
    assert live.lstrip().startswith('<div id="live"')
    assert (
        'hx-get="/partials/traces?project=shop&amp;range=1h&amp;refresh=30s&amp;errors=on"' in live
    )
    assert roots(live) == ["POST /chat"]
