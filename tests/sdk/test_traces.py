from __future__ import annotations

import asyncio
import contextvars
import re
import threading
import time
from typing import Any

import pytest

import watchkeeper
from watchkeeper.records import Span
from watchkeeper.sdk.traces import trace
from watchkeeper.sdk.transport import InMemoryTransport
from watchkeeper.testing import capture


def by_name(spans: list[Span]) -> dict[str, Span]:
    return {span.name: span for span in spans}


def test_with_span_records_name_attributes_and_timing() -> None:
    """A `with span()` block becomes one Span with its attributes, start and duration."""
    with capture() as captured:
        before = time.time_ns()
        with watchkeeper.span("llm.chat", model="gpt-4o", temperature=0.2) as span:
            span.set_attribute("gen_ai.usage.output_tokens", 42)
            time.sleep(0.01)
        after = time.time_ns()
    (recorded,) = captured.spans
    assert recorded.name == "llm.chat"
    assert recorded.attributes == {
        "model": "gpt-4o",
        "temperature": 0.2,
        "gen_ai.usage.output_tokens": 42,
    }
    assert before <= recorded.ts <= after
    assert 10_000_000 <= recorded.duration_ns <= after - before
    assert re.fullmatch("[0-9a-f]{32}", recorded.trace_id)
    assert re.fullmatch("[0-9a-f]{16}", recorded.span_id)
    assert (recorded.parent_span_id, recorded.status) == (None, "unset")


def test_nested_spans_share_the_trace_and_point_to_their_parent() -> None:
    """A span opened inside another is its child in the same trace."""
    with capture() as captured:
        with watchkeeper.span("outer"):
            with watchkeeper.span("inner"):
                pass
            with watchkeeper.span("sibling"):
                pass
        with watchkeeper.span("next root"):
            pass
    spans = by_name(captured.spans)
    outer = spans["outer"]
    assert spans["inner"].parent_span_id == outer.span_id == spans["sibling"].parent_span_id
    assert spans["inner"].trace_id == outer.trace_id == spans["sibling"].trace_id
    assert spans["next root"].parent_span_id is None
    assert spans["next root"].trace_id != outer.trace_id


def test_exception_marks_the_span_and_propagates_unchanged() -> None:
    """An exception sets status=error with its message and is re-raised as the same object."""
    error = ValueError("bad input")
    with capture() as captured, pytest.raises(ValueError) as raised, watchkeeper.span("parse"):
        raise error
    assert raised.value is error
    (recorded,) = captured.spans
    assert (recorded.status, recorded.status_message) == ("error", "ValueError: bad input")


def test_decorator_records_each_call_of_a_sync_function() -> None:
    """@span on a function records one span per call and keeps its name and result."""

    @watchkeeper.span("add", unit="n")
    def add(a: int, b: int) -> int:
        """Adds."""
        return a + b

    with capture() as captured:
        assert add(1, 2) == 3
        assert add(a=2, b=2) == 4
    assert add.__name__ == "add" and add.__doc__ == "Adds."
    spans = captured.spans
    assert [span.name for span in spans] == ["add", "add"]
    assert spans[0].span_id != spans[1].span_id
    assert spans[0].attributes == {"unit": "n"}


def test_decorator_on_an_async_function_records_each_call() -> None:
    """@span on `async def` times the awaited call and propagates its exception."""

    @watchkeeper.span("fetch")
    async def fetch(fail: bool) -> str:
        await asyncio.sleep(0.01)
        if fail:
            raise KeyError("missing")
        return "done"

    with capture() as captured:
        assert asyncio.run(fetch(False)) == "done"
        with pytest.raises(KeyError):
            asyncio.run(fetch(True))
    ok, failed = captured.spans
    assert ok.duration_ns >= 10_000_000 and ok.status == "unset"
    assert failed.status == "error" and failed.status_message == "KeyError: 'missing'"


def test_decorated_before_init_records_after_init() -> None:
    """A function decorated at import time, before any client exists, records once one does."""

    @watchkeeper.span("early")
    def early() -> int:
        return 7

    assert early() == 7  # no client: a plain call
    with capture() as captured:
        early()
    assert [span.name for span in captured.spans] == ["early"]


def test_asyncio_tasks_each_nest_under_the_span_that_created_them() -> None:
    """Concurrent tasks get their own child spans; siblings do not nest in each other."""

    async def child(n: int) -> None:
        with watchkeeper.span(f"child{n}"):
            await asyncio.sleep(0.01)
            with watchkeeper.span(f"grandchild{n}"):
                await asyncio.sleep(0)

    async def main() -> None:
        with watchkeeper.span("parent"):
            await asyncio.gather(*(child(n) for n in range(3)))

    with capture() as captured:
        asyncio.run(main())
    spans = by_name(captured.spans)
    for n in range(3):
        assert spans[f"child{n}"].parent_span_id == spans["parent"].span_id
        assert spans[f"grandchild{n}"].parent_span_id == spans[f"child{n}"].span_id
    assert len({span.trace_id for span in spans.values()}) == 1


def test_threads_have_their_own_context_unless_it_is_copied() -> None:
    """A new thread starts a new trace; run in a copied context it joins the current one."""
    with capture() as captured, watchkeeper.span("request"):
        context = contextvars.copy_context()

        def work(name: str) -> None:
            with watchkeeper.span(name):
                pass

        fresh = threading.Thread(target=work, args=("own",))
        joined = threading.Thread(target=context.run, args=(work, "joined"))
        for thread in (fresh, joined):
            thread.start()
            thread.join()
    spans = by_name(captured.spans)
    assert spans["own"].parent_span_id is None
    assert spans["own"].trace_id != spans["request"].trace_id
    assert spans["joined"].parent_span_id == spans["request"].span_id


