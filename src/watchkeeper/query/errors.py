"""Questions about errors and their issues: counts and users per issue, frequency per bucket,
an issue's events (newest first, keyset paging), one event, an issue's releases.

Issues themselves (title, status, releases resolved in) live in the metadata store; these
queries give what only the events know, and the exact counts (a replayed batch is stored once).
"""

from __future__ import annotations

from watchkeeper.query.clauses import WINDOW, Params, Query, equal, window
from watchkeeper.query.sql import Dialect, Statement


def _filters(d: Dialect, p: Params) -> str:
    return equal(d, p, "issue_id", "service", "environment", "release")


def _limit(d: Dialect, p: Params) -> str:
    return f" LIMIT {d.param('limit')}" if p.get("limit") is not None else ""


def _by_issue(d: Dialect, p: Params) -> Statement:
    return Statement(
        "SELECT issue_id, count(*) AS count, count(DISTINCT nullif(user_id, '')) AS users,"
        " min(ts) AS first_seen, max(ts) AS last_seen"
        f" FROM errors WHERE {window(d)}{_filters(d, p)}"
        f" GROUP BY issue_id ORDER BY last_seen DESC, issue_id DESC{_limit(d, p)}",
        p,
    )


def _per_bucket(d: Dialect, p: Params) -> Statement:
    bucket = d.bucket("ts", d.param("bucket"))
    return Statement(
        f"SELECT {bucket} AS bucket, count(*) AS count FROM errors"
        f" WHERE {window(d)}{_filters(d, p)} GROUP BY bucket ORDER BY bucket",
        p,
    )


def _list(d: Dialect, p: Params) -> Statement:
    # Keyset paging as in logs.search: the next page starts after (before_ts, before_id).
    page = ""
    if p.get("before_ts") is not None:
        before = d.param("before_ts")
        page = f" AND (ts < {before} OR (ts = {before} AND id < {d.param('before_id')}))"
    return Statement(
        f"SELECT * FROM errors WHERE {window(d)}{_filters(d, p)}{page}"
        f" ORDER BY ts DESC, id DESC LIMIT {d.param('limit')}",
        p,
    )


def _get(d: Dialect, p: Params) -> Statement:
    return Statement(
        f"SELECT * FROM errors WHERE {window(d)} AND id = {d.param('id')} ORDER BY ts LIMIT 1",
        p,
    )


def _releases(d: Dialect, p: Params) -> Statement:
    return Statement(
        "SELECT release, count(*) AS count, min(ts) AS first_seen, max(ts) AS last_seen"
        f" FROM errors WHERE {window(d)}{_filters(d, p)}"
        " GROUP BY release ORDER BY first_seen",
        p,
    )


QUERIES = (
    Query(
        "errors.by_issue",
        "Per issue in the window: events, distinct users, first and last seen; most recent"
        " first, at most limit (optional); filters: issue_id, service, environment, release.",
        WINDOW,
        _by_issue,
    ),
    Query(
        "errors.per_bucket",
        "Error events per bucket, for the frequency chart (same filters as errors.by_issue).",
        (*WINDOW, "bucket"),
        _per_bucket,
    ),
    Query(
        "errors.events",
        "Error events, newest first (same filters as errors.by_issue); page with before_ts +"
        " before_id.",
        (*WINDOW, "limit"),
        _list,
    ),
    Query("errors.event", "One error event by id (in the window).", (*WINDOW, "id"), _get),
    Query(
        "errors.releases",
        "Releases with error events in the window (with issue_id: one issue's), oldest first,"
        " with their counts and first and last seen.",
        WINDOW,
        _releases,
    ),
)
