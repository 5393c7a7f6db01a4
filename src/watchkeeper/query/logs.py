"""Questions about log lines: search with filters (newest first, keyset paging) and volume."""

from __future__ import annotations

from watchkeeper.query.clauses import WINDOW, Params, Query, equal, window
from watchkeeper.query.sql import Dialect, Statement


def _filters(d: Dialect, p: Params) -> str:
    sql = equal(d, p, "service", "trace_id", "logger")
    if p.get("level") is not None:
        sql += f" AND severity_number >= {d.param('level')}"
    if p.get("text"):
        sql += f" AND {d.contains('body', 'text')}"
    return sql


def _search(d: Dialect, p: Params) -> Statement:
    # Keyset paging: the next page starts after the last line shown, (before_ts, before_id),
    # which stays right while new lines arrive (an OFFSET would shift).
    page = ""
    if p.get("before_ts") is not None:
        before = d.param("before_ts")
        page = f" AND (ts < {before} OR (ts = {before} AND id < {d.param('before_id')}))"
    return Statement(
        f"SELECT * FROM logs WHERE {window(d)}{_filters(d, p)}{page}"
        f" ORDER BY ts DESC, id DESC LIMIT {d.param('limit')}",
        p,
    )


def _volume(d: Dialect, p: Params) -> Statement:
    bucket = d.bucket("ts", d.param("bucket"))
    return Statement(
        f"SELECT {bucket} AS bucket, severity_text, count(*) AS count FROM logs"
        f" WHERE {window(d)}{_filters(d, p)}"
        f" GROUP BY bucket, severity_text ORDER BY bucket, severity_text",
        p,
    )


def _count(d: Dialect, p: Params) -> Statement:
    return Statement(f"SELECT count(*) AS count FROM logs WHERE {window(d)}{_filters(d, p)}", p)


QUERIES = (
    Query(
        "logs.search",
        "Log lines, newest first; filters: level (lowest severity number), service, logger,"
        " trace_id, text (case-insensitive substring); page with before_ts + before_id.",
        (*WINDOW, "limit"),
        _search,
    ),
    Query("logs.count", "Log lines matching the filters.", WINDOW, _count),
    Query(
        "logs.volume_per_bucket",
        "Log lines per bucket and severity (same filters as logs.search).",
        (*WINDOW, "bucket"),
        _volume,
    ),
)