def test_concurrent_threads_do_not_cross_parents() -> None:
    """Spans nested in several threads at once each point to their own thread's parent."""
    barrier = threading.Barrier(4)

    def work(n: int) -> None:
        with watchkeeper.span(f"outer{n}"):
            barrier.wait()
            with watchkeeper.span(f"inner{n}"):
                barrier.wait()

    with capture() as captured:
        threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    spans = by_name(captured.spans)
    for n in range(4):
        assert spans[f"inner{n}"].parent_span_id == spans[f"outer{n}"].span_id


def test_span_ids_are_visible_while_open() -> None:
    """The scope exposes its trace and span ids (hex) while open, None after."""
    with capture() as captured:
        with watchkeeper.span("x") as span:
            ids = (span.trace_id, span.span_id)
        assert (span.trace_id, span.span_id) == (None, None)
    assert ids == (captured.spans[0].trace_id, captured.spans[0].span_id)


def test_span_to_an_explicit_client(make_client: Any) -> None:
    """span(client=...) records to that client, not the default."""
    mine = make_client(transport=InMemoryTransport())
    with capture() as captured:
        with watchkeeper.span("mine", client=mine):
            pass
        assert captured.spans == []
    assert mine.flush()
    assert [record.name for record in mine.transport.records] == ["mine"]


def test_trace_decorator_names_the_span_after_the_function() -> None:
    """@trace records each call under the function's qualified name, sync and async."""

    class Agent:
        @trace
        def plan(self) -> str:
            return "plan"

    @trace(name="fetch.docs", span_kind="client", k=3)
    async def fetch() -> int:
        return 1

    with capture() as captured:
        assert Agent().plan() == "plan"
        assert asyncio.run(fetch()) == 1
    plan, fetched = captured.spans
    assert plan.name.endswith("Agent.plan") and plan.span_kind == "internal"
    assert (fetched.name, fetched.span_kind, fetched.attributes) == (
        "fetch.docs",
        "client",
        {"k": 3},
    )


def test_status_kind_and_recorded_exception() -> None:
    """set_status, span_kind and record_exception end up on the record; a handled exception
    does not make the span an error."""
    with capture() as captured:
        with watchkeeper.span("call", span_kind="client") as span:
            try:
                raise TimeoutError("slow upstream")
            except TimeoutError as exc:
                span.record_exception(exc)
        with watchkeeper.span("checked") as span:
            span.set_status("error", "refused by policy")
        with watchkeeper.span("fine") as span:
            span.set_status("ok")
    call, checked, fine = captured.spans
    assert (call.span_kind, call.status) == ("client", "unset")
    assert call.attributes["exception.type"] == "TimeoutError"
    assert call.attributes["exception.message"] == "slow upstream"
    assert "raise TimeoutError" in str(call.attributes["exception.stacktrace"])
    assert (checked.status, checked.status_message) == ("error", "refused by policy")
    assert (fine.status, fine.status_message) == ("ok", "")


def test_bad_kind_or_status_is_refused_at_the_call() -> None:
    """A misspelt span kind or status raises at once rather than losing the record later."""
    with pytest.raises(ValueError, match="span_kind"):
        watchkeeper.span("x", span_kind="sever")  # type: ignore[arg-type]
    with capture(), watchkeeper.span("x") as span, pytest.raises(ValueError, match="status"):
        span.set_status("failed")  # type: ignore[arg-type]


def test_raised_exception_is_described_on_the_span() -> None:
    """An exception leaving the block adds the exception.* attributes to the error span."""
    with capture() as captured, pytest.raises(KeyError), watchkeeper.span("lookup"):
        {}["missing"]
    (recorded,) = captured.spans
    assert recorded.status == "error"
    assert recorded.attributes["exception.type"] == "KeyError"
    assert str(recorded.attributes["exception.stacktrace"]).startswith("Traceback")


def test_bound_user_and_session_go_on_the_span() -> None:
    """user_id and session_id come from bind(), including a bind inside the span; a user.id
    attribute wins."""
    from watchkeeper.sdk.context import bind

    with capture() as captured:
        with bind(user_id="u1", session_id="s1"), watchkeeper.span("bound"):
            pass
        with watchkeeper.span("bound inside"):
            inner = bind(user_id="u2")
        inner.__exit__()
        with watchkeeper.span("attribute", **{"user.id": "u3"}):
            pass
    spans = by_name(captured.spans)
    assert (spans["bound"].user_id, spans["bound"].session_id) == ("u1", "s1")
    assert spans["bound inside"].user_id == "u2"
    assert spans["attribute"].user_id == "u3"


def test_detach_gives_the_context_back_but_keeps_the_span_open() -> None:
    """After detach() the span is no longer current, and exiting it later still records it."""
    with capture() as captured:
        scope = watchkeeper.span("streamed")
        scope.__enter__()
        scope.detach()
        with watchkeeper.span("next request"):
            pass
        scope.__exit__(None, None, None)
    spans = by_name(captured.spans)
    assert spans["next request"].parent_span_id is None
    assert spans["streamed"].duration_ns > 0
