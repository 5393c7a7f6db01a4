"""One trace's page: the waterfall (nesting, bar positions and widths, errors, attributes) and
the trace's logs, linked both ways with the Logs page."""

from __future__ import annotations

import html
import re
import time

from tests.dashboard.conftest import SECOND, Dashboard, log, table_rows, trace_span

from watchkeeper.dashboard.pages.trace import waterfall

TRACE = "c0" * 16
ROOT, CALL, TOKENS, WRITE, ORPHAN = ("1" * 16, "2" * 16, "3" * 16, "4" * 16, "5" * 16)


def fill(dashboard: Dashboard, *, ago_s: float = 120) -> int:
    """A 1 s trace: root; a call at 100 ms for 500 ms with a child; a write at 700 ms for
    300 ms; and a span whose parent never arrived."""
    start = time.time_ns() - int(ago_s * SECOND)
    dashboard.write(
        trace_span(TRACE, ROOT, "POST /chat", 0, 1000, start=start, service="api", span_kind="server",
                   attributes={"http.route": "/chat"}),
        trace_span(TRACE, WRITE, "db.write", 700, 300, ROOT, start=start, service="api"),
        trace_span(TRACE, CALL, "llm.chat", 100, 500, ROOT, start=start, service="api", span_kind="client",
                   status="error", status_message="rate limited by provider",
                   attributes={"gen_ai.request.model": "gpt-4o"}),
        trace_span(TRACE, TOKENS, "tokenize", 200, 100, CALL, start=start, service="api"),
        trace_span(TRACE, ORPHAN, "late.callback", 950, 50, "9" * 16, start=start, service="worker"),
        log("chat started", ago_s=ago_s - 0.01, trace_id=TRACE, span_id=ROOT),
        log("provider said 429", ago_s=ago_s - 0.5, level="ERROR", number=17, trace_id=TRACE,
            span_id=CALL),
        log("unrelated", ago_s=ago_s - 0.5),
    )  # fmt: skip
    return start


def rows(page: str) -> list[tuple[str, int, float, float]]:
    """(span id, depth, bar x %, bar width %) per waterfall row, in page order."""
    found = re.findall(
        r'<details class="wf-span[^"]*" id="span-(\w+)" data-depth="(\d+)">.*?'
        r'<rect class="wf-bar" x="([\d.]+)%" y="3" width="([\d.]+)%"',
        page,
        re.S,
    )
    return [(span, int(depth), float(x), float(w)) for span, depth, x, w in found]


def test_waterfall_nests_spans_and_places_bars_on_one_axis(logged_in: Dashboard) -> None:
    """Rows are in tree order, indented by depth, bars at start offset and duration in %."""
    fill(logged_in)
    page = logged_in.client.get(f"/traces/{TRACE}").text
    assert rows(page) == [
        (ROOT, 0, 0.0, 100.0),
        (CALL, 1, 10.0, 50.0),
        (TOKENS, 2, 20.0, 10.0),
        (WRITE, 1, 70.0, 30.0),
        (ORPHAN, 0, 95.0, 5.0),  # its parent never arrived: a tree of its own
    ]
    tokens = page.split(f'id="span-{TOKENS}"')[1].split("</summary>")[0]
    assert tokens.count('class="wf-indent"') == 2
    assert re.findall(r'text-anchor="\w+">([^<]+)</text>', page)[:5] == [
        "0 ms", "250 ms", "500 ms", "750 ms", "1.00 s",
    ]  # fmt: skip


def test_error_span_is_marked_with_its_status_message(logged_in: Dashboard) -> None:
    """A failed span's row is marked (red) and its details show the status message."""
    fill(logged_in)
    page = logged_in.client.get(f"/traces/{TRACE}").text
    assert f'<details class="wf-span failed" id="span-{CALL}"' in page
    assert f'<details class="wf-span" id="span-{ROOT}"' in page
    call = page.split(f'id="span-{CALL}"')[1].split("</details>")[0]
    assert '<p class="status-message bad">rate limited by provider</p>' in call
    assert "<dt>gen_ai.request.model</dt><dd>gpt-4o</dd>" in call
    assert f'<a href="#span-{ROOT}">{ROOT}</a>' in call  # up to the parent
    summary = re.search(r'<p class="summary trace-summary">(.*?)</p>', page, re.S)
    assert summary and "1 error<" in summary.group(1) and "api, worker" in summary.group(1)


