"""What the SDK knows about "where we are": the current span and the bound ids, in ContextVars.

A ContextVar gives each thread its own value (a new thread starts with no current span) and each
asyncio task a copy taken when the task is created, so nesting is right in threaded and async
code alike without locks. Code that hands work to another thread and wants it to join the trace
runs it in ``contextvars.copy_context().run(...)``.

The value is a plain ``(trace_id, span_id, otel_context)`` tuple: a tuple is the cheapest thing
to build on the app's thread, and the hex the wire wants is made on the background thread.

OpenTelemetry keeps its own current span, in its own ContextVar (``opentelemetry.context``), and
instrumentations set it with ``trace.use_span`` or ``context.attach``, which we cannot see. So
there are two stacks, and the innermost open span is whichever was opened last. Each of our
entries remembers the OpenTelemetry context that was current when it was opened: while that is
still the current one (the common case: one ``is``), ours is the innermost; otherwise an
OpenTelemetry span was made current inside ours, unless the context only changed for another key
(baggage). :func:`innermost` decides; :data:`BRIDGE` is how ``otel.py`` plugs OpenTelemetry in
without this module importing it.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from typing import Any, Final, TypeAlias

SpanIds: TypeAlias = tuple[int, int, Any]
"""``(trace_id, span_id, otel_context)``: 128-bit and 64-bit ints, and the OpenTelemetry context
current when the span was opened (None while OpenTelemetry is not bridged)."""

OTelIds: TypeAlias = tuple[int, int, int, str]
"""An OpenTelemetry span as ``(trace_id, span_id, trace_flags, tracestate header)``."""

current_span: Final[ContextVar[SpanIds | None]] = ContextVar("watchkeeper_span", default=None)
"""The innermost open span of this thread or task that watchkeeper opened; ``None`` outside any.
Read it through :func:`current_trace` to also see spans that OpenTelemetry made current."""

_unbridged: Final[ContextVar[Any]] = ContextVar("watchkeeper_no_otel", default=None)


class Bridge:
    """How OpenTelemetry's context is seen from here; ``otel.install()`` fills it in.

    ``get`` returns OpenTelemetry's current context (a dict; empty or None when nothing is set);
    ``span_of(context)`` the ids of the span in it, or None; ``attach``, when set, makes each of
    our spans current in OpenTelemetry's context too (needed only when an OpenTelemetry SDK
    tracer, which reads nothing but its own context, must see our spans as parents).
    """

    __slots__ = ("attach", "detach", "get", "span_of")

    def __init__(self) -> None:
        self.get: Callable[[], Any] = _unbridged.get
        self.span_of: Callable[[Any], OTelIds | None] = _no_span
        self.attach: Callable[[int, int], tuple[Any, object]] | None = None
        self.detach: Callable[[object], None] = _no_detach


def _no_span(context: Any) -> None:
    return None


def _no_detach(token: object) -> None:
    return None


BRIDGE: Final = Bridge()


def innermost(ids: SpanIds | None, otel_context: Any) -> tuple[int, int] | None:
    """``(trace_id, span_id)`` of the innermost open span, ours (``ids``) or OpenTelemetry's (in
    ``otel_context``, its current context), or None outside every span."""
    if ids is not None and ids[2] is otel_context:
        return ids[0], ids[1]
    if otel_context:
        found = BRIDGE.span_of(otel_context)
        if found is not None and (ids is None or not ids[2] or BRIDGE.span_of(ids[2]) != found):
            return found[0], found[1]
    return None if ids is None else (ids[0], ids[1])


def current_trace() -> tuple[int, int] | None:
    """``(trace_id, span_id)`` as ints of the innermost open span, ours or OpenTelemetry's."""
    return innermost(current_span.get(), BRIDGE.get())


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
    ids = current_trace()
    return None if ids is None else (trace_hex(ids[0]), span_hex(ids[1]))


bound_fields: Final[ContextVar[dict[str, str] | None]] = ContextVar(
    "watchkeeper_bound", default=None
)
"""Ids bound to this thread or task (user, session, request) for every record and log line."""

request_fields: Final[ContextVar[dict[str, str] | None]] = ContextVar(
    "watchkeeper_request", default=None
)
"""Set by the server middlewares for the length of a request: a dict that :func:`bind` fills
with the user and session ids too. Unlike a ContextVar's value it is shared, so the middleware
sees an id the app bound in a worker thread or a task, and puts it on the request's span."""


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
    *,
    user_id: str | None = None,
    session_id: str | None = None,
    request_id: str | None = None,
    feature: str | None = None,
) -> BoundScope:
    """Bind ids to the current thread or task, on top of those already bound; ``None`` keeps
    the bound value. Use as a statement (until the task or thread ends) or a ``with`` block.
    Inside a request seen by a watchkeeper middleware, the user and session ids also go on the
    request's span, wherever in the request they were bound. ``feature`` names the product
    feature the work serves (``"summarise"``): LLM calls made meanwhile carry it as their
    ``feature`` attribute, so cost and errors group by feature.

    >>> with bind(user_id="u42"):
    ...     bound()["user_id"]
    'u42'
    """
    fields = dict(bound_fields.get() or {})
    for key, value in (
        ("user_id", user_id),
        ("session_id", session_id),
        ("request_id", request_id),
        ("feature", feature),
    ):
        if value is not None:
            fields[key] = str(value)
    request = request_fields.get()
    if request is not None:
        if user_id is not None:
            request["user_id"] = str(user_id)
        if session_id is not None:
            request["session_id"] = str(session_id)
    return BoundScope(fields)


def bound() -> dict[str, str]:
    """The ids bound here (``user_id``, ``session_id``, ``request_id``, ``feature``), possibly
    empty."""
    return dict(bound_fields.get() or {})
