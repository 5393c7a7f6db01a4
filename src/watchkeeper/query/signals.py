"""Signals: one row of figures per group over a whole window, the shape alert rules compare.

Each query aggregates its window into one row (or one row per value of the columns named in
``group_by``, a comma-separated list checked against :data:`GROUP_COLUMNS`): request error
rate and latency, span errors, log volume, error events, a metric's last value, event counts.
A window with nothing in it gives one row of zeros and NULLs without ``group_by`` and no row
with it, which the alert engine reads as "no data" (a NULL rate or percentile is no data too).

>>> sorted(GROUP_COLUMNS["signals.requests"])
['environment', 'http_method', 'http_route', 'release', 'service']
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final

from watchkeeper.query.clauses import WINDOW, Builder, Params, Query, equal, window
from watchkeeper.query.sql import Dialect, Statement

_COMMON: Final = {"service": "service", "environment": "environment", "release": "release"}

GROUP_COLUMNS: Final[dict[str, dict[str, str]]] = {
    "signals.requests": {
        **_COMMON,
        "http_route": "coalesce(http_route, name)",
        "http_method": "coalesce(http_method, '')",
    },
    "signals.spans": {**_COMMON, "name": "name", "span_kind": "span_kind"},
    "signals.logs": {**_COMMON, "logger": "logger", "severity_text": "severity_text"},
    "signals.errors": {**_COMMON, "type": "type", "issue_id": "issue_id"},
    "signals.metric": {**_COMMON, "labels": "CAST(attributes AS VARCHAR)"},
    "signals.events": {**_COMMON, "name": "name"},
}
"""Per query, the columns ``group_by`` may name, and the SQL each stands for."""

_NAME = re.compile(r"^[a-z_]+$")


def check_group_by(value: object) -> str | None:
    """The catalog's check of ``group_by``: comma-separated column names, at most 5."""
    if not isinstance(value, str) or not value:
        return "must be comma-separated column names"
    names = [name.strip() for name in value.split(",")]
    known = {name for columns in GROUP_COLUMNS.values() for name in columns}
    for name in names:
        if not _NAME.match(name) or name not in known:
            return f"names an unknown column {name!r}"
    return "names at most 5 columns" if len(names) > 5 else None


def _groups(query: str, p: Params) -> tuple[str, str]:
    """``(select prefix, GROUP BY clause)`` for the query's ``group_by``."""
    value = p.get("group_by")
    if not value:
        return "", ""
    columns: Mapping[str, str] = GROUP_COLUMNS[query]
    names = [name.strip() for name in str(value).split(",")]
    for name in names:
        if name not in columns:
            raise ValueError(
                f"{query}: group_by {name!r} is not one of {', '.join(sorted(columns))}"
            )
    select = "".join(f"{columns[name]} AS {name}, " for name in names)
    # By expression and position: an alias named like a column (http_route) would bind to the
    # raw column in GROUP BY.
    positions = ", ".join(str(n) for n in range(1, len(names) + 1))
    return select, f" GROUP BY {', '.join(columns[n] for n in names)} ORDER BY {positions}"


def _rate(d: Dialect, bad: str) -> str:
    errors = f"sum(CASE WHEN {bad} THEN 1 ELSE 0 END)"
    return (
        f"count(*) AS count, coalesce({errors}, 0) AS errors,"
        f" 100.0 * {errors} / nullif(count(*), 0) AS error_pct,"
        f" count(*) * 1e9 / ({d.param('until')} - {d.param('since')}) AS per_second"
    )


def _latency_ms(d: Dialect) -> str:
    return ", ".join(
        f"{d.quantile('duration_ns', q)} / 1e6 AS {label}"
        for q, label in ((0.5, "p50_ms"), (0.95, "p95_ms"), (0.99, "p99_ms"))
    )


def _requests(d: Dialect, p: Params) -> Statement:
    select, group = _groups("signals.requests", p)
    bad = "http_status_code >= 500 OR status = 'error'"
    return Statement(
        f"SELECT {select}{_rate(d, bad)}, {_latency_ms(d)} FROM spans"
        f" WHERE {window(d)} AND span_kind = 'server'"
        f"{equal(d, p, 'service', 'environment', 'release', 'http_route')}{group}",
        p,
    )


