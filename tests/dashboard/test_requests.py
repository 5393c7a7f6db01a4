"""The Requests page: request rate, error rate and latency per bucket, per route, per service."""

from __future__ import annotations

import csv
import html
import io
import re

from tests.dashboard.conftest import Dashboard, charts, request_span, span, table_rows


def fill(dashboard: Dashboard) -> None:
    dashboard.write(
        request_span("POST", "/chat", 200, 100, ago_s=40),
        request_span("POST", "/chat", 200, 200, ago_s=40),
        request_span("POST", "/chat", 200, 300, ago_s=40),
        request_span("POST", "/chat", 503, 1000, ago_s=40),
        request_span("GET", "/health", 200, 1, ago_s=40),
        request_span("GET", "/health", 200, 1, ago_s=100),
        request_span("GET", "/jobs", 200, 50, ago_s=40, service="worker"),
        span("llm.chat", 500),  # not a request: no server span
    )


def test_routes_table_has_counts_errors_and_percentiles(logged_in: Dashboard) -> None:
    """Each method and route template: count, errors, error %, p50/p95/p99, busiest first."""
    fill(logged_in)
    page = logged_in.client.get("/requests").text
    assert "<h1>Requests</h1>" in page and "<strong>7</strong> requests" in page
    assert table_rows(page, "routes") == [
        ["POST", "/chat", "4", "1", "25.0", "250", "895", "979"],
        ["GET", "/health", "2", "0", "0.0", "1.0", "1.0", "1.0"],
        ["GET", "/jobs", "1", "0", "0.0", "50.0", "50.0", "50.0"],
    ]
    slowest = [row[1] for row in table_rows(page, "slowest_routes")]
    assert slowest == ["/chat", "/jobs", "/health"]
    assert 'class="num bad">25.0<' in page


def test_charts_show_rate_errors_and_latency_per_bucket(logged_in: Dashboard) -> None:
    """Rate in requests per second, error rate in %, and p50/p95/p99 in ms, every bucket."""
    fill(logged_in)
    rate, errors, latency = charts(logged_in.client.get("/requests?range=1h").text)
    assert (rate["kind"], rate["unit"], rate["name"]) == ("bars", "req/s", "request_rate")
    assert round(sum(rate["series"][0]["values"]) * 30) == 7  # 30 s buckets
    assert errors["unit"] == "%"
    counts = [round(v * 30) for v in rate["series"][0]["values"]]
    percents = errors["series"][0]["values"]
    assert all((p is None) == (n == 0) for n, p in zip(counts, percents, strict=True))
    assert round(sum(n * p / 100 for n, p in zip(counts, percents, strict=True) if n)) == 1
    assert [s["label"] for s in latency["series"]] == ["p50", "p95", "p99"]
    assert latency["unit"] == "ms" and len(latency["x"]) == 120


def test_service_filter_narrows_charts_and_tables(logged_in: Dashboard) -> None:
    """Choosing a service shows only its requests; the select offers the services seen."""
    fill(logged_in)
    page = logged_in.client.get("/requests?service=worker").text
    assert [row[1] for row in table_rows(page, "routes")] == ["/jobs"]
    assert "<strong>1</strong> requests" in page
    assert '<option value="worker" selected>worker</option>' in page
    assert '<option value="api">api</option>' in page


def test_route_link_narrows_the_charts_to_that_route(logged_in: Dashboard) -> None:
    """A route's link keeps the page and service and charts that route alone."""
    fill(logged_in)
    page = logged_in.client.get("/requests?service=api").text
    link = re.search(r'<a href="([^"]+)">/health</a>', page)
    assert link
    target = html.unescape(link.group(1))
    assert target == "/requests?project=shop&range=1h&service=api&route=%2Fhealth"
    narrowed = logged_in.client.get(target).text
    assert "<strong>2</strong> requests" in narrowed and "show all routes" in narrowed
    assert round(sum(charts(narrowed)[0]["series"][0]["values"]) * 30) == 2


def test_routes_export_as_csv(logged_in: Dashboard) -> None:
    """The routes table downloads with latencies in ms and the error percentage."""
    fill(logged_in)
    response = logged_in.client.get("/requests?table=routes&format=csv")
    header, first, *_ = list(csv.reader(io.StringIO(response.text)))
    assert header == [
        "method",
        "route",
        "count",
        "errors",
        "error_pct",
        "p50_ms",
        "p95_ms",
        "p99_ms",
    ]
    assert first[:5] == ["POST", "/chat", "4", "1", "25.0"] and first[5] == "250.0"


def test_empty_state_says_how_requests_are_recorded(logged_in: Dashboard) -> None:
    """Without server spans the page explains what a request is and how to send one."""
    logged_in.write(span("llm.chat", 500))
    page = logged_in.client.get("/requests").text
    assert "No HTTP requests in the last 1 hour" in page and "http.route" in page
    assert charts(page) == []


def test_partial_keeps_service_and_route(logged_in: Dashboard) -> None:
    """/partials/requests polls with the page's service and route."""
    fill(logged_in)
    live = logged_in.client.get("/partials/requests?service=api&route=/chat&refresh=5s").text
    assert (
        'hx-get="/partials/requests?project=shop&amp;range=1h&amp;refresh=5s&amp;service=api&amp;route=%2Fchat"'
        in live
    )
