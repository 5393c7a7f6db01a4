"""Chart data for app.js (pages/chart.py): every bucket present, scaled, named for export."""

from __future__ import annotations

from tests.dashboard.conftest import Dashboard

from watchkeeper.dashboard.pages.chart import chart
from watchkeeper.dashboard.pages.table import chart_table
from watchkeeper.dashboard.pages.view import RANGES, SECOND, View


def view_of(dashboard: Dashboard) -> View:
    """A view of one minute in 10 s buckets, starting at the epoch."""
    projects = dashboard.services.meta.user_projects(dashboard.user.id)
    return View(user=dashboard.user, projects=projects, project=projects[0][0], role="member",
                range=RANGES["15m"], refresh="off", since=0, until=60 * SECOND,
                bucket=10 * SECOND)  # fmt: skip


def test_every_bucket_is_present_and_gaps_get_the_fill(dashboard: Dashboard) -> None:
    """Buckets without a row get ``fill``; values are scaled and x is in seconds."""
    view = view_of(dashboard)
    rows = [{"bucket": 10 * SECOND, "p50_ns": 2_500_000}, {"bucket": 40 * SECOND, "p50_ns": 1e6}]
    spec = chart(view, rows, {"p50_ns": "p50"}, name="latency", unit="ms", scale=1e-6)
    assert spec["x"] == [0, 10, 20, 30, 40, 50] and spec["step"] == 10
    assert spec["series"] == [{"label": "p50", "values": [None, 2.5, None, None, 1.0, None]}]
    counts = chart(view, [{"bucket": 0, "n": 3}], {"n": "events"}, kind="stacked", fill=0)
    assert counts["series"][0]["values"] == [3, 0, 0, 0, 0, 0] and counts["name"] == ""


def test_named_chart_becomes_a_table_per_bucket(dashboard: Dashboard) -> None:
    """A named chart exports as a table: a time column and one column per series."""
    view = view_of(dashboard)
    spec = chart(view, [{"bucket": 0, "a": 1, "b": 2}], {"a": "A", "b": "B"}, name="ab", fill=0)
    table = chart_table(spec)
    assert table.name == "ab" and [c.field for c in table.columns] == ["bucket", "A", "B"]
    assert table.rows[0] == {"bucket": 0, "A": 1, "B": 2} and len(table.rows) == 6
