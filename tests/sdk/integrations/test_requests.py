from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

import watchkeeper
from watchkeeper.records import Span
from watchkeeper.sdk.integrations.requests import instrument_requests, uninstrument_requests
from watchkeeper.testing import capture


@pytest.fixture
def patched() -> Iterator[None]:
    """requests instrumented globally for the test, and restored after it."""
    instrument_requests()
    yield
    uninstrument_requests()


def client_spans(spans: list[Span]) -> list[Span]:
    return [span for span in spans if span.span_kind == "client"]


def test_request_is_a_client_span_that_propagates(upstream: Any, patched: None) -> None:
    """requests.get inside a span is its child client span; the server gets its traceparent,
    and the URL is recorded without credentials or query string."""
    with capture() as captured, watchkeeper.span("step"):
        url = upstream.url.replace("http://", "http://user:pw@")
        assert requests.get(f"{url}/x?api_key=secret", timeout=5).text == "ok"
    (call,) = client_spans(captured.spans)
    (step,) = [span for span in captured.spans if span.name == "step"]
    assert call.parent_span_id == step.span_id
    assert call.attributes["url.full"] == f"{upstream.url}/x"
    assert call.attributes["http.response.status_code"] == 200
    assert upstream.headers[0]["traceparent"] == f"00-{call.trace_id}-{call.span_id}-03"


def test_errors_are_marked_and_propagate(upstream: Any, patched: None) -> None:
    """A 404 marks the span an error; a refused connection too, and its exception propagates."""
    with capture() as captured:
        assert requests.get(f"{upstream.url}/missing", timeout=5).status_code == 404
        with pytest.raises(requests.ConnectionError):
            requests.get("http://127.0.0.1:9/", timeout=5)
    missing, refused = client_spans(captured.spans)
    assert (missing.status, refused.status) == ("error", "error")
    assert refused.attributes["error.type"] == "ConnectionError"


def test_one_session_only_and_no_double_spans(upstream: Any, sample: Any) -> None:
    """instrument_requests(session) records that session; with the global patch on top, one
    span per request still; calls are counted."""
    labels = {
        "system": "requests",
        "server_address": "127.0.0.1",
        "http_request_method": "GET",
        "http_response_status_code": "200",
    }
    before = sample("http_client_request_duration_seconds_count", **labels)
    with capture() as captured, requests.Session() as mine, requests.Session() as other:
        instrument_requests(mine)
        instrument_requests(mine)
        mine.get(upstream.url, timeout=5)
        other.get(upstream.url, timeout=5)
        instrument_requests()
        try:
            mine.get(upstream.url, timeout=5)
        finally:
            uninstrument_requests()
    assert len(client_spans(captured.spans)) == 2
    assert sample("http_client_request_duration_seconds_count", **labels) == before + 2
