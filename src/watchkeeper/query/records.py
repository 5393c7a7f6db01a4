"""Raw records of any stored kind, newest first, for the read API and exports; and the services
that sent them, for the dashboard's service filters."""

from __future__ import annotations

from watchkeeper.query.clauses import WINDOW, Builder, Params, Query, count, window
from watchkeeper.query.sql import Dialect, Statement
from watchkeeper.store.base import TABLES


def _list(table: str) -> Builder:
    def build(d: Dialect, p: Params) -> Statement:
        return Statement(
            f"SELECT * FROM {table} WHERE {window(d)} ORDER BY ts DESC, id"
            f" LIMIT {d.param('limit')}",
            p,
        )

    return build


def _services(table: str) -> Builder:
    def build(d: Dialect, p: Params) -> Statement:
        return Statement(
            f"SELECT service, count(*) AS count FROM {table} WHERE {window(d)} AND service <> ''"
            f" GROUP BY service ORDER BY count DESC, service LIMIT {d.param('limit')}",
            p,
        )

    return build


QUERIES = tuple(
    query
    for kind, table in TABLES.items()
    for query in (
        Query(
            f"records.list.{kind}",
            f"{kind} records, newest first.",
            (*WINDOW, "limit"),
            _list(table),
        ),
        Query(f"records.count.{kind}", f"{kind} records in the window.", WINDOW, count(table)),
        Query(
            f"records.services.{kind}",
            f"Services that sent {kind} records in the window, busiest first.",
            (*WINDOW, "limit"),
            _services(table),
        ),
    )
)
