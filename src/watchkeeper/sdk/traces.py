"""Spans: ``span()`` and ``@trace``, and the lean engine behind them and the integrations.

Ids come from :func:`random.getrandbits` (W3C sizes: 128-bit trace, 64-bit span), the parent
from the context (:mod:`watchkeeper.sdk.context`, which also sees OpenTelemetry's current span),
``ts`` from :func:`time.time_ns` and the duration from :func:`time.perf_counter_ns`, which is
monotonic, so a clock step does not bend a duration. The app's thread only builds a tuple; the
record, its hex ids and its attributes are made on the batcher's thread (``_build_span``).
OpenTelemetry's API (``otel.py``) records through the same client and into the same records.
"""

from __future__ import annotations

import functools
import inspect
import traceback
from collections.abc import Callable, Mapping
from random import getrandbits
from time import perf_counter_ns, time_ns
from types import TracebackType
from typing import Any, Final, TypeVar, cast, overload

from watchkeeper.records import MAX_ATTRIBUTES, AttributeValue, Span, SpanKind, SpanStatus
from watchkeeper.sdk.batcher import Item
from watchkeeper.sdk.client import DEFAULT, Client, flatten, record_name
from watchkeeper.sdk.context import (
    BRIDGE,
    SpanIds,
    bound_fields,
    current_span,
    innermost,
    span_hex,
    trace_hex,
)

F = TypeVar("F", bound=Callable[..., Any])

_MAX_MESSAGE: Final = 65_536
_MAX_ID: Final = 256
_STATUSES: Final = frozenset({"unset", "ok", "error"})
_KINDS: Final = frozenset({"internal", "server", "client", "producer", "consumer"})
_UNSET: Final[tuple[str, str, Any]] = ("unset", "", None)
"""A span's outcome until told otherwise: ``(status, message, (exception, traceback) | None)``."""


