"""The OpenTelemetry API, recorded by watchkeeper: every ``opentelemetry-instrumentation-*``
package, FastAPI's own telemetry and ``trace.get_tracer(...)`` spans become our span records.

:func:`install` (run by ``watchkeeper.init()``) makes :class:`TracerProvider` the global one,
unless the app set up an OpenTelemetry SDK provider first: that one stays, and gets
:func:`span_processor`, which turns its finished spans into our records as well. Either way our
spans and OpenTelemetry's nest in both directions (see :mod:`watchkeeper.sdk.context`).

Our tracer keeps a span as little more than its fields and hands it to the client when it ends;
the record is built on the batcher's thread, like a ``watchkeeper.span``. There is no sampler: a
span is recorded whatever the caller's sampled flag, which is passed on unchanged.
"""

from __future__ import annotations

import contextlib
import logging
import weakref
from collections.abc import Callable, Mapping, Sequence
from contextvars import ContextVar
from random import getrandbits
from time import perf_counter_ns, time_ns
from types import TracebackType
from typing import Any, Final, Literal, TypeVar, cast

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.util import types

from watchkeeper.records import AttributeValue, SpanStatus
from watchkeeper.records import Span as SpanRecord
from watchkeeper.records import SpanKind as RecordKind
from watchkeeper.sdk.batcher import Item
from watchkeeper.sdk.client import DEFAULT, Client, flatten, record_name
from watchkeeper.sdk.context import BRIDGE, OTelIds, bound_fields, current_span, span_hex, trace_hex
from watchkeeper.sdk.propagation import current_context, remote_context
from watchkeeper.sdk.traces import exception_attributes, merge_attributes, user_ids

logger = logging.getLogger("watchkeeper")

F = TypeVar("F", bound=Callable[..., Any])

_KINDS: Final[dict[SpanKind, RecordKind]] = {
    SpanKind.INTERNAL: "internal",
    SpanKind.SERVER: "server",
    SpanKind.CLIENT: "client",
    SpanKind.PRODUCER: "producer",
    SpanKind.CONSUMER: "consumer",
}
_STATUSES: Final[dict[StatusCode, SpanStatus]] = {
    StatusCode.UNSET: "unset",
    StatusCode.OK: "ok",
    StatusCode.ERROR: "error",
}
_OWN_FLAGS: Final = 0x03  # sampled, and a random trace id (W3C Trace Context Level 2)


class Span(trace.Span):
    """A span of our :class:`Tracer`: recording until :meth:`end`, then handed to the client."""

    def __init__(
        self,
        client: Client,
        name: str,
        ids: tuple[int, int, int | None],
        kind: SpanKind,
        attributes: types.Attributes,
        trace_flags: tuple[int, str],
        start_time: int | None,
        scope: tuple[str, str | None],
        record_exception: bool = True,
        set_status_on_exception: bool = True,
    ) -> None:
        self.trace_id, self.span_id, self.parent_id = ids
        self.flags, self.tracestate = trace_flags
        self.name = name
        self.kind: RecordKind = _KINDS.get(kind, "internal")
        self.attributes: dict[str, object] = dict(attributes) if attributes else {}
        self.scope = scope
        self.status: SpanStatus = "unset"
        self.status_message = ""
        self.errors: list[tuple[BaseException, TracebackType | None]] = []
        self._client = client
        self._context: trace.SpanContext | None = None
        self._record_exception = record_exception
        self._set_status_on_exception = set_status_on_exception
        self._ended = False
        self.start_ns = time_ns() if start_time is None else start_time
        self._t0 = perf_counter_ns() if start_time is None else None

    def get_span_context(self) -> trace.SpanContext:
        if self._context is None:
            state = self.tracestate
            self._context = trace.SpanContext(
                self.trace_id,
                self.span_id,
                is_remote=False,
                trace_flags=trace.TraceFlags(self.flags),
                trace_state=trace.TraceState.from_header([state]) if state else None,
            )
        return self._context

    def is_recording(self) -> bool:
        return not self._ended

    def set_attributes(self, attributes: Mapping[str, types.AttributeValue]) -> None:
        if not self._ended:
            self.attributes.update(attributes)

    def set_attribute(self, key: str, value: types.AttributeValue) -> None:
        if not self._ended:
            self.attributes[key] = value

    def add_event(
        self, name: str, attributes: types.Attributes = None, timestamp: int | None = None
    ) -> None:
        # Records have attributes, not events: an event's attributes go in under its name
        # (an "exception" event becomes the exception.* attributes, as record_exception).
        if not self._ended:
            prefix = f"event.{name}"
            self.attributes[prefix] = True
            for key, value in (attributes or {}).items():
                self.attributes[f"{prefix}.{key}"] = value

    def update_name(self, name: str) -> None:
        if not self._ended:
            self.name = name

    def set_status(self, status: Status | StatusCode, description: str | None = None) -> None:
        # The API's rules: UNSET changes nothing and OK is final.
        if self._ended or self.status == "ok":
            return
        if isinstance(status, Status):
            code, description = status.status_code, status.description
        else:
            code = status
        if code is StatusCode.UNSET:
            return
        self.status = _STATUSES[code]
        self.status_message = (description or "") if code is StatusCode.ERROR else ""

    def record_exception(
        self,
        exception: BaseException,
        attributes: types.Attributes = None,
        timestamp: int | None = None,
        escaped: bool = False,
    ) -> None:
        if not self._ended:
            self.errors.append((exception, exception.__traceback__))

    def end(self, end_time: int | None = None) -> None:
        if self._ended:
            return
        self._ended = True
        if end_time is not None:
            duration = end_time - self.start_ns
        elif self._t0 is None:
            duration = time_ns() - self.start_ns
        else:
            duration = perf_counter_ns() - self._t0
        try:
            self._client.enqueue((_build_span, self, max(0, duration), bound_fields.get()))
        except Exception:
            self._client.count_failure()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_val: BaseException | None,
        exc_tb: TracebackType | None,
    ) -> None:
        if exc_val is not None and not self._ended:
            _fail(self, exc_val, self._record_exception, self._set_status_on_exception)
        self.end()