def _spans(d: Dialect, p: Params) -> Statement:
    select, group = _groups("signals.spans", p)
    rate = _rate(d, "status = 'error'")
    return Statement(
        f"SELECT {select}{rate}, {_latency_ms(d)} FROM spans"
        f" WHERE {window(d)}{equal(d, p, 'name', 'service', 'environment', 'release')}{group}",
        p,
    )


def _logs(d: Dialect, p: Params) -> Statement:
    select, group = _groups("signals.logs", p)
    where = equal(d, p, "service", "environment", "release", "logger")
    if p.get("level") is not None:
        where += f" AND severity_number >= {d.param('level')}"
    if p.get("text"):
        where += f" AND {d.contains('body', 'text')}"
    return Statement(
        f"SELECT {select}count(*) AS count,"
        f" count(*) * 60e9 / ({d.param('until')} - {d.param('since')}) AS per_minute"
        f" FROM logs WHERE {window(d)}{where}{group}",
        p,
    )


def _errors(d: Dialect, p: Params) -> Statement:
    select, group = _groups("signals.errors", p)
    where = equal(d, p, "service", "environment", "release", "issue_id")
    return Statement(
        f"SELECT {select}count(*) AS count, count(DISTINCT nullif(user_id, '')) AS users"
        f" FROM errors WHERE {window(d)}{where}{group}",
        p,
    )


def _metric(d: Dialect, p: Params) -> Statement:
    select, group = _groups("signals.metric", p)
    # Counters are cumulative: their increase over the window is the last value minus the first
    # (a restart that resets a counter inside the window makes it wrong for that window).
    return Statement(
        f"SELECT {select}count(*) AS samples, {d.arg_max('value', 'ts')} AS last,"
        f" avg(value) AS avg, min(value) AS min, max(value) AS max,"
        f" {d.arg_max('value', 'ts')} - {d.arg_min('value', 'ts')} AS increase"
        f" FROM metrics WHERE {window(d)} AND name = {d.param('name')}"
        f"{equal(d, p, 'service', 'environment', 'release')}{group}",
        p,
    )


def _events(d: Dialect, p: Params) -> Statement:
    select, group = _groups("signals.events", p)
    return Statement(
        f"SELECT {select}count(*) AS count, count(DISTINCT nullif(user_id, '')) AS users"
        f" FROM events WHERE {window(d)}"
        f"{equal(d, p, 'name', 'service', 'environment', 'release')}{group}",
        p,
    )


def _query(name: str, help: str, params: tuple[str, ...], build: Builder) -> Query:
    columns = ", ".join(sorted(GROUP_COLUMNS[name]))
    return Query(name, f"{help} group_by: {columns}.", params, build)


QUERIES = (
    _query(
        "signals.requests",
        "Server requests in the window: count, errors (5xx or error status), error_pct (NULL"
        " without requests), per_second, p50/p95/p99_ms; filters: service, environment,"
        " release, http_route;",
        WINDOW,
        _requests,
    ),
    _query(
        "signals.spans",
        "Spans in the window: count, errors (error status), error_pct, per_second,"
        " p50/p95/p99_ms; filters: name, service, environment, release;",
        WINDOW,
        _spans,
    ),
    _query(
        "signals.logs",
        "Log lines in the window: count, per_minute; filters: level (lowest severity number,"
        " 17 = ERROR), service, environment, release, logger, text;",
        WINDOW,
        _logs,
    ),
    _query(
        "signals.errors",
        "Error events in the window: count, distinct users; filters: service, environment,"
        " release, issue_id;",
        WINDOW,
        _errors,
    ),
    _query(
        "signals.metric",
        "One metric's samples in the window: samples, last, avg, min, max, increase (last"
        " minus first, for counters); filters: service, environment, release;",
        (*WINDOW, "name"),
        _metric,
    ),
    _query(
        "signals.events",
        "Events in the window: count, distinct users; filters: name, service, environment,"
        " release;",
        WINDOW,
        _events,
    ),
)
