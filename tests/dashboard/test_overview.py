"""The Overview: event rate, span latency, top events and slowest spans, and their exports."""

from __future__ import annotations

import csv
import io
import re

from tests.dashboard.conftest import Dashboard, charts, event, span, table_rows


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


def test_empty_project_says_how_to_send_data(logged_in: Dashboard) -> None:
    """With nothing in the window the page shows how to send data instead of empty charts."""
    page = logged_in.client.get("/").text
    assert "Nothing arrived in the last 1 hour" in page
    assert 'watchkeeper.init(endpoint="http://testserver"' in page
    assert "watchkeeper.track(" in page and 'href="/?project=shop&amp;range=24h"' in page
    assert charts(page) == []


def test_overview_tables_export_as_csv_and_json(logged_in: Dashboard) -> None:
    """Top events and slowest spans download with the rows the page shows, durations in ms."""
    fill_shop(logged_in)
    page = logged_in.client.get("/").text
    assert 'href="/?project=shop&amp;range=1h&amp;table=top_events&amp;format=csv"' in page
    assert table_rows(page, "top_events")[0] == ["signup", "3", "2"]
    response = logged_in.client.get("/?table=top_events&format=csv")
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"].startswith(
        'attachment; filename="shop-top_events-'
    )
    assert list(csv.reader(io.StringIO(response.text))) == [
        ["name", "count", "users"], ["signup", "3", "2"], ["message_sent", "1", "1"],
    ]  # fmt: skip
    spans = logged_in.client.get("/partials/overview?table=slowest_spans&format=json").json()
    assert spans["columns"] == ["name", "count", "p50_ms", "p95_ms", "p99_ms", "errors"]
    assert spans["rows"][0] == {"name": "llm.chat", "count": 2, "p50_ms": 1000.0,
                                "p95_ms": 1180.0, "p99_ms": 1196.0, "errors": 1}  # fmt: skip


def test_overview_charts_export_per_bucket(logged_in: Dashboard) -> None:
    """A chart downloads as one row per bucket: time and each series."""
    fill_shop(logged_in)
    rows = logged_in.client.get("/?table=event_rate&format=json").json()["rows"]
    assert len(rows) == 120 and sum(row["events"] for row in rows) == 4
    assert rows[0]["bucket"].endswith("Z")
