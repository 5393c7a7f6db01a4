"""What every catalog query is made of: the :class:`Query` record and the SQL clauses queries
share (the project/time window, optional filters, latency percentiles), written once against a
:class:`~watchkeeper.query.sql.Dialect`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from watchkeeper.query.sql import Dialect, Statement

Params = Mapping[str, Any]
Builder = Callable[[Dialect, Params], Statement]

WINDOW: Final = ("project", "since", "until")
"""The parameters of almost every query: one project, ``since <= ts < until`` (ns)."""


@dataclass(frozen=True)
class Query:
    """A named question: its parameters (required ones listed; optional filters are checked by
    name in catalog.py) and the builder of its SQL."""

    name: str
    help: str
    params: tuple[str, ...]
    build: Builder


def window(d: Dialect) -> str:
    """``project = :project AND ts >= :since AND ts < :until``."""
    return (
        f"project = {d.param('project')} AND ts >= {d.param('since')} AND ts < {d.param('until')}"
    )


def equal(d: Dialect, p: Params, *names: str) -> str:
    """`` AND column = :column`` for each of ``names`` present in ``p`` (optional filters)."""
    return "".join(f" AND {name} = {d.param(name)}" for name in names if p.get(name) is not None)


def latency(d: Dialect, column: str = "duration_ns") -> str:
    """p50/p95/p99 of ``column`` as ``p50_ns, p95_ns, p99_ns``."""
    return ", ".join(
        f"{d.quantile(column, q)} AS {label}"
        for q, label in ((0.5, "p50_ns"), (0.95, "p95_ns"), (0.99, "p99_ns"))
    )


def count(table: str) -> Builder:
    """``SELECT count(*) AS count`` over ``table`` in the window."""

    def build(d: Dialect, p: Params) -> Statement:
        return Statement(f"SELECT count(*) AS count FROM {table} WHERE {window(d)}", p)

    return build
