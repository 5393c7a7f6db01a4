"""The query catalog: every question the pages, the read API and (later) alerts ask, by name.

A :class:`Query` is data: a name, a description, the parameters it takes and a builder that turns
a dialect and checked parameters into a :class:`~watchkeeper.query.sql.Statement`. Callers use
:func:`run`; nothing outside ``query/`` writes SQL, and nothing outside ``store/`` executes it.

>>> sorted(CATALOG)[:3]
['events.by_name', 'events.count', 'events.per_bucket']
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from watchkeeper.query.sql import Dialect, Statement

if TYPE_CHECKING:
    from watchkeeper.store.base import Store

MAX_LIMIT: Final = 10_000
MAX_BUCKETS: Final = 2_000

Params = Mapping[str, Any]


class QueryError(ValueError):
    """A catalog query asked for with a missing or bad parameter; the message names it."""


@dataclass(frozen=True)
class Query:
    name: str
    help: str
    params: tuple[str, ...]
    build: Callable[[Dialect, Params], Statement]


def _window(d: Dialect) -> str:
    """The clause every query starts with: one project, ``since <= ts < until``."""
    return (
        f"project = {d.param('project')} AND ts >= {d.param('since')} AND ts < {d.param('until')}"
    )


def _name_filter(d: Dialect, p: Params) -> str:
    return f" AND name = {d.param('name')}" if p.get("name") else ""


def _count(table: str) -> Callable[[Dialect, Params], Statement]:
    def build(d: Dialect, p: Params) -> Statement:
        return Statement(f"SELECT count(*) AS count FROM {table} WHERE {_window(d)}", p)

    return build


def _events_by_name(d: Dialect, p: Params) -> Statement:
    return Statement(
        f"SELECT name, count(*) AS count, count(DISTINCT nullif(user_id, '')) AS users"
        f" FROM events WHERE {_window(d)}"
        f" GROUP BY name ORDER BY count DESC, name LIMIT {d.param('limit')}",
        p,
    )


def _events_per_bucket(d: Dialect, p: Params) -> Statement:
    bucket = d.bucket("ts", d.param("bucket"))
    return Statement(
        f"SELECT {bucket} AS bucket, count(*) AS count FROM events"
        f" WHERE {_window(d)}{_name_filter(d, p)} GROUP BY bucket ORDER BY bucket",
        p,
    )


def _latency_columns(d: Dialect) -> str:
    return ", ".join(
        f"{d.quantile('duration_ns', q)} AS {label}"
        for q, label in ((0.5, "p50_ns"), (0.95, "p95_ns"), (0.99, "p99_ns"))
    )


def _spans_latency(*, by_name: bool) -> Callable[[Dialect, Params], Statement]:
    group = "name, bucket" if by_name else "bucket"

    def build(d: Dialect, p: Params) -> Statement:
        bucket = d.bucket("ts", d.param("bucket"))
        return Statement(
            f"SELECT {'name, ' if by_name else ''}{bucket} AS bucket, count(*) AS count,"
            f" {_latency_columns(d)} FROM spans WHERE {_window(d)}{_name_filter(d, p)}"
            f" GROUP BY {group} ORDER BY {group}",
            p,
        )

    return build


def _spans_slowest(d: Dialect, p: Params) -> Statement:
    return Statement(
        f"SELECT name, count(*) AS count, {_latency_columns(d)},"
        f" sum(CASE WHEN status = 'error' THEN 1 ELSE 0 END) AS errors FROM spans"
        f" WHERE {_window(d)} GROUP BY name ORDER BY p95_ns DESC, name LIMIT {d.param('limit')}",
        p,
    )


def _records_list(table: str) -> Callable[[Dialect, Params], Statement]:
    def build(d: Dialect, p: Params) -> Statement:
        return Statement(
            f"SELECT * FROM {table} WHERE {_window(d)} ORDER BY ts DESC, id"
            f" LIMIT {d.param('limit')}",
            p,
        )

    return build


_WINDOW: Final = ("project", "since", "until")

CATALOG: Final[dict[str, Query]] = {
    q.name: q
    for q in (
        Query("events.count", "Events in the window.", _WINDOW, _count("events")),
        Query(
            "events.by_name",
            "Events by name, most frequent first, with distinct users.",
            (*_WINDOW, "limit"),
            _events_by_name,
        ),
        Query(
            "events.per_bucket",
            "Events per time bucket (optionally of one name).",
            (*_WINDOW, "bucket"),
            _events_per_bucket,
        ),
        Query("spans.count", "Spans in the window.", _WINDOW, _count("spans")),
        Query(
            "spans.latency_per_bucket",
            "Span count and p50/p95/p99 duration per bucket (optionally of one name).",
            (*_WINDOW, "bucket"),
            _spans_latency(by_name=False),
        ),
        Query(
            "spans.latency_by_name_per_bucket",
            "Span count and p50/p95/p99 duration by name per bucket.",
            (*_WINDOW, "bucket"),
            _spans_latency(by_name=True),
        ),
        Query(
            "spans.slowest",
            "Span names by p95 duration, slowest first, with counts and errors.",
            (*_WINDOW, "limit"),
            _spans_slowest,
        ),
        Query(
            "records.list.event",
            "Events, newest first.",
            (*_WINDOW, "limit"),
            _records_list("events"),
        ),
        Query(
            "records.list.span", "Spans, newest first.", (*_WINDOW, "limit"), _records_list("spans")
        ),
        Query("records.count.event", "Events in the window.", _WINDOW, _count("events")),
        Query("records.count.span", "Spans in the window.", _WINDOW, _count("spans")),
    )
}


_INTEGER_PARAMS: Final = frozenset({"project", "since", "until", "bucket", "limit"})


def _check_value(query: str, name: str, value: Any) -> None:
    if name in _INTEGER_PARAMS:
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise QueryError(f"{query}: parameter {name!r} must be a whole number ≥ 0")
        if name == "limit" and not 1 <= value <= MAX_LIMIT:
            raise QueryError(f"{query}: parameter 'limit' must be 1..{MAX_LIMIT}")
        if name == "bucket" and value == 0:
            raise QueryError(f"{query}: parameter 'bucket' must be > 0")
    elif name == "name":
        if not isinstance(value, str):
            raise QueryError(f"{query}: parameter 'name' must be a string")
    else:
        raise QueryError(f"{query}: unknown parameter {name!r}")


def _check(query: Query, params: Params) -> dict[str, Any]:
    for name in query.params:
        if params.get(name) is None:
            raise QueryError(f"{query.name}: parameter {name!r} is required")
    checked = {name: value for name, value in params.items() if value is not None}
    for name, value in checked.items():
        _check_value(query.name, name, value)
    if (
        "bucket" in checked
        and (checked["until"] - checked["since"]) // checked["bucket"] > MAX_BUCKETS
    ):
        raise QueryError(f"{query.name}: more than {MAX_BUCKETS} buckets; widen 'bucket'")
    return checked


def statement(name: str, dialect: Dialect, /, **params: Any) -> Statement:
    """Build the named query's statement for ``dialect`` after checking its parameters."""
    query = CATALOG.get(name)
    if query is None:
        raise QueryError(f"no catalog query named {name!r}")
    return query.build(dialect, _check(query, params))


def run(store: Store, name: str, /, **params: Any) -> list[dict[str, Any]]:
    """Run the named query against ``store``.

    >>> run(store, "events.count", project=1, since=0, until=now_ns)  # doctest: +SKIP
    [{'count': 20000}]
    """
    return store.query(statement(name, store.dialect, **params))
