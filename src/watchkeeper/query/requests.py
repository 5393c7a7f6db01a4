"""Questions about HTTP requests: server spans by route, rate, errors and latency (RED)."""

from __future__ import annotations

from watchkeeper.query.clauses import WINDOW, Builder, Params, Query, equal, latency, window
from watchkeeper.query.sql import Dialect, Statement

_SERVER = "span_kind = 'server'"
_ERRORS = "sum(CASE WHEN http_status_code >= 500 OR status = 'error' THEN 1 ELSE 0 END) AS errors"


def _per_bucket(d: Dialect, p: Params) -> Statement:
    bucket = d.bucket("ts", d.param("bucket"))
    return Statement(
        f"SELECT {bucket} AS bucket, count(*) AS count, {_ERRORS}, {latency(d)} FROM spans"
        f" WHERE {window(d)} AND {_SERVER}{equal(d, p, 'service', 'http_route')}"
        f" GROUP BY bucket ORDER BY bucket",
        p,
    )


def _by_route(order: str) -> Builder:
    def build(d: Dialect, p: Params) -> Statement:
        return Statement(
            f"SELECT coalesce(http_method, '') AS method, coalesce(http_route, name) AS route,"
            f" count(*) AS count, {_ERRORS}, {latency(d)} FROM spans"
            f" WHERE {window(d)} AND {_SERVER}{equal(d, p, 'service')}"
            f" GROUP BY method, route ORDER BY {order}, route, method LIMIT {d.param('limit')}",
            p,
        )

    return build


QUERIES = (
    Query(
        "requests.per_bucket",
        "Server requests per bucket: count, errors (5xx or error status), p50/p95/p99;"
        " filters: service, http_route.",
        (*WINDOW, "bucket"),
        _per_bucket,
    ),
    Query(
        "requests.by_route",
        "Requests by method and route template, busiest first, with errors and p50/p95/p99.",
        (*WINDOW, "limit"),
        _by_route("count DESC"),
    ),
    Query(
        "requests.slowest_routes",
        "Requests by method and route template, slowest p95 first.",
        (*WINDOW, "limit"),
        _by_route("p95_ns DESC"),
    ),
)
