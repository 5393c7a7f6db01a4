from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind, Status, StatusCode

import watchkeeper
from watchkeeper.records import Span
from watchkeeper.sdk.otel import TracerProvider, span_processor
from watchkeeper.testing import capture


def by_name(spans: list[Span]) -> dict[str, Span]:
    return {span.name: span for span in spans}


@pytest.fixture
def tracer() -> trace.Tracer:
    """A tracer of our provider, not installed globally (OpenTelemetry allows that once)."""
    return TracerProvider().get_tracer("tests", "1.2")


def test_otel_span_becomes_a_record(tracer: trace.Tracer) -> None:
    """Name, kind, attributes, status and the instrumentation scope reach the record."""
    with capture() as captured:
        with tracer.start_as_current_span("GET", kind=SpanKind.CLIENT, attributes={"a": 1}) as s:
            s.set_attribute("http.response.status_code", 503)
            s.set_attributes({"b": [1, 2]})
            s.update_name("GET /items")
            s.set_status(Status(StatusCode.ERROR, "unavailable"))
            assert s.is_recording()
        assert not s.is_recording()
    (record,) = captured.spans
    assert (record.name, record.span_kind, record.status) == ("GET /items", "client", "error")
    assert record.status_message == "unavailable"
    assert record.attributes == {
        "a": 1,
        "http.response.status_code": 503,
        "b": [1, 2],
        "otel.scope.name": "tests",
        "otel.scope.version": "1.2",
    }
    assert record.duration_ns > 0


def test_otel_status_rules(tracer: trace.Tracer) -> None:
    """UNSET changes nothing and OK is final, as the API specifies."""
    with capture() as captured:
        with tracer.start_as_current_span("x") as s:
            s.set_status(StatusCode.OK)
            s.set_status(StatusCode.ERROR, "too late")
        with tracer.start_as_current_span("y") as s:
            s.set_status(StatusCode.ERROR, "bad")
            s.set_status(StatusCode.UNSET)
    x, y = captured.spans
    assert (x.status, x.status_message) == ("ok", "")
    assert (y.status, y.status_message) == ("error", "bad")


def test_exception_in_otel_span_is_recorded_and_propagates(tracer: trace.Tracer) -> None:
    """start_as_current_span records the exception and sets the error status; events go in as
    attributes."""
    with (
        capture() as captured,
        pytest.raises(ZeroDivisionError),
        tracer.start_as_current_span("div") as s,
    ):
        s.add_event("retry", {"attempt": 2})
        1 / 0  # noqa: B018
    (record,) = captured.spans
    assert record.status == "error" and record.status_message.startswith("ZeroDivisionError")
    assert record.attributes["exception.type"] == "ZeroDivisionError"
    assert record.attributes["event.retry.attempt"] == 2


def test_our_spans_and_otel_spans_nest_both_ways(tracer: trace.Tracer) -> None:
    """watchkeeper.span > OTel span > watchkeeper.span, and spans made current with use_span,
    form one tree."""
    with capture() as captured, watchkeeper.span("ours"):
        with tracer.start_as_current_span("theirs"), watchkeeper.span("ours inside"):
            assert trace.get_current_span().is_recording()
        other = tracer.start_span("used")
        with trace.use_span(other, end_on_exit=True), watchkeeper.span("inside used"):
            pass
    spans = by_name(captured.spans)
    assert spans["theirs"].parent_span_id == spans["ours"].span_id
    assert spans["ours inside"].parent_span_id == spans["theirs"].span_id
    assert spans["used"].parent_span_id == spans["ours"].span_id
    assert spans["inside used"].parent_span_id == spans["used"].span_id
    assert len({span.trace_id for span in spans.values()}) == 1


def test_an_extracted_context_is_the_parent(tracer: trace.Tracer) -> None:
    """A context from OpenTelemetry's propagator continues the caller's trace, and the caller's
    flags and tracestate are kept."""
    carrier = {
        "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        "tracestate": "congo=t61rcWkgMzE",
    }
    out: dict[str, str] = {}
    with (
        capture() as captured,
        tracer.start_as_current_span("server", context=propagate.extract(carrier)) as s,
    ):
        propagate.inject(out)
    (record,) = captured.spans
    assert (record.trace_id, record.parent_span_id) == (
        "0af7651916cd43dd8448eb211c80319c",
        "b7ad6b7169203331",
    )
    assert out["traceparent"] == f"00-{record.trace_id}-{record.span_id}-01"
    assert out["tracestate"] == "congo=t61rcWkgMzE"
    assert s.get_span_context().trace_state.get("congo") == "t61rcWkgMzE"


def test_start_as_current_span_decorates_sync_and_async(tracer: trace.Tracer) -> None:
    """As a decorator it records one span per call, around the awaited coroutine too."""

    @tracer.start_as_current_span("sync")
    def work() -> int:
        return 1

    @tracer.start_as_current_span("async")
    async def awork() -> int:
        await asyncio.sleep(0.01)
        return 2

    with capture() as captured:
        assert work() + work() == 2
        assert asyncio.run(awork()) == 2
    names = [span.name for span in captured.spans]
    assert names == ["sync", "sync", "async"]
    assert captured.spans[2].duration_ns >= 10_000_000


