"""The query catalog: every question the pages, the read API and (later) alerts ask, by name.

A :class:`~watchkeeper.query.clauses.Query` is data: a name, a description, its required
parameters and a builder that turns a dialect and checked parameters into a
:class:`~watchkeeper.query.sql.Statement`. The queries live by area (events.py, spans.py,
logs.py, traces.py, requests.py, metrics.py, records.py, errors.py, llm.py); this module gathers
them, checks parameters against one table of types, and runs them. Nothing outside ``query/``
writes SQL, and nothing outside ``store/`` executes it.

>>> sorted(CATALOG)[:3]
['events.by_name', 'events.count', 'events.per_bucket']
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

from watchkeeper.query import (
    errors,
    events,
    llm,
    logs,
    metrics,
    records,
    requests,
    signals,
    spans,
    traces,
)
from watchkeeper.query.clauses import Params, Query
from watchkeeper.query.sql import Dialect, Statement

if TYPE_CHECKING:
    from watchkeeper.store.base import Store

MAX_LIMIT: Final = 10_000
MAX_BUCKETS: Final = 2_000

CATALOG: Final[dict[str, Query]] = {
    query.name: query
    for module in (events, spans, records, logs, traces, requests, metrics, errors, llm, signals)
    for query in module.QUERIES
}


class QueryError(ValueError):
    """A catalog query asked for with a missing or bad parameter; the message names it."""


def _whole(low: int, high: int = 2**63 - 1) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            return f"must be a whole number in {low}..{high}"
        return None

    return check


def _text(max_length: int = 1024) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        if not isinstance(value, str) or len(value) > max_length:
            return f"must be a string of at most {max_length} characters"
        return None

    return check


def _trace_id(value: Any) -> str | None:
    if not isinstance(value, str) or not re.fullmatch(r"[0-9a-f]{32}", value):
        return "must be 32 lowercase hex digits"
    return None


def _flag(value: Any) -> str | None:
    return None if isinstance(value, bool) else "must be true or false"


PARAMETERS: Final[dict[str, Callable[[Any], str | None]]] = {
    "project": _whole(0),
    "since": _whole(0),
    "until": _whole(0),
    "bucket": _whole(1),
    "limit": _whole(1, MAX_LIMIT),
    "level": _whole(0, 24),
    "min_duration_ns": _whole(0),
    "before_ts": _whole(0),
    "before_id": _text(64),
    "id": _text(64),
    "issue_id": _whole(1),
    "environment": _text(256),
    "release": _text(256),
    "name": _text(256),
    "service": _text(256),
    "logger": _text(256),
    "http_route": _text(1024),
    "text": _text(),
    "trace_id": _trace_id,
    "errors": _flag,
    "provider": _text(256),
    "model": _text(256),
    "feature": _text(256),
    "user_id": _text(256),
    "group_by": signals.check_group_by,
}
"""Every parameter a catalog query may take, with its check (None when the value is fine)."""


def _check(query: Query, params: Params) -> dict[str, Any]:
    for name in query.params:
        if params.get(name) is None:
            raise QueryError(f"{query.name}: parameter {name!r} is required")
    checked = {name: value for name, value in params.items() if value is not None}
    for name, value in checked.items():
        check = PARAMETERS.get(name)
        if check is None:
            raise QueryError(f"{query.name}: unknown parameter {name!r}")
        problem = check(value)
        if problem:
            raise QueryError(f"{query.name}: parameter {name!r} {problem}")
    if (
        "bucket" in checked
        and (checked["until"] - checked["since"]) // checked["bucket"] > MAX_BUCKETS
    ):
        raise QueryError(f"{query.name}: more than {MAX_BUCKETS} buckets; widen 'bucket'")
    if "before_ts" in checked and "before_id" not in checked:
        raise QueryError(f"{query.name}: parameter 'before_id' goes with 'before_ts'")
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
