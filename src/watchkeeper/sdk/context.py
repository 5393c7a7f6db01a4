"""What the SDK knows about "where we are": the current span and the bound ids, in ContextVars.

A ContextVar gives each thread its own value (a new thread starts with no current span) and each
asyncio task a copy taken when the task is created, so nesting is right in threaded and async
code alike without locks. Code that hands work to another thread and wants it to join the trace
runs it in ``contextvars.copy_context().run(...)``.

The value is a plain ``(trace_id, span_id)`` tuple of ints: a tuple is the cheapest thing to
build on the app's thread, and the hex the wire wants is made on the background thread.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Final, TypeAlias

SpanIds: TypeAlias = tuple[int, int]
"""``(trace_id, span_id)``: 128-bit and 64-bit ints."""

current_span: Final[ContextVar[SpanIds | None]] = ContextVar("watchkeeper_span", default=None)
"""The innermost open span of this thread or task; ``None`` outside any span."""


def trace_hex(trace_id: int) -> str:
    """A trace id as 32 lowercase hex digits (W3C trace-context)."""
    return f"{trace_id:032x}"


def span_hex(span_id: int) -> str:
    """A span id as 16 lowercase hex digits."""
    return f"{span_id:016x}"


def current_ids() -> tuple[str, str] | None:
    """The current ``(trace_id, span_id)`` in hex, or ``None`` outside a span.

    >>> current_ids() is None
    True
    """
    ids = current_span.get()
    return None if ids is None else (trace_hex(ids[0]), span_hex(ids[1]))


bound_fields: Final[ContextVar[dict[str, str] | None]] = ContextVar(
    "watchkeeper_bound", default=None
)
"""Ids bound to this thread or task (user, session, request) for every record and log line."""


class BoundScope:
    """Returned by :func:`bind`; as a context manager it restores the previous fields on exit."""

    __slots__ = ("_token",)

    def __init__(self, fields: dict[str, str]) -> None:
        self._token = bound_fields.set(fields)

    def __enter__(self) -> BoundScope:
        return self

    def __exit__(self, *exc_info: object) -> None:
        bound_fields.reset(self._token)


def bind(
    *, user_id: str | None = None, session_id: str | None = None, request_id: str | None = None
) -> BoundScope:
    """Bind ids to the current thread or task, on top of those already bound; ``None`` keeps
    the bound value. Use as a statement (until the task or thread ends) or a ``with`` block.

    >>> with bind(user_id="u42"):
    ...     bound()["user_id"]
    'u42'
    """
    fields = dict(bound_fields.get() or {})
    for key, value in (
        ("user_id", user_id),
        ("session_id", session_id),
        ("request_id", request_id),
    ):
        if value is not None:
            fields[key] = str(value)
    return BoundScope(fields)


def bound() -> dict[str, str]:
    """The ids bound here (``user_id``, ``session_id``, ``request_id``), possibly empty."""
    return dict(bound_fields.get() or {})