def test_without_a_client_otel_spans_only_propagate(tracer: trace.Tracer) -> None:
    """With no client, spans are non-recording but an incoming context still flows on."""
    parent = propagate.extract(
        {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}
    )
    span = tracer.start_span("x", context=parent)
    assert not span.is_recording()
    assert span.get_span_context().trace_id == 0x0AF7651916CD43DD8448EB211C80319C
    assert tracer.start_span("root") is trace.INVALID_SPAN


def test_sdk_processor_turns_readable_spans_into_records() -> None:
    """The span processor records an OpenTelemetry SDK provider's spans, exceptions and user."""
    from opentelemetry.sdk.trace import TracerProvider as SDKProvider

    provider = SDKProvider()
    provider.add_span_processor(span_processor())
    sdk_tracer = provider.get_tracer("sdk-tests")
    with (
        capture() as captured,
        sdk_tracer.start_as_current_span("outer", kind=SpanKind.SERVER) as outer,
    ):
        outer.set_attribute("user.id", "u9")
        with pytest.raises(ValueError), sdk_tracer.start_as_current_span("inner"):
            raise ValueError("nope")
    provider.shutdown()
    spans = by_name(captured.spans)
    assert spans["inner"].parent_span_id == spans["outer"].span_id
    assert spans["inner"].status == "error"
    assert spans["inner"].attributes["exception.type"] == "ValueError"
    assert (spans["outer"].span_kind, spans["outer"].user_id) == ("server", "u9")
    assert spans["outer"].attributes["otel.scope.name"] == "sdk-tests"


class _Hello(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.server.seen.append(self.headers.get("traceparent"))  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def hello() -> Iterator[ThreadingHTTPServer]:
    """An HTTP server on 127.0.0.1 that answers "ok" and keeps the traceparent it got."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hello)
    server.seen = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, args=(0.01,))
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join()


def test_opentelemetry_httpx_instrumentation_records_inside_our_span(
    hello: ThreadingHTTPServer,
) -> None:
    """The real opentelemetry-instrumentation-httpx, on our provider, records a client span
    that is the child of the watchkeeper.span around it and sends its traceparent."""
    import httpx
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

    provider = TracerProvider()
    instrumentor = HTTPXClientInstrumentor()
    with capture() as captured, httpx.Client() as client:
        instrumentor.instrument_client(client, tracer_provider=provider)
        with watchkeeper.span("agent step"):
            assert client.get(f"http://127.0.0.1:{hello.server_port}/x").text == "ok"
    spans = by_name(captured.spans)
    (call,) = [s for s in spans.values() if s.span_kind == "client"]
    assert call.parent_span_id == spans["agent step"].span_id
    assert call.attributes["otel.scope.name"].startswith("opentelemetry.instrumentation.httpx")
    assert hello.seen == [f"00-{call.trace_id}-{call.span_id}-03"]  # type: ignore[attr-defined]


def run_python(code: str) -> Any:
    """Run code in a fresh interpreter (OpenTelemetry's global provider is set once per
    process) and return the JSON it printed last."""
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def test_install_makes_ours_the_global_provider() -> None:
    """In a process without a provider, install() sets ours: get_tracer() spans are recorded."""
    result = run_python(
        """
        import json
        from opentelemetry import trace
        from watchkeeper.sdk import otel
        from watchkeeper.testing import capture
        first, again = otel.install(), otel.install()
        with capture() as captured:
            with trace.get_tracer("app").start_as_current_span("work"):
                pass
        print(json.dumps([first, again, [s.name for s in captured.spans]]))
        """
    )
    assert result == ["provider", "provider", ["work"]]


def test_install_attaches_to_an_sdk_provider_set_up_first() -> None:
    """An app's own SDK provider stays global and keeps exporting; our processor records its
    spans, and SDK spans and ours nest both ways."""
    result = run_python(
        """
        import json
        import watchkeeper
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
        from watchkeeper.sdk import otel
        from watchkeeper.testing import capture

        exporter = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        trace.set_tracer_provider(provider)
        modes = [otel.install(), otel.install()]
        tracer = trace.get_tracer("app")
        with capture() as captured:
            with tracer.start_as_current_span("sdk outer"):
                with watchkeeper.span("ours"):
                    with tracer.start_as_current_span("sdk inner"):
                        pass
        spans = {s.name: [s.span_id, s.parent_span_id, s.trace_id] for s in captured.spans}
        exported = sorted(s.name for s in exporter.get_finished_spans())
        print(json.dumps([modes, trace.get_tracer_provider() is provider, spans, exported]))
        """
    )
    modes, kept, spans, exported = result
    assert modes == ["processor", "processor"] and kept is True
    assert spans["ours"][1] == spans["sdk outer"][0]
    assert spans["sdk inner"][1] == spans["ours"][0]
    assert len({ids[2] for ids in spans.values()}) == 1
    assert exported == ["sdk inner", "sdk outer"]


def test_current_span_is_visible_to_otel_context_users(tracer: trace.Tracer) -> None:
    """While an OTel span is current via our tracer, watchkeeper's own context shows it too
    (track() and log lines pick up its ids)."""
    from watchkeeper.sdk.context import current_ids, current_span

    with capture(), tracer.start_as_current_span("x") as s:
        ids = s.get_span_context()
        assert current_span.get()[:2] == (ids.trace_id, ids.span_id)  # type: ignore[index]
        assert current_ids() == (f"{ids.trace_id:032x}", f"{ids.span_id:016x}")
    assert otel_context.get_current().get("x") is None
