"""Charts: the JSON that app.js draws with uPlot, carried in a ``data-chart`` attribute."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from watchkeeper.dashboard.pages.view import SECOND

if TYPE_CHECKING:
    from watchkeeper.dashboard.pages.view import View


def chart(
    view: View,
    rows: Sequence[Mapping[str, Any]],
    columns: Mapping[str, str],
    *,
    name: str = "",
    unit: str = "",
    kind: str = "line",
    scale: float = 1.0,
    fill: float | None = None,
) -> dict[str, Any]:
    """A chart's data for app.js: one series per column of ``rows`` (one row per bucket).

    Every bucket of the window is present, so a gap shows as a gap: a bucket without a row gets
    ``fill`` (0 for counts; ``None``, drawn as a break in the line, for measurements). ``x`` is
    in seconds, as uPlot expects; values are multiplied by ``scale`` (ns → ms: 1e-6). ``kind`` is
    ``line``, ``bars`` or ``stacked`` (bars of every series on top of each other, the first
    series at the bottom). A ``name`` makes the chart downloadable like a table
    (``?table=<name>&format=csv``).
    """
    by_bucket = {row["bucket"]: row for row in rows}
    starts = view.buckets
    series = []
    for column, label in columns.items():
        values: list[float | None] = []
        for start in starts:
            value = by_bucket.get(start, {}).get(column)
            values.append(fill if value is None else round(value * scale, 3))
        series.append({"label": label, "values": values})
    return {
        "name": name,
        "kind": kind,
        "unit": unit,
        "since": view.since // SECOND,
        "until": view.until // SECOND,
        "step": view.bucket // SECOND,
        "x": [start // SECOND for start in starts],
        "series": series,
    }
