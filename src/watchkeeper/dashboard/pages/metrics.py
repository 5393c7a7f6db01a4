"""Metrics: the samples the SDK pushes (R-M2, R-M4), as a table of metrics and, for the one
chosen, a chart with one line per label set.

What a line shows depends on the metric's type. A gauge is a level: its average per bucket. A
counter is cumulative (as Prometheus exposes it), so the line is its increase per bucket: this
bucket's highest value minus the previous bucket's, or the value itself after a reset (a restart
starts the count again). A histogram carries a cumulative count and sum; its line is the mean of
the observations in each bucket, the increase of the sum over the increase of the count.

The page lives at ``/app-metrics``: ``/metrics`` is the Prometheus exposition path that scrapers
expect of every server (DESIGN §1), this one included.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Final

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from watchkeeper.dashboard import login
from watchkeeper.dashboard.pages.chart import chart
from watchkeeper.dashboard.pages.table import Column, Table
from watchkeeper.dashboard.pages.view import View, ViewDep, render_page, services_of
from watchkeeper.query import catalog

if TYPE_CHECKING:
    from watchkeeper.store.base import Store

router = APIRouter()

PATH: Final = "/app-metrics"

MAX_SERIES: Final = 12
"""Label sets drawn at most: more lines than this is a tangle, not a chart."""

METRICS: Final = (
    Column("Name", "name", link="metric_url"), Column("Type", "type"), Column("Unit", "unit"),
    Column("Samples", "samples", "count"), Column("Last value", "last_value", "value"),
    Column("Last sample", "last_ts", "time"),
)  # fmt: skip
SHOWN: Final = {
    "gauge": "average per bucket",
    "counter": "increase per bucket",
    "histogram": "mean observation per bucket (sum ÷ count)",
}


@dataclass(frozen=True)
class MetricFilters:
    service: str = ""
    name: str = ""

    @property
    def query(self) -> dict[str, str]:
        return {"service": self.service, "name": self.name}


def metric_filters(service: str = "", name: str = "") -> MetricFilters:
    """Dependency: the service and the chosen metric (over-long values are dropped)."""
    return MetricFilters(
        service=service if len(service) <= 256 else "", name=name if len(name) <= 256 else ""
    )


FiltersDep = Annotated[MetricFilters, Depends(metric_filters)]


def increases(points: Iterable[tuple[int, float | None, float | None]]) -> dict[int, float]:
    """A cumulative value's increase per bucket from ``(bucket, max, min)`` points in order.

    The first bucket only knows its own samples: max - min when they differ (one sample says
    nothing about the increase); after a reset (the value fell) the increase is the new value,
    counted from zero.

    >>> increases([(0, 10, 4), (1, 25, 12), (2, 3, 1)])
    {0: 6, 1: 15, 2: 3}
    """
    result: dict[int, float] = {}
    previous: float | None = None
    for bucket, high, low in points:
        if high is None:
            continue
        if previous is None:
            if low is not None and high > low:
                result[bucket] = high - low
        else:
            result[bucket] = high - previous if high >= previous else high
        previous = high
    return result


def line(kind: str, rows: list[dict[str, Any]]) -> dict[int, float | None]:
    """One label set's values per bucket, as :data:`SHOWN` says for ``kind``."""
    if kind == "counter":
        return dict(increases((row["bucket"], row["max"], row["min"]) for row in rows))
    if kind == "histogram":
        counts = increases((row["bucket"], row["count"], None) for row in rows)
        sums = increases((row["bucket"], row["sum"], None) for row in rows)
        return {b: sums[b] / n if n else None for b, n in counts.items() if b in sums}
    return {row["bucket"]: row["avg"] for row in rows}


def label_text(labels: str) -> str:
    """A label set as the legend shows it: ``model=gpt-4o, route=/chat``."""
    try:
        parsed = json.loads(labels) if labels else {}
    except ValueError:
        return labels
    if not isinstance(parsed, dict) or not parsed:
        return "(no labels)"
    return ", ".join(f"{key}={value}" for key, value in sorted(parsed.items()))


def series_chart(view: View, metric: dict[str, Any], rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The chosen metric's chart: one line per label set (the first :data:`MAX_SERIES`)."""
    by_labels: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_labels.setdefault(row["labels"], []).append(row)
    merged: dict[int, dict[str, Any]] = {}
    columns = {}
    for index, (labels, points) in enumerate(sorted(by_labels.items())[:MAX_SERIES]):
        key = f"s{index}"
        columns[key] = label_text(labels)
        for bucket, value in line(metric["type"], points).items():
            merged.setdefault(bucket, {"bucket": bucket})[key] = value
    spec = chart(view, list(merged.values()), columns, name="series", unit=metric["unit"])
    return spec | {"label_sets": len(by_labels)}


def metrics_data(store: Store, view: View, filters: MetricFilters) -> dict[str, Any]:
    """The metrics with samples in the window; the chosen one's chart."""
    service = {"service": filters.service or None}
    names = catalog.run(store, "metrics.names", **view.window, **service)
    for row in names:
        row["metric_url"] = view.here(name=row["name"])
    chosen = next((row for row in names if row["name"] == filters.name), None)
    context: dict[str, Any] = {
        "filters": filters,
        "services": [(s, s) for s in services_of(store, view, "metric")],
        "metrics": Table("metrics", METRICS, names),
        "chosen": chosen,
        "max_series": MAX_SERIES,
    }
    if chosen is not None:
        rows = catalog.run(
            store, "metrics.series", **view.window, bucket=view.bucket, name=chosen["name"],
            **service,
        )  # fmt: skip
        context["series_chart"] = series_chart(view, chosen, rows)
        context["shown"] = SHOWN.get(chosen["type"], "average per bucket")
    return context


@router.get(PATH)
def metrics(request: Request, view: ViewDep, filters: FiltersDep) -> Response:
    """The metrics pushed by the SDK, one charted at a time."""
    view = view.on(PATH, **filters.query)
    data = metrics_data(login.services(request).store, view, filters)
    return render_page(request, view, "metrics.html", data)


@router.get("/partials/metrics")
def metrics_live(request: Request, view: ViewDep, filters: FiltersDep) -> Response:
    """The Metrics page's live part, for htmx."""
    view = view.on(PATH, **filters.query)
    data = metrics_data(login.services(request).store, view, filters)
    return render_page(request, view, "partials/metrics.html", data)