def _fail(span: trace.Span, exc: BaseException, record: bool, set_status: bool) -> None:
    if record:
        span.record_exception(exc)
    if set_status:
        span.set_status(Status(StatusCode.ERROR, f"{type(exc).__qualname__}: {exc}"))


class Tracer(trace.Tracer):
    """Starts :class:`Span` s whose parent is the innermost open span, ours or OpenTelemetry's,
    unless a ``context`` says otherwise."""

    def __init__(self, provider: TracerProvider, name: str, version: str | None) -> None:
        self._provider = provider
        self._scope = (name, version)

    def start_span(
        self,
        name: str,
        context: otel_context.Context | None = None,
        kind: SpanKind = SpanKind.INTERNAL,
        attributes: types.Attributes = None,
        links: trace._Links = None,
        start_time: int | None = None,
        record_exception: bool = True,
        set_status_on_exception: bool = True,
    ) -> trace.Span:
        # A context that is the current one (some instrumentations pass it) must still see
        # our spans, which are not in it.
        parent: OTelIds | None
        if context is not None and context is not BRIDGE.get():
            parent = _span_of(context)
        else:
            remote = current_context()
            parent = None if remote is None else _ids(remote)
        client = self._provider.client or DEFAULT.client
        if client is None:
            if parent is None:
                return trace.INVALID_SPAN
            return trace.NonRecordingSpan(_span_context(parent))
        span_id = getrandbits(64) or 1
        ids: tuple[int, int, int | None]
        if parent is None:
            ids, flags = (getrandbits(128) or 1, span_id, None), (_OWN_FLAGS, "")
        else:
            ids, flags = (parent[0], span_id, parent[1]), (parent[2], parent[3])
        return Span(
            client,
            name,
            ids,
            kind,
            attributes,
            flags,
            start_time,
            self._scope,
            record_exception,
            set_status_on_exception,
        )

    def start_as_current_span(  # type: ignore[override]
        self,
        name: str,
        context: otel_context.Context | None = None,
        kind: SpanKind = SpanKind.INTERNAL,
        attributes: types.Attributes = None,
        links: trace._Links = None,
        start_time: int | None = None,
        record_exception: bool = True,
        set_status_on_exception: bool = True,
        end_on_exit: bool = True,
    ) -> CurrentSpan:
        return CurrentSpan(
            self,
            (name, context, kind, attributes, links, start_time, False, False),
            (record_exception, set_status_on_exception, end_on_exit),
        )


