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
    token = current_span.set((1, 2))
    try:
        assert current_ids() == (trace_hex(1), span_hex(2))
    finally:
        current_span.reset(token)


def test_each_thread_starts_without_a_current_span() -> None:
    """A value set in one thread is not seen by another."""
    seen: list[object] = []
    token = current_span.set((1, 2))
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
        current_span.set((9, 9))
        return inherited

    async def main() -> tuple[object, object]:
        current_span.set((1, 2))
        inherited = await asyncio.create_task(child())
        return inherited, current_span.get()

    assert asyncio.run(main()) == ((1, 2), (1, 2))


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
