"""Questions about spans as operations: counts and latency percentiles by name and time."""

from __future__ import annotations

from watchkeeper.query.clauses import WINDOW, Builder, Params, Query, count, equal, latency, window
from watchkeeper.query.sql import Dialect, Statement


def _latency(*, by_name: bool) -> Builder:
    group = "name, bucket" if by_name else "bucket"

    def build(d: Dialect, p: Params) -> Statement:
        bucket = d.bucket("ts", d.param("bucket"))
        return Statement(
            f"SELECT {'name, ' if by_name else ''}{bucket} AS bucket, count(*) AS count,"
            f" {latency(d)} FROM spans WHERE {window(d)}{equal(d, p, 'name', 'service')}"
            f" GROUP BY {group} ORDER BY {group}",
            p,
        )

    return build


def _slowest(d: Dialect, p: Params) -> Statement:
    return Statement(
        f"SELECT name, count(*) AS count, {latency(d)},"
        f" sum(CASE WHEN status = 'error' THEN 1 ELSE 0 END) AS errors FROM spans"
        f" WHERE {window(d)}{equal(d, p, 'service')}"
        f" GROUP BY name ORDER BY p95_ns DESC, name LIMIT {d.param('limit')}",
        p,
    )


QUERIES = (
    Query("spans.count", "Spans in the window.", WINDOW, count("spans")),
    Query(
        "spans.latency_per_bucket",
        "Span count and p50/p95/p99 duration per bucket (optionally of one name).",
        (*WINDOW, "bucket"),
        _latency(by_name=False),
    ),
    Query(
        "spans.latency_by_name_per_bucket",
        "Span count and p50/p95/p99 duration by name per bucket.",
        (*WINDOW, "bucket"),
        _latency(by_name=True),
    ),
    Query(
        "spans.slowest",
        "Span names by p95 duration, slowest first, with counts and errors.",
        (*WINDOW, "limit"),
        _slowest,
    ),
)