class SpanScope:
    """An open-able span: a context manager, and a decorator that opens a new span per call.

    One instance is one span at a time; as a decorator it makes a fresh one for every call,
    so decorated functions may run concurrently.
    """

    __slots__ = (
        "_client",
        "_outcome",
        "_state",
        "_t0",
        "_trace_id",
        "attributes",
        "kind",
        "name",
    )

    def __init__(
        self,
        name: str,
        attributes: dict[str, object],
        client: Client | None,
        kind: SpanKind = "internal",
    ) -> None:
        self.name = name
        self.attributes = attributes
        self.kind = kind
        self._client = client
        self._trace_id = 0
        self._outcome = _UNSET

    def set_attribute(self, key: str, value: object) -> None:
        """Add or change an attribute; dotted keys are fine (``gen_ai.usage.input_tokens``)."""
        self.attributes[key] = value

    def set_attributes(self, attributes: Mapping[str, object]) -> None:
        """Add or change several attributes."""
        self.attributes.update(attributes)

    def set_status(self, status: SpanStatus, message: str = "") -> None:
        """Set ``"ok"``, ``"error"`` (with a message) or ``"unset"``; an exception that leaves
        the block sets ``"error"`` by itself."""
        if status not in _STATUSES:
            raise ValueError(f"status must be one of {sorted(_STATUSES)}, not {status!r}")
        text = str(message)[:_MAX_MESSAGE] if status == "error" else ""
        self._outcome = (status, text, self._outcome[2])

    def record_exception(self, exception: BaseException) -> None:
        """Put an exception you handled on the span (``exception.type``, ``.message`` and
        ``.stacktrace`` attributes) without changing its status."""
        status, message, _ = self._outcome
        self._outcome = (status, message, (exception, exception.__traceback__))

    @property
    def status(self) -> SpanStatus:
        """``"unset"`` unless :meth:`set_status` said otherwise."""
        return cast(SpanStatus, self._outcome[0])

    @property
    def trace_id(self) -> str | None:
        """This span's trace id in hex while it is open and recorded; else None."""
        return trace_hex(self._trace_id) if self._trace_id else None

    @property
    def span_id(self) -> str | None:
        """This span's id in hex while it is open and recorded; else None."""
        return span_hex(self._state[2]) if self._trace_id else None

    def __enter__(self) -> SpanScope:
        client = self._client or DEFAULT.client
        if client is None:
            return self
        try:
            bridge = BRIDGE
            otel_context = bridge.get()
            parent: SpanIds | tuple[int, int] | None = current_span.get()
            if parent is not None and parent[2] is otel_context:  # type: ignore[misc]
                pass  # ours is the innermost: the common case, no OpenTelemetry in between
            elif parent is not None or otel_context:
                parent = innermost(parent, otel_context)  # type: ignore[arg-type]
            # 0 is the W3C "invalid" id; the odds are 2**-64, the `or` costs nothing.
            span_id = getrandbits(64) or 1
            if parent is None:
                trace_id = getrandbits(128) or 1
                parent_id = None
            else:
                trace_id, parent_id = parent[0], parent[1]
            otel_token = None
            if bridge.attach is not None:
                otel_context, otel_token = bridge.attach(trace_id, span_id)
            # One tuple rather than six attributes: fewer stores here and loads on exit.
            self._state = (
                client,
                current_span.set((trace_id, span_id, otel_context)),
                span_id,
                parent_id,
                time_ns(),
                otel_token,
            )
            self._trace_id = trace_id
            self._t0 = perf_counter_ns()
        except Exception:
            self._trace_id = 0
            client.count_failure()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        duration = perf_counter_ns() - self._t0 if self._trace_id else 0
        trace_id = self._trace_id
        if not trace_id:
            return
        self._trace_id = 0
        client, token, span_id, parent_id, start_ns, otel_token = self._state
        try:  # noqa: SIM105 - contextlib.suppress costs ~0.3 µs here, on the app's thread
            current_span.reset(token)
        except (ValueError, RuntimeError):
            # Exited in another context than it was entered in (a generator resumed by another
            # task), or after detach(): there is nothing of ours left to undo.
            pass
        if otel_token is not None:
            BRIDGE.detach(otel_token)
        try:
            client.enqueue(
                (
                    _build_span,
                    self.name,
                    start_ns,
                    duration,
                    trace_id,
                    span_id,
                    parent_id,
                    self.attributes,
                    self.kind,
                    bound_fields.get(),
                    # The message and stack trace are made on the batcher's thread.
                    self._outcome if exc is None else ("error", None, (exc, traceback)),
                )
            )
        except Exception:
            client.count_failure()
        # Returning None lets the app's exception propagate unchanged.

    def detach(self) -> None:
        """Give the context back as it was before the span opened, leaving the span open until
        ``__exit__``, which may then run elsewhere (a WSGI body read after the app returned)."""
        if self._trace_id:
            client, token, span_id, parent_id, start_ns, otel_token = self._state
            self._state = (client, token, span_id, parent_id, start_ns, None)
            current_span.reset(token)
            if otel_token is not None:
                BRIDGE.detach(otel_token)

    def __call__(self, func: F) -> F:
        name, attributes, client, kind = self.name, self.attributes, self._client, self.kind
        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def run_async(*args: Any, **kwargs: Any) -> Any:
                with SpanScope(name, dict(attributes), client, kind):
                    return await func(*args, **kwargs)

            return cast(F, run_async)

        @functools.wraps(func)
        def run(*args: Any, **kwargs: Any) -> Any:
            with SpanScope(name, dict(attributes), client, kind):
                return func(*args, **kwargs)

        return cast(F, run)


def span(
    name: str,
    *,
    span_kind: SpanKind = "internal",
    client: Client | None = None,
    **attributes: object,
) -> SpanScope:
    """Time a block (``with``) or every call of a function (decorator, sync or ``async def``)
    as a span. Spans opened inside it become its children, OpenTelemetry ones included; an
    exception marks it ``status="error"`` and propagates unchanged. The ids bound with
    :func:`~watchkeeper.bind` give the span its ``user_id`` and ``session_id``. On a generator
    function the span would time only the creation of the generator: use ``with`` around the
    loop instead.

    >>> with span("llm.chat", **{"gen_ai.request.model": "gpt-4o"}) as s:
    ...     s.set_attribute("gen_ai.usage.output_tokens", 42)
    >>> @span("retrieve", k=5)
    ... async def retrieve(query: str) -> list[str]: ...
    """
    if span_kind != "internal" and span_kind not in _KINDS:
        raise ValueError(f"span_kind must be one of {sorted(_KINDS)}, not {span_kind!r}")
    return SpanScope(name, attributes, client, span_kind)


