"""The Store protocol: the one door to the telemetry database, whatever engine is behind it.

Tables are per record kind; their columns are declared here once (:data:`COLUMNS`) so every store
and the query catalog agree on them. Only ``store/`` modules import a database driver.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final, NamedTuple, Protocol

from watchkeeper.query.sql import Dialect, Statement
from watchkeeper.records import Record

TABLES: Final[dict[str, str]] = {
    "event": "events",
    "span": "spans",
    "log": "logs",
    "metric": "metrics",
    "error": "errors",
}
"""Record kinds this server stores, and their tables. Kinds not listed are refused at ingest."""

COMMON_COLUMNS: Final = (
    "project", "id", "ts", "service", "environment", "release", "trace_id", "span_id",
    "user_id", "session_id", "attributes",
)  # fmt: skip

DERIVED: Final[dict[str, dict[str, tuple[str, ...]]]] = {
    "span": {
        "http_method": ("http.request.method", "http.method"),
        "http_route": ("http.route",),
        "http_status_code": ("http.response.status_code", "http.status_code"),
        # LLM calls: llm/usage.py has already mapped other instrumentations' names onto these.
        "gen_ai_operation": ("gen_ai.operation.name",),
        "gen_ai_provider": ("gen_ai.provider.name",),
        "gen_ai_request_model": ("gen_ai.request.model",),
        "gen_ai_response_model": ("gen_ai.response.model",),
        "gen_ai_input_tokens": ("gen_ai.usage.input_tokens",),
        "gen_ai_output_tokens": ("gen_ai.usage.output_tokens",),
        "gen_ai_cache_read_tokens": ("gen_ai.usage.cache_read.input_tokens",),
        "gen_ai_cache_write_tokens": ("gen_ai.usage.cache_write.input_tokens",),
        "gen_ai_reasoning_tokens": ("gen_ai.usage.reasoning.output_tokens",),
        "gen_ai_ttft_s": ("gen_ai.response.time_to_first_chunk",),
        "gen_ai_error_type": ("error.type",),
        "gen_ai_cost_usd": ("gen_ai.usage.cost",),
        "gen_ai_cost_source": ("watchkeeper.cost_source",),
        "feature": ("feature",),
    },
}
"""Columns filled from a record's attributes at write time, so pages group by them without
parsing JSON: column -> attribute keys, current OpenTelemetry name first, older names after."""

COLUMNS: Final[dict[str, tuple[str, ...]]] = {
    "event": (*COMMON_COLUMNS, "name"),
    "span": (
        *COMMON_COLUMNS, "name", "parent_span_id", "span_kind", "status", "status_message",
        "duration_ns", *DERIVED["span"],
    ),
    "log": (*COMMON_COLUMNS, "body", "severity_text", "severity_number", "logger"),
    "metric": (*COMMON_COLUMNS, "name", "type", "value", "unit", "count", "sum", "buckets"),
    "error": (
        *COMMON_COLUMNS, "type", "message", "level", "handled", "frames", "fingerprint",
        "breadcrumbs", "issue_id",
    ),
}  # fmt: skip

JSON_COLUMNS: Final = frozenset({"attributes", "buckets", "frames", "fingerprint", "breadcrumbs"})
"""Columns holding JSON text in the database and Python values in rows."""

Entry = tuple[int, Sequence[Record]]
"""A project id and records for it, as one ingest request delivered them."""


class CostUpdate(NamedTuple):
    """A stored LLM call's new cost (llm/reprice.py): None when it has no price."""

    project: int
    id: str
    ts: int
    cost_usd: float | None
    cost_source: str


class StoreBusyError(RuntimeError):
    """The store's file is held by another process (a running server)."""


class Store(Protocol):
    """Telemetry storage. Implementations: :class:`watchkeeper.store.duckdb.DuckDBStore`."""

    dialect: Dialect

    def migrate(self) -> None:
        """Bring the schema up to date (idempotent)."""

    def write(self, entries: Sequence[Entry]) -> int:
        """Store every record of ``entries`` in one transaction and return how many rows were
        new. Idempotent on (project, kind, id): a record seen before is not stored again."""

    def query(self, statement: Statement) -> list[dict[str, Any]]:
        """Run a catalog statement and return its rows as dicts (JSON columns decoded)."""

    def delete_before(self, kind: str, ts: int) -> int:
        """Delete the records of ``kind`` older than ``ts`` (ns); return how many went."""

    def repriceable_spans(
        self,
        *,
        project: int | None,
        since: int | None,
        until: int | None,
        after: tuple[int, int, str] | None,
        limit: int,
    ) -> list[dict[str, Any]]:
        """Up to ``limit`` LLM calls whose cost was not reported (cost source ``computed`` or
        ``unpriced``) in ``project`` (all when None) with ``since <= ts < until`` (either open),
        ordered by (ts, project, id) and after ``after`` in that order: their project, id, ts,
        attributes, gen_ai_cost_usd and gen_ai_cost_source."""

    def set_span_costs(self, updates: Sequence[CostUpdate]) -> int:
        """Set the cost columns of these spans and their ``gen_ai.usage.cost`` (removed when
        None) and ``watchkeeper.cost_source`` attributes, in one transaction; return how many
        rows changed."""

    def close(self) -> None:
        """Release the database."""
