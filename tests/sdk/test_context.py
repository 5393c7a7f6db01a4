from __future__ import annotations

import asyncio
import threading

from watchkeeper.sdk.context import current_ids, current_span, span_hex, trace_hex


def test_no_current_span_outside_spans() -> None:
    """Outside any span there are no current ids."""
    assert current_span.get() is None and current_ids() is None


def test_ids_are_w3c_sized_lowercase_hex() -> None:
    """Trace ids print as 32 hex digits and span ids as 16, zero-padded."""
    assert trace_hex(0xAB) == "000000000000000000000000000000ab"
    assert span_hex(2**64 - 1) == "ffffffffffffffff"
    token = current_span.set((1, 2, None))
    try:
        assert current_ids() == (trace_hex(1), span_hex(2))
    finally:
        current_span.reset(token)


def test_each_thread_starts_without_a_current_span() -> None:
    """A value set in one thread is not seen by another."""
    seen: list[object] = []
    token = current_span.set((1, 2, None))
    try:
        thread = threading.Thread(target=lambda: seen.append(current_span.get()))
        thread.start()
        thread.join()
    finally:
        current_span.reset(token)
    assert seen == [None]


def test_tasks_inherit_a_copy_of_the_context() -> None:
    """A task sees its creator's span, and its own changes stay inside it."""

    async def child() -> object:
        inherited = current_span.get()
        current_span.set((9, 9, None))
        return inherited

    async def main() -> tuple[object, object]:
        current_span.set((1, 2, None))
        inherited = await asyncio.create_task(child())
        return inherited, current_span.get()

    assert asyncio.run(main()) == ((1, 2, None), (1, 2, None))


def test_bind_layers_and_restores() -> None:
    """bind() adds ids on top of the bound ones; leaving the with block restores the previous."""
    from watchkeeper.sdk.context import bind, bound

    assert bound() == {}
    with bind(user_id="u1"):
        with bind(request_id="r1"):
            assert bound() == {"user_id": "u1", "request_id": "r1"}
        assert bound() == {"user_id": "u1"}
    assert bound() == {}


def test_bound_ids_are_per_thread() -> None:
    """Ids bound in one thread are not seen by another."""
    import threading

    from watchkeeper.sdk.context import bind, bound

    seen: list[dict[str, str]] = []
    with bind(user_id="main"):
        thread = threading.Thread(target=lambda: seen.append(bound()))
        thread.start()
        thread.join()
    assert seen == [{}]


def test_bind_inside_a_request_reaches_the_request_holder() -> None:
    """Inside a middleware's request, bind() also fills the request's shared holder, even from
    a worker thread running in a copy of the context."""
    import contextvars

    from watchkeeper.sdk.context import bind, request_fields

    holder: dict[str, str] = {}
    token = request_fields.set(holder)
    try:
        context = contextvars.copy_context()
        thread = threading.Thread(target=context.run, args=(bind,), kwargs={"user_id": "u7"})
        thread.start()
        thread.join()
        bind(session_id="s1", request_id="ignored")
    finally:
        request_fields.reset(token)
    assert holder == {"user_id": "u7", "session_id": "s1"}


class _Bridged:
    """A stand-in for OpenTelemetry's context: a dict naming its current span's ids."""

    def __init__(self) -> None:
        from watchkeeper.sdk.context import BRIDGE

        self.bridge = BRIDGE
        self.saved = (BRIDGE.get, BRIDGE.span_of)
        self.current: dict[str, object] = {}

    def __enter__(self) -> _Bridged:
        self.bridge.get = lambda: self.current
        self.bridge.span_of = lambda context: context.get("span")  # type: ignore[union-attr]
        return self

    def __exit__(self, *exc: object) -> None:
        self.bridge.get, self.bridge.span_of = self.saved


def test_innermost_prefers_a_span_opened_later_in_the_other_context() -> None:
    """Ours is innermost while OpenTelemetry's context is unchanged since it opened; a span
    OpenTelemetry made current afterwards wins; a context change without a new span does not."""
    from watchkeeper.sdk.context import current_trace, innermost

    with _Bridged() as bridged:
        outer = {"span": (7, 70, 1, "")}
        bridged.current = outer
        ours = (7, 71, outer)
        assert innermost(ours, outer) == (7, 71)
        inner = {"span": (7, 72, 1, "")}
        assert innermost(ours, inner) == (7, 72)
        baggage_only = {"span": (7, 70, 1, ""), "baggage": "x"}
        assert innermost(ours, baggage_only) == (7, 71)
        assert innermost(None, inner) == (7, 72)
        assert innermost(None, {}) is None
        token = current_span.set(ours)
        try:
            assert current_trace() == (7, 71)
        finally:
            current_span.reset(token)