class CurrentSpan:
    """What ``start_as_current_span`` returns: a context manager that makes the span current
    (in OpenTelemetry's context and in ours) and a decorator, for sync and async functions."""

    __slots__ = ("_args", "_flags", "_span", "_tokens", "_tracer")

    def __init__(self, tracer: Tracer, args: tuple[Any, ...], flags: tuple[bool, ...]) -> None:
        self._tracer, self._args, self._flags = tracer, args, flags

    def __enter__(self) -> trace.Span:
        span = self._span = self._tracer.start_span(*self._args)
        context = trace.set_span_in_context(span)
        token = otel_context.attach(context)
        ids = span.get_span_context()
        # Ours too, so that code reading only watchkeeper's context (a track() call) sees it.
        self._tokens = (token, current_span.set((ids.trace_id, ids.span_id, context)))
        return span

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        span, (token, ours) = self._span, self._tokens
        record_exception, set_status, end_on_exit = self._flags
        if exc is not None and span.is_recording():
            _fail(span, exc, record_exception, set_status)
        with contextlib.suppress(ValueError):  # exited in another context (a generator)
            current_span.reset(ours)
        otel_context.detach(token)
        if end_on_exit:
            span.end()

    def __call__(self, func: F) -> F:
        import functools  # noqa: PLC0415 - only decorators need it
        import inspect  # noqa: PLC0415

        tracer, args, flags = self._tracer, self._args, self._flags
        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def run_async(*a: Any, **k: Any) -> Any:
                with CurrentSpan(tracer, args, flags):
                    return await func(*a, **k)

            return cast(F, run_async)

        @functools.wraps(func)
        def run(*a: Any, **k: Any) -> Any:
            with CurrentSpan(tracer, args, flags):
                return func(*a, **k)

        return cast(F, run)


class TracerProvider(trace.TracerProvider):
    """OpenTelemetry's entry point, recording to ``client`` (by default the process default
    client of the moment, so a later ``watchkeeper.init()`` takes effect)."""

    def __init__(self, client: Client | None = None) -> None:
        self.client = client
        self._tracers: dict[tuple[str, str | None], Tracer] = {}
        _bridge(attach=False)

    def get_tracer(
        self,
        instrumenting_module_name: str,
        instrumenting_library_version: str | None = None,
        schema_url: str | None = None,
        attributes: types.Attributes = None,
    ) -> trace.Tracer:
        key = (instrumenting_module_name, instrumenting_library_version)
        tracer = self._tracers.get(key)
        if tracer is None:
            tracer = self._tracers[key] = Tracer(self, *key)
        return tracer


_attached: weakref.WeakSet[object] = weakref.WeakSet()


def install(client: Client | None = None) -> Literal["provider", "processor", "other"]:
    """Route OpenTelemetry into watchkeeper; ``watchkeeper.init()`` calls it. Returns
    ``"provider"`` when ours is (now) the global provider, ``"processor"`` when the app's
    OpenTelemetry SDK provider got our span processor, ``"other"`` when the global provider is
    neither (ours then only read its context). Set the app's SDK provider up *before*
    ``init()``: OpenTelemetry lets the global provider be set only once.
    """
    current = trace.get_tracer_provider()
    if isinstance(current, trace.ProxyTracerProvider):
        provider = TracerProvider(client)
        trace.set_tracer_provider(provider)
        current = trace.get_tracer_provider()  # another thread may have won the race
    if isinstance(current, TracerProvider):
        return "provider"
    add = getattr(current, "add_span_processor", None)
    if callable(add):
        if current not in _attached:
            add(span_processor(client))
            _attached.add(current)
        _bridge(attach=True)
        return "processor"
    _bridge(attach=False)
    logger.info("watchkeeper: OpenTelemetry provider %r left alone", type(current).__name__)
    return "other"


def span_processor(client: Client | None = None) -> Any:
    """An OpenTelemetry SDK ``SpanProcessor`` that records the finished spans of an SDK
    ``TracerProvider`` (``provider.add_span_processor(...)``); :func:`install` adds it."""
    from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor  # noqa: PLC0415 - SDK optional

    class WatchkeeperSpanProcessor(SpanProcessor):
        def on_end(self, span: ReadableSpan) -> None:
            recorder = client or DEFAULT.client
            if recorder is not None:
                try:
                    recorder.enqueue((_build_readable, span, bound_fields.get()))
                except Exception:
                    recorder.count_failure()

        def force_flush(self, timeout_millis: int = 30_000) -> bool:
            recorder = client or DEFAULT.client
            return recorder is None or recorder.flush(timeout_millis / 1000)

    return WatchkeeperSpanProcessor()


