"""The Logs page: search and filters, keyset paging, volume by severity, live tail, trace links."""

from __future__ import annotations

import html
import re
import time

from tests.dashboard.conftest import SECOND, Dashboard, charts, log, table_rows

TRACE = "ab" * 16


def fill(dashboard: Dashboard) -> None:
    dashboard.write(
        log("user signed in", ago_s=50, service="api", logger="auth", attributes={"user": "u1"}),
        log("Payment FAILED for order 7", ago_s=40, level="ERROR", number=17, service="api",
            logger="payments", trace_id=TRACE, span_id="cd" * 8),
        log("cache miss", ago_s=30, level="DEBUG", number=5, service="worker"),
        log("payment retried", ago_s=20, level="WARNING", number=13, service="worker"),
    )  # fmt: skip


def bodies(page: str) -> list[str]:
    return re.findall(r"<summary>(.*?)</summary>", page)


def test_lines_are_newest_first_with_level_service_and_logger(logged_in: Dashboard) -> None:
    """Every line shows time, level, service, logger and message, the newest on top."""
    fill(logged_in)
    page = logged_in.client.get("/logs").text
    assert "<h1>Logs</h1>" in page and "<strong>4</strong> log lines" in page
    assert bodies(page) == ["payment retried", "cache miss", "Payment FAILED for order 7",
                            "user signed in"]  # fmt: skip
    rows = table_rows(page, "lines")
    assert rows[0][1:4] == ["WARNING", "worker", ""] and rows[3][1:4] == ["INFO", "api", "auth"]
    assert re.search(r'<time datetime="\d{4}-\d\d-\d\dT[\d:.]+Z">', page)
    assert 'class="log level-error"' in page and 'class="log level-warn"' in page


def test_filters_narrow_the_lines(logged_in: Dashboard) -> None:
    """Text, minimum level, service, logger and trace id each narrow the list and the count."""
    fill(logged_in)
    search = lambda query: bodies(logged_in.client.get(f"/logs?{query}").text)
    assert search("q=PAYMENT") == ["payment retried", "Payment FAILED for order 7"]
    assert search("level=13") == ["payment retried", "Payment FAILED for order 7"]
    assert search("level=error") == ["Payment FAILED for order 7"]
    assert search("service=worker") == ["payment retried", "cache miss"]
    assert search("logger=auth") == ["user signed in"]
    assert search(f"trace_id={TRACE.upper()}") == ["Payment FAILED for order 7"]
    page = logged_in.client.get("/logs?service=worker&level=9").text
    assert "<strong>1</strong> log lines match the filters" in page
    assert '<option value="worker" selected>worker</option>' in page
    assert '<option value="13">WARN</option>' in page
    ghost = logged_in.client.get("/logs?service=ghost").text  # kept though nothing came from it
    assert '<option value="ghost" selected>ghost</option>' in ghost and bodies(ghost) == []


def test_bad_filters_are_said_and_ignored(logged_in: Dashboard) -> None:
    """A malformed trace id or level is reported on the page, not a server error."""
    fill(logged_in)
    response = logged_in.client.get("/logs?trace_id=xyz&level=loud")
    assert response.status_code == 200
    assert "A trace id is 32 hexadecimal digits" in response.text
    assert "Level &#39;loud&#39; is not a severity" in response.text
    assert len(bodies(response.text)) == 4


