"""Questions about metric samples pushed by the SDK: which metrics exist, and one over time."""

from __future__ import annotations

from watchkeeper.query.clauses import WINDOW, Params, Query, equal, window
from watchkeeper.query.sql import Dialect, Statement


def _names(d: Dialect, p: Params) -> Statement:
    return Statement(
        f"SELECT name, type, unit, count(*) AS samples, {d.arg_max('value', 'ts')} AS last_value,"
        f" max(ts) AS last_ts FROM metrics WHERE {window(d)}{equal(d, p, 'service')}"
        f" GROUP BY name, type, unit ORDER BY name",
        p,
    )


def _series(d: Dialect, p: Params) -> Statement:
    # One series per label set (attributes). Counters are cumulative: a page charts the
    # increase per bucket from max; gauges chart avg; histograms carry count and sum.
    bucket = d.bucket("ts", d.param("bucket"))
    return Statement(
        f"SELECT {bucket} AS bucket, CAST(attributes AS VARCHAR) AS labels, avg(value) AS avg,"
        f" min(value) AS min, max(value) AS max, max(count) AS count, max(sum) AS sum"
        f" FROM metrics WHERE {window(d)} AND name = {d.param('name')}{equal(d, p, 'service')}"
        f" GROUP BY bucket, labels ORDER BY labels, bucket",
        p,
    )


QUERIES = (
    Query(
        "metrics.names",
        "Metrics with samples in the window: type, unit, sample count, last value.",
        WINDOW,
        _names,
    ),
    Query(
        "metrics.series",
        "One metric per bucket and label set: avg/min/max value, count and sum.",
        (*WINDOW, "bucket", "name"),
        _series,
    ),
)
