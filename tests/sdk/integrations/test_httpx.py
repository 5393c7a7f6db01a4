from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

import watchkeeper
from watchkeeper.records import Span
from watchkeeper.sdk.integrations.httpx import instrument_httpx, uninstrument_httpx
from watchkeeper.testing import capture


@pytest.fixture
def patched() -> Iterator[None]:
    """httpx instrumented globally for the test, and restored after it."""
    instrument_httpx()
    yield
    uninstrument_httpx()


def client_spans(spans: list[Span]) -> list[Span]:
    return [span for span in spans if span.span_kind == "client"]


def test_sync_request_is_a_client_span_that_propagates(upstream: Any, patched: None) -> None:
    """A request inside a span is its child client span, and the server receives a
    traceparent naming the client span."""
    with capture() as captured, httpx.Client() as client, watchkeeper.span("step"):
        assert client.get(f"{upstream.url}/items?token=secret").text == "ok"
    (call,) = client_spans(captured.spans)
    (step,) = [span for span in captured.spans if span.name == "step"]
    assert call.parent_span_id == step.span_id and call.name == "GET"
    assert call.attributes["http.request.method"] == "GET"
    assert call.attributes["http.response.status_code"] == 200
    assert call.attributes["server.address"] == "127.0.0.1"
    assert call.attributes["url.full"] == f"{upstream.url}/items"  # no query string
    assert upstream.headers[0]["traceparent"] == f"00-{call.trace_id}-{call.span_id}-03"


def test_async_client_is_recorded(upstream: Any, patched: None) -> None:
    """AsyncClient requests are recorded and propagate too."""

    async def run() -> None:
        async with httpx.AsyncClient() as client:
            await client.get(f"{upstream.url}/a")

    with capture() as captured:
        asyncio.run(run())
    (call,) = client_spans(captured.spans)
    assert upstream.headers[0]["traceparent"].split("-")[2] == call.span_id


def test_4xx_and_connection_errors_are_errors(upstream: Any, patched: None) -> None:
    """A 4xx answer marks the client span an error; a refused connection too, and the
    exception propagates."""
    with capture() as captured, httpx.Client() as client:
        assert client.get(f"{upstream.url}/missing").status_code == 404
        with pytest.raises(httpx.ConnectError):
            client.get("http://127.0.0.1:9/")
    missing, refused = client_spans(captured.spans)
    assert (missing.status, missing.attributes["error.type"]) == ("error", "404")
    assert refused.status == "error" and refused.attributes["error.type"] == "ConnectError"


def test_one_client_only_and_no_double_spans(upstream: Any) -> None:
    """instrument_httpx(client) records that client alone; instrumenting twice, or globally on
    top, still gives one span per request."""
    with capture() as captured, httpx.Client() as mine, httpx.Client() as other:
        instrument_httpx(mine)
        instrument_httpx(mine)
        mine.get(upstream.url)
        other.get(upstream.url)
        instrument_httpx()
        try:
            mine.get(upstream.url)
        finally:
            uninstrument_httpx()
    assert len(client_spans(captured.spans)) == 2
    assert "traceparent" not in upstream.headers[1]


def test_outgoing_calls_are_counted(upstream: Any, patched: None, sample: Any) -> None:
    """Each call is counted by client library, host, method and status."""
    labels = {
        "system": "httpx",
        "server_address": "127.0.0.1",
        "http_request_method": "GET",
        "http_response_status_code": "200",
    }
    before = sample("http_client_request_duration_seconds_count", **labels)
    with capture(), httpx.Client() as client:
        client.get(upstream.url)
    assert sample("http_client_request_duration_seconds_count", **labels) == before + 1