def test_older_pages_follow_the_last_line_shown(logged_in: Dashboard) -> None:
    """Pages of 100 go back with before_ts/before_id and every line is seen exactly once."""
    now = time.time_ns()
    lines = [log(f"line {i:03d}", ago_s=0) for i in range(150)]
    for i, line in enumerate(lines):  # pairs share a ts: the id breaks the tie
        line.ts = now - (150 - i // 2) * SECOND
    logged_in.write(*lines)
    first = logged_in.client.get("/logs").text
    older = re.search(r'<a href="([^"]+)" rel="next">Older', first)
    assert older and len(bodies(first)) == 100 and "Newest" not in first
    second = logged_in.client.get(html.unescape(older.group(1))).text
    assert "before_ts=" in older.group(1) and 'rel="next"' not in second and "← Newest" in second
    seen = bodies(first) + bodies(second)
    assert seen == [f"line {i:03d}" for i in reversed(range(150))]
    export = logged_in.client.get(html.unescape(older.group(1)) + "&table=lines&format=json")
    assert [row["body"] for row in export.json()["rows"]] == bodies(second)


def test_volume_is_stacked_by_severity(logged_in: Dashboard) -> None:
    """The volume chart stacks lines per bucket by severity, least severe at the bottom."""
    fill(logged_in)
    (volume,) = charts(logged_in.client.get("/logs").text)
    assert volume["kind"] == "stacked" and volume["name"] == "volume"
    assert [s["label"] for s in volume["series"]] == ["DEBUG", "INFO", "WARN", "ERROR"]
    assert [sum(s["values"]) for s in volume["series"]] == [1, 1, 1, 1]
    (only_errors,) = charts(logged_in.client.get("/logs?level=17").text)
    assert [s["label"] for s in only_errors["series"]] == ["ERROR"]


def test_line_expands_to_attributes_and_links_to_its_trace(logged_in: Dashboard) -> None:
    """A line's details hold its attributes and ids; one with a trace id links to that trace."""
    fill(logged_in)
    page = logged_in.client.get("/logs").text
    assert "<dt>user</dt><dd>u1</dd>" in page
    link = re.search(r'<a class="trace-link" href="([^"]+)"', page)
    assert link
    target = html.unescape(link.group(1))
    assert target.startswith(f"/traces/{TRACE}?project=shop&range=1h&at=")
    assert target.endswith(f"#span-{'cd' * 8}")
    assert page.count('class="trace-link"') == 1  # lines without a trace have no link


def test_live_tail_polls_for_newer_lines_under_the_filters(logged_in: Dashboard) -> None:
    """With tail on, the list polls /partials/logs/tail every 2 s, keeping the filters."""
    fill(logged_in)
    page = logged_in.client.get("/logs?service=worker&tail=on").text
    assert 'aria-pressed="true"' in page
    assert ('hx-get="/partials/logs/tail?project=shop&amp;range=1h&amp;service=worker"'
            ' hx-trigger="every 2s" hx-swap="afterbegin" data-tail') in page  # fmt: skip
    assert 'href="/logs?project=shop&amp;range=1h&amp;service=worker"' in page  # tail off
    off = logged_in.client.get("/logs?service=worker").text
    assert "data-tail" not in off and "tail=on" in off


def test_tail_answers_only_lines_after_the_cursor(logged_in: Dashboard) -> None:
    """The tail endpoint returns rows newer than (after_ts, after_id), filtered, newest first."""
    fill(logged_in)
    newest = logged_in.client.get("/logs?service=worker").text
    cursor = re.search(r'data-ts="(\d+)" data-id="([^"]+)"', newest)
    assert cursor
    ts, line_id = cursor.groups()
    tail = f"/partials/logs/tail?service=worker&after_ts={ts}&after_id={line_id}"
    assert "<tr" not in logged_in.client.get(tail).text
    logged_in.write(log("worker woke up", ago_s=1, service="worker"),
                    log("api noise", ago_s=1, service="api"))  # fmt: skip
    rows = logged_in.client.get(tail).text
    assert bodies(rows) == ["worker woke up"] and 'class="log level-info new"' in rows
    assert "<html" not in rows
    assert logged_in.client.get("/partials/logs/tail?service=worker").text.strip() == ""


def test_empty_states_say_what_to_do(logged_in: Dashboard) -> None:
    """No lines at all says how to send them; no match says to clear the filters."""
    page = logged_in.client.get("/logs").text
    assert "No log lines arrived in the last 1 hour" in page and "logging.getLogger" in page
    assert charts(page) == []
    fill(logged_in)
    none = logged_in.client.get("/logs?q=nothing-like-this").text
    assert "No log lines match these filters" in none
    assert 'href="/logs?project=shop&amp;range=1h">Clear the filters' in none


def test_partial_is_the_live_part_with_filters(logged_in: Dashboard) -> None:
    """/partials/logs renders the live part alone with the same filters."""
    fill(logged_in)
    live = logged_in.client.get("/partials/logs?level=17&refresh=5s").text
    assert live.lstrip().startswith('<div id="live"') and "<html" not in live
    assert 'hx-get="/partials/logs?project=shop&amp;range=1h&amp;refresh=5s&amp;level=17"' in live
    assert bodies(live) == ["Payment FAILED for order 7"]