def test_trace_logs_are_below_oldest_first_linking_to_spans(logged_in: Dashboard) -> None:
    """The trace's log lines (only its own) follow the waterfall, each linking to its span."""
    fill(logged_in)
    page = logged_in.client.get(f"/traces/{TRACE}").text
    lines = table_rows(page, "logs")
    assert [row[4].split("\n")[0] for row in lines] == ["chat started", "provider said 429"]
    assert [row[5] for row in lines] == ["span", "span"]
    assert f'<a href="#span-{CALL}" title="Show its span in the waterfall">span</a>' in page
    back = re.search(r'<a href="([^"]+)">Its logs on the Logs page</a>', page)
    assert back and html.unescape(back.group(1)) == f"/logs?project=shop&range=15m&trace_id={TRACE}"


def test_log_line_and_trace_link_both_ways(logged_in: Dashboard) -> None:
    """From a log line to its trace, and from the trace to its lines on the Logs page."""
    fill(logged_in)
    logs_page = logged_in.client.get("/logs").text
    link = re.search(r'class="trace-link" href="([^"]+)"', logs_page)
    assert link
    trace_page = logged_in.client.get(html.unescape(link.group(1)).split("#")[0])
    assert trace_page.status_code == 200 and f'id="span-{CALL}"' in trace_page.text
    back = re.search(r'<a href="([^"]+)">Its logs on the Logs page</a>', trace_page.text)
    assert back
    filtered = logged_in.client.get(html.unescape(back.group(1))).text
    assert "<strong>2</strong> log lines match the filters" in filtered


def test_trace_outside_the_range_is_found_around_at(logged_in: Dashboard) -> None:
    """A trace older than the range still opens: from ?at=, or by looking back 7 days."""
    start = fill(logged_in, ago_s=3 * 3600)
    assert len(rows(logged_in.client.get(f"/traces/{TRACE}?range=15m&at={start}").text)) == 5
    assert len(rows(logged_in.client.get(f"/traces/{TRACE}?range=15m").text)) == 5


def test_unknown_and_malformed_trace_ids_are_404_pages(logged_in: Dashboard) -> None:
    """A trace with no spans, or a string that is no trace id, is a 404 page saying so."""
    missing = logged_in.client.get(f"/traces/{'d' * 32}")
    assert missing.status_code == 404 and "No span of trace" in missing.text
    bad = logged_in.client.get("/traces/not-a-trace")
    assert bad.status_code == 404 and "That is not a trace id" in bad.text


def test_spans_export_with_offsets_and_depth(logged_in: Dashboard) -> None:
    """The waterfall downloads as its rows: start offset and duration in ms, depth, ids."""
    fill(logged_in)
    document = logged_in.client.get(f"/traces/{TRACE}?table=spans&format=json").json()
    assert [(r["name"], r["offset_ms"], r["duration_ms"], r["depth"]) for r in document["rows"]] == [
        ("POST /chat", 0.0, 1000.0, 0), ("llm.chat", 100.0, 500.0, 1), ("tokenize", 200.0, 100.0, 2),
        ("db.write", 700.0, 300.0, 1), ("late.callback", 950.0, 50.0, 0),
    ]  # fmt: skip
    logs_csv = logged_in.client.get(f"/partials/traces/{TRACE}?table=logs&format=csv").text
    assert "chat started" in logs_csv and "unrelated" not in logs_csv


def test_waterfall_survives_a_parent_cycle_and_tiny_spans() -> None:
    """Spans pointing at each other are each shown once; a tiny span keeps a visible bar."""
    spans = [
        {"span_id": "a", "parent_span_id": "b", "ts": 0, "duration_ns": 10**9, "name": "a"},
        {"span_id": "b", "parent_span_id": "a", "ts": 1, "duration_ns": 1, "name": "b"},
    ]
    bars = waterfall(spans)
    assert sorted(bar.span["name"] for bar in bars) == ["a", "b"]
    assert min(bar.width for bar in bars) == 0.2
    assert waterfall([]) == []
