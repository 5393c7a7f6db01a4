"""The Metrics page: the metrics the SDK pushed, and the chosen one charted per label set."""

from __future__ import annotations

import re
import time
from typing import Any

from tests.dashboard.conftest import SECOND, Dashboard, charts, table_rows

from watchkeeper.dashboard.pages.metrics import MAX_SERIES, increases, label_text
from watchkeeper.records import Metric

BUCKET = 30 * SECOND  # the 1 h range's bucket
_n = iter(range(10**6))


def sample(name: str, kind: str, value: float, buckets_ago: int, second: int = 0,
           **fields: Any) -> Metric:  # fmt: skip
    """A sample ``second`` s into the bucket ``buckets_ago`` before the current one."""
    ts = (time.time_ns() // BUCKET - buckets_ago) * BUCKET + second * SECOND
    return Metric(id=f"m{next(_n)}", ts=ts, name=name, type=kind, value=value, **fields)  # type: ignore[arg-type]


def fill(dashboard: Dashboard) -> None:
    dashboard.write(
        sample("jobs_total", "counter", 10, 3, 0, attributes={"queue": "a"}, service="worker"),
        sample("jobs_total", "counter", 14, 3, 15, attributes={"queue": "a"}, service="worker"),
        sample("jobs_total", "counter", 20, 2, 0, attributes={"queue": "a"}, service="worker"),
        sample("jobs_total", "counter", 3, 1, 0, attributes={"queue": "a"}, service="worker"),  # restart
        sample("jobs_total", "counter", 7, 2, 5, attributes={"queue": "b"}, service="worker"),
        sample("jobs_total", "counter", 9, 1, 5, attributes={"queue": "b"}, service="worker"),
        sample("queue_depth", "gauge", 4, 2, 0, unit="jobs", service="worker"),
        sample("queue_depth", "gauge", 8, 2, 10, unit="jobs", service="worker"),
        sample("latency", "histogram", 0, 2, 0, unit="s", count=10, sum=5.0, service="api"),
        sample("latency", "histogram", 0, 1, 0, unit="s", count=30, sum=25.0, service="api"),
    )  # fmt: skip


def lines(page: str) -> dict[str, list[float]]:
    """Each line of the page's one chart: its label and its values, gaps left out."""
    (chart,) = charts(page)
    return {s["label"]: [v for v in s["values"] if v is not None] for s in chart["series"]}


def test_metrics_table_lists_name_type_unit_samples_and_last_value(logged_in: Dashboard) -> None:
    """Every metric with samples in the window, with its last value and a link to chart it."""
    fill(logged_in)
    page = logged_in.client.get("/app-metrics").text
    assert "<h1>Metrics</h1>" in page and "Choose a metric below" in page
    assert [row[:5] for row in table_rows(page, "metrics")] == [
        ["jobs_total", "counter", "", "6", "9"],
        ["latency", "histogram", "s", "2", "0"],
        ["queue_depth", "gauge", "jobs", "2", "8"],
    ]
    assert 'href="/app-metrics?project=shop&amp;range=1h&amp;name=queue_depth"' in page
    assert charts(page) == []


def test_counter_charts_its_increase_per_bucket_per_label_set(logged_in: Dashboard) -> None:
    """A counter's line is its increase per bucket, one line per label set, resets counted."""
    fill(logged_in)
    page = logged_in.client.get("/app-metrics?name=jobs_total").text
    assert "counter, increase per bucket" in page
    assert lines(page) == {"queue=a": [4, 6, 3], "queue=b": [2]}


def test_gauge_charts_its_average(logged_in: Dashboard) -> None:
    """A gauge's line is its average in each bucket, in its unit."""
    fill(logged_in)
    page = logged_in.client.get("/app-metrics?name=queue_depth").text
    assert lines(page) == {"(no labels)": [6.0]}
    assert charts(page)[0]["unit"] == "jobs"


def test_histogram_charts_the_mean_observation(logged_in: Dashboard) -> None:
    """A histogram's line is the increase of its sum over the increase of its count."""
    fill(logged_in)
    page = logged_in.client.get("/app-metrics?name=latency").text
    assert lines(page) == {"(no labels)": [1.0]}  # (25 - 5) / (30 - 10)
    assert "mean observation per bucket" in page


def test_service_filter_and_unknown_metric(logged_in: Dashboard) -> None:
    """The service filter narrows the table; a chosen name without samples says so."""
    fill(logged_in)
    page = logged_in.client.get("/app-metrics?service=api").text
    assert [row[0] for row in table_rows(page, "metrics")] == ["latency"]
    missing = logged_in.client.get("/app-metrics?service=api&name=queue_depth").text
    assert "The metric queue_depth has no samples in the last 1 hour" in missing


def test_many_label_sets_are_capped_and_said(logged_in: Dashboard) -> None:
    """Past the cap, the chart draws the first label sets and says how many there are."""
    logged_in.write(*[sample("hits", "gauge", i, 1, attributes={"n": f"{i:02d}"})
                      for i in range(MAX_SERIES + 3)])  # fmt: skip
    page = logged_in.client.get("/app-metrics?name=hits").text
    assert len(lines(page)) == MAX_SERIES
    assert f"the first {MAX_SERIES} of {MAX_SERIES + 3} label sets" in page


def test_chart_and_table_export(logged_in: Dashboard) -> None:
    """The metrics table and the chosen metric's chart download like every table."""
    fill(logged_in)
    names = logged_in.client.get("/app-metrics?table=metrics&format=json").json()
    assert [row["name"] for row in names["rows"]] == ["jobs_total", "latency", "queue_depth"]
    series = logged_in.client.get("/app-metrics?name=jobs_total&table=series&format=csv").text
    assert series.splitlines()[0] == "bucket,queue=a,queue=b"


def test_empty_state_and_page_path(logged_in: Dashboard) -> None:
    """Without samples the page says how they arrive; /metrics is left to Prometheus."""
    page = logged_in.client.get("/app-metrics").text
    assert "No metric samples arrived in the last 1 hour" in page and "prometheus_client" in page
    nav = re.search(r'<nav class="nav".*?</nav>', page, re.S)
    assert (
        nav
        and 'href="/app-metrics?project=shop&amp;range=1h" aria-current="page">Metrics'
        in nav.group(0)
    )
    assert "<h1>Metrics</h1>" not in logged_in.client.get("/metrics").text


def test_increases_and_labels() -> None:
    """Increases count from the previous bucket and from zero after a reset; labels read k=v."""
    assert increases([(0, 10, 4), (1, 25, 12), (2, 3, 1)]) == {0: 6, 1: 15, 2: 3}
    assert increases([(0, 5, 5), (1, 8, None)]) == {1: 3}  # one sample tells no increase
    assert label_text('{"route": "/chat", "model": "gpt"}') == "model=gpt, route=/chat"
    assert label_text("{}") == "(no labels)" and label_text("not json") == "not json"