@overload
def trace(func: F, /) -> F: ...
@overload
def trace(
    *,
    name: str | None = None,
    span_kind: SpanKind = "internal",
    client: Client | None = None,
    **attributes: object,
) -> Callable[[F], F]: ...
def trace(
    func: F | None = None,
    /,
    *,
    name: str | None = None,
    span_kind: SpanKind = "internal",
    client: Client | None = None,
    **attributes: object,
) -> F | Callable[[F], F]:
    """Decorate a function (sync or ``async def``) to record each call as a span named by its
    qualified name (``Class.method``), or by ``name``.

    >>> @trace
    ... def answer(question: str) -> str: ...
    >>> @trace(span_kind="client", **{"gen_ai.system": "openai"})
    ... async def complete(prompt: str) -> str: ...
    """

    def decorate(function: F) -> F:
        title = name or getattr(function, "__qualname__", None) or repr(function)
        return span(title, span_kind=span_kind, client=client, **attributes)(function)

    return decorate if func is None else decorate(func)


def _describe(exc: BaseException) -> str:
    try:
        text = str(exc)
    except Exception:
        text = ""
    name = type(exc).__qualname__
    return (f"{name}: {text}" if text else name)[:_MAX_MESSAGE]


def exception_attributes(
    error: BaseException, tb: TracebackType | None
) -> dict[str, AttributeValue]:
    """The OpenTelemetry ``exception.*`` attributes of an exception (semantic conventions:
    exceptions on spans), the stack trace as Python prints it, cut to 64 KiB."""
    kind = type(error)
    module = kind.__module__
    name = kind.__qualname__ if module == "builtins" else f"{module}.{kind.__qualname__}"
    try:
        message = str(error)
    except Exception:
        message = ""
    try:
        stack = "".join(traceback.format_exception(kind, error, tb))
    except Exception:
        stack = ""
    return {
        "exception.type": name,
        "exception.message": message[:_MAX_MESSAGE],
        "exception.stacktrace": stack[-_MAX_MESSAGE:],
    }


def merge_attributes(
    attributes: dict[str, AttributeValue], extra: Mapping[str, AttributeValue]
) -> dict[str, AttributeValue]:
    """``attributes`` with ``extra`` added, staying within the contract's 128 attributes."""
    for key, value in extra.items():
        if key in attributes or len(attributes) < MAX_ATTRIBUTES:
            attributes[key] = value
    return attributes


def _build_span(item: Item, record_id: str) -> Span:
    # Runs on the batcher's thread for every span: written for speed (it bounds how many
    # spans/s a process can send), so fields at their default are left to the struct.
    _, name, start_ns, duration, trace_id, span_id, parent, attributes, kind, bound, outcome = item
    fields = attribute_fields(attributes) if attributes else {}
    record = Span(
        id=record_id,
        ts=start_ns,
        name=name if type(name) is str and 0 < len(name) <= _MAX_ID else record_name(name),
        # to_bytes().hex() is ~40 % faster than f"{id:032x}" for ints this large.
        trace_id=trace_id.to_bytes(16, "big").hex(),
        span_id=span_id.to_bytes(8, "big").hex(),
        parent_span_id=None if parent is None else parent.to_bytes(8, "big").hex(),
        duration_ns=duration,
        attributes=fields,
    )
    if kind != "internal":
        record.span_kind = kind
    if outcome is not _UNSET:
        status, message, error = outcome
        if error is not None:
            merge_attributes(fields, exception_attributes(*error))
            if message is None:
                message = _describe(error[0])
        record.status, record.status_message = status, message
    if bound or "user.id" in fields or "session.id" in fields:
        record.user_id, record.session_id = user_ids(fields, bound)
    return record


_SCALARS: Final = frozenset({str, int, float, bool, type(None)})


def attribute_fields(attributes: Mapping[object, object]) -> dict[str, AttributeValue]:
    """Attributes as the record takes them: a copy when they are already flat scalars within
    the contract's limits (the common case, checked fast), else :func:`flatten`'s work."""
    if len(attributes) <= MAX_ATTRIBUTES:
        for key, value in attributes.items():
            kind = type(value)
            if (
                kind not in _SCALARS
                or type(key) is not str
                or len(key) > _MAX_ID
                or (kind is str and len(value) > _MAX_MESSAGE)  # type: ignore[arg-type]
            ):
                return flatten(attributes)
        return dict(attributes)  # type: ignore[arg-type]
    return flatten(attributes)


def user_ids(attributes: Mapping[str, object], bound: Mapping[str, str] | None) -> tuple[str, str]:
    """A span's ``user_id`` and ``session_id``: its ``user.id``/``session.id`` attributes (the
    semantic conventions' names), else the ids bound when it ended."""
    user = attributes.get("user.id") or (bound.get("user_id") if bound else None) or ""
    session = attributes.get("session.id") or (bound.get("session_id") if bound else None) or ""
    return str(user)[:_MAX_ID], str(session)[:_MAX_ID]
