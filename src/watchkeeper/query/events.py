"""Questions about product events (``track()``)."""

from __future__ import annotations

from watchkeeper.query.clauses import WINDOW, Params, Query, count, equal, window
from watchkeeper.query.sql import Dialect, Statement


def _by_name(d: Dialect, p: Params) -> Statement:
    return Statement(
        f"SELECT name, count(*) AS count, count(DISTINCT nullif(user_id, '')) AS users"
        f" FROM events WHERE {window(d)}{equal(d, p, 'service')}"
        f" GROUP BY name ORDER BY count DESC, name LIMIT {d.param('limit')}",
        p,
    )


def _per_bucket(d: Dialect, p: Params) -> Statement:
    bucket = d.bucket("ts", d.param("bucket"))
    return Statement(
        f"SELECT {bucket} AS bucket, count(*) AS count FROM events"
        f" WHERE {window(d)}{equal(d, p, 'name', 'service')} GROUP BY bucket ORDER BY bucket",
        p,
    )


QUERIES = (
    Query("events.count", "Events in the window.", WINDOW, count("events")),
    Query(
        "events.by_name",
        "Events by name, most frequent first, with distinct users.",
        (*WINDOW, "limit"),
        _by_name,
    ),
    Query(
        "events.per_bucket",
        "Events per time bucket (optionally of one name).",
        (*WINDOW, "bucket"),
        _per_bucket,
    ),
)
