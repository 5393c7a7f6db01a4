"""Dialects: the few SQL spellings that differ between engines, so catalog queries are written once.

A catalog query asks its dialect for placeholders, time buckets, quantiles and the like; adding
ClickHouse means adding a dialect class here and schema files under store/schema/, not touching
a caller.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class Statement:
    """SQL with named parameters, ready for a store to execute."""

    sql: str
    params: Mapping[str, Any] = field(default_factory=dict)


class Dialect(Protocol):
    name: str

    def param(self, name: str) -> str:
        """The placeholder for the named parameter ``name``."""

    def bucket(self, column: str, width: str) -> str:
        """``column`` (integer ns) floored to a multiple of ``width`` (an expression, ns)."""

    def quantile(self, column: str, q: float) -> str:
        """The interpolated ``q`` quantile of ``column`` within the group."""

    def arg_min(self, value: str, key: str) -> str:
        """``value`` of the row with the smallest ``key`` in the group."""

    def arg_max(self, value: str, key: str) -> str:
        """``value`` of the row with the largest ``key`` in the group."""

    def contains(self, column: str, param: str) -> str:
        """True when ``column`` contains the text of parameter ``param``, ignoring case."""


class DuckDBDialect:
    """DuckDB: ``$name`` parameters, exact interpolated quantiles (fast enough at 10M rows)."""

    name = "duckdb"

    def param(self, name: str) -> str:
        return f"${name}"

    def bucket(self, column: str, width: str) -> str:
        return f"(({column} // {width}) * {width})"

    def quantile(self, column: str, q: float) -> str:
        return f"quantile_cont({column}, {q!r})"

    def arg_min(self, value: str, key: str) -> str:
        return f"arg_min({value}, {key})"

    def arg_max(self, value: str, key: str) -> str:
        return f"arg_max({value}, {key})"

    def contains(self, column: str, param: str) -> str:
        # contains() matches literally: no LIKE wildcards to escape in the user's text.
        return f"contains(lower({column}), lower(${param}))"
