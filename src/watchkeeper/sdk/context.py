"""What the SDK knows about "where we are": the current span, in a :class:`contextvars.ContextVar`.

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