# -- the bridge: our context sees OpenTelemetry's ------------------------------------------


def _bridge(*, attach: bool) -> None:
    runtime = getattr(otel_context, "_RUNTIME_CONTEXT", None)
    var = getattr(runtime, "_current_context", None)
    # OpenTelemetry's default runtime context is one ContextVar; reading it directly costs
    # ~15 ns against ~55 ns through get_current(), on every watchkeeper.span.
    BRIDGE.get = var.get if isinstance(var, ContextVar) else otel_context.get_current
    BRIDGE.span_of = _span_of
    if attach:
        BRIDGE.detach = otel_context.detach  # type: ignore[assignment]
        BRIDGE.attach = _attach


def _span_of(context: Any) -> OTelIds | None:
    span = trace.get_current_span(context)
    if isinstance(span, Span):
        return span.trace_id, span.span_id, span.flags, span.tracestate
    found = span.get_span_context()
    if not found.is_valid:
        return None
    return found.trace_id, found.span_id, found.trace_flags, found.trace_state.to_header()


def _attach(trace_id: int, span_id: int) -> tuple[Any, object]:
    remote = remote_context.get()
    flags, state = _OWN_FLAGS, ""
    if remote is not None and remote.trace_id == trace_id:
        flags, state = remote.flags, remote.tracestate
    span = trace.NonRecordingSpan(_span_context((trace_id, span_id, flags, state)))
    context = trace.set_span_in_context(span)
    return context, otel_context.attach(context)


def _ids(remote: Any) -> OTelIds:
    return remote.trace_id, remote.span_id, remote.flags, remote.tracestate


def _span_context(ids: OTelIds) -> trace.SpanContext:
    trace_id, span_id, flags, state = ids
    return trace.SpanContext(
        trace_id,
        span_id,
        is_remote=False,
        trace_flags=trace.TraceFlags(flags),
        trace_state=trace.TraceState.from_header([state]) if state else None,
    )


# -- records, built on the batcher's thread -------------------------------------------------


def _attributes(
    attributes: Mapping[object, object],
    errors: Sequence[tuple[BaseException, TracebackType | None]],
    scope: tuple[str, str | None],
) -> dict[str, AttributeValue]:
    fields = flatten(attributes) if attributes else {}
    for error in errors:
        merge_attributes(fields, exception_attributes(*error))
    name, version = scope
    extra: dict[str, AttributeValue] = {"otel.scope.name": name}
    if version:
        extra["otel.scope.version"] = version
    return merge_attributes(fields, extra)


def _build_span(item: Item, record_id: str) -> SpanRecord:
    _, span, duration, bound = item
    fields = _attributes(span.attributes, span.errors, span.scope)
    return SpanRecord(
        id=record_id,
        ts=span.start_ns,
        name=record_name(span.name),
        trace_id=trace_hex(span.trace_id),
        span_id=span_hex(span.span_id),
        parent_span_id=None if span.parent_id is None else span_hex(span.parent_id),
        duration_ns=duration,
        attributes=fields,
        span_kind=span.kind,
        status=span.status,
        status_message=span.status_message[:65_536],
        **dict(zip(("user_id", "session_id"), user_ids(fields, bound), strict=True)),
    )


def _build_readable(item: Item, record_id: str) -> SpanRecord:
    _, span, bound = item
    events: dict[object, object] = dict(span.attributes or {})
    for event in span.events:
        if event.name == "exception":
            events.update(event.attributes or {})
        else:
            events[f"event.{event.name}"] = True
            for key, value in (event.attributes or {}).items():
                events[f"event.{event.name}.{key}"] = value
    scope = span.instrumentation_scope
    fields = _attributes(
        events,
        (),
        (scope.name, scope.version) if scope is not None else ("", None),
    )
    context, parent = span.context, span.parent
    start = span.start_time or 0
    return SpanRecord(
        id=record_id,
        ts=start,
        name=record_name(span.name),
        trace_id=trace_hex(context.trace_id),
        span_id=span_hex(context.span_id),
        parent_span_id=None if parent is None else span_hex(parent.span_id),
        duration_ns=max(0, (span.end_time or start) - start),
        attributes=fields,
        span_kind=_KINDS.get(span.kind, "internal"),
        status=_STATUSES[span.status.status_code],
        status_message=(span.status.description or "")[:65_536],
        **dict(zip(("user_id", "session_id"), user_ids(fields, bound), strict=True)),
    )
