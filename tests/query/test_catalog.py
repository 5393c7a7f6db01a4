"""The query catalog: named questions, checked parameters, the same answers from every store."""

from __future__ import annotations

import pytest

from watchkeeper.query import catalog
from watchkeeper.query.catalog import CATALOG, QueryError
from watchkeeper.query.sql import DuckDBDialect


def test_every_query_builds_sql_with_its_dialects_placeholders() -> None:
    """Each catalog entry builds a statement using only named parameters."""
    for name, query in CATALOG.items():
        params = dict.fromkeys(query.params, 1) | {"until": 10, "bucket": 1}
        params |= {"trace_id": "a" * 32} if "trace_id" in params else {}
        params |= {"name": "n"} if "name" in params else {}
        params |= {"id": "e"} if "id" in params else {}
        statement = catalog.statement(name, DuckDBDialect(), **params)
        assert "$project" in statement.sql and "$since" in statement.sql, name


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"since": 0, "until": 1}, "'project' is required"),
        ({"project": 1, "since": "0", "until": 1}, "'since' must be a whole number"),
        ({"project": 1, "since": 0, "until": 1, "limit": 0}, "'limit' must be"),
        ({"project": 1, "since": 0, "until": 1, "color": "red"}, "unknown parameter 'color'"),
    ],
)
def test_bad_parameters_are_refused_with_their_name(
    params: dict[str, object], message: str
) -> None:
    """A missing, mistyped, out-of-range or unknown parameter raises QueryError naming it."""
    with pytest.raises(QueryError, match=message):
        catalog.statement("events.by_name", DuckDBDialect(), **({"limit": 5} | params))


def test_too_many_buckets_is_refused() -> None:
    """A bucket width that would make thousands of points is refused rather than run."""
    with pytest.raises(QueryError, match="buckets"):
        catalog.statement(
            "events.per_bucket", DuckDBDialect(), project=1, since=0, until=10**9, bucket=1
        )


def test_unknown_query_is_refused() -> None:
    """Asking for a name the catalog lacks raises QueryError."""
    with pytest.raises(QueryError, match="no catalog query"):
        catalog.statement("nope", DuckDBDialect())


def test_unknown_filter_and_bad_trace_id_are_refused() -> None:
    """Optional filters are checked by type too: a malformed trace id or a stray name fails."""
    window = {"project": 1, "since": 0, "until": 10, "limit": 5}
    with pytest.raises(QueryError, match="'trace_id' must be 32 lowercase hex"):
        catalog.statement("logs.search", DuckDBDialect(), **window, trace_id="XYZ")
    with pytest.raises(QueryError, match="'before_id' goes with 'before_ts'"):
        catalog.statement("logs.search", DuckDBDialect(), **window, before_ts=5)
    with pytest.raises(QueryError, match="'errors' must be true or false"):
        catalog.statement("traces.list", DuckDBDialect(), **window, errors="yes")
