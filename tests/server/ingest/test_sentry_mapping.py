"""Sentry payloads to records, on envelopes made by the real sentry-sdk (a capturing transport
keeps what its HTTP transport would send)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sentry_sdk
from sentry_sdk import logger as sentry_logger
from sentry_sdk.envelope import Envelope
from sentry_sdk.transport import Transport

from watchkeeper.server.ingest.sentry_mapping import (
    MESSAGE_TYPE,
    event_to_error,
    log_items,
    request_attributes,
    timestamp_ns,
    transaction_to_spans,
)

DSN = "http://wki_public@127.0.0.1:9/7"


class Capture(Transport):
    """Keeps each envelope the SDK sends."""

    def __init__(self) -> None:
        super().__init__()
        self.envelopes: list[Envelope] = []

    def capture_envelope(self, envelope: Envelope) -> None:
        self.envelopes.append(envelope)


@contextmanager
def sentry(**options: Any) -> Iterator[Capture]:
    """A real SDK client with a capturing transport, active in an isolation scope only (no
    global state leaks between tests)."""
    capture = Capture()
    client = sentry_sdk.Client(
        dsn=DSN, transport=capture, default_integrations=False,
        auto_enabling_integrations=False, **options,
    )  # fmt: skip
    with sentry_sdk.isolation_scope() as scope:
        scope.set_client(client)
        try:
            yield capture
        finally:
            client.close(timeout=5)


def payloads(capture: Capture, kind: str) -> list[dict[str, Any]]:
    """The JSON payloads of the captured items of ``kind``."""
    return [
        json.loads(item.get_bytes())
        for envelope in capture.envelopes
        for item in envelope.items
        if item.headers.get("type") == kind
    ]


def divide(x: int) -> float:
    return 1 / x


def test_exception_event_becomes_an_error() -> None:
    """type/message of the raised exception, frames innermost last with context, level,
    handled, fingerprint, breadcrumbs, user, release, environment, tags, trace ids."""
    with sentry(release="app@1.2", environment="staging", server_name="vm1",
                traces_sample_rate=1.0) as capture:  # fmt: skip
        sentry_sdk.set_user({"id": "u-1", "email": "x@example.com"})
        sentry_sdk.set_tag("llm.provider", "openai")
        sentry_sdk.set_context("llm", {"model": "gpt-4o", "tokens": 123})
        sentry_sdk.add_breadcrumb(category="llm", message="called model", level="info")
        with sentry_sdk.start_transaction(name="handle"), sentry_sdk.start_span(op="llm.call"):
            try:
                try:
                    divide(0)
                except ZeroDivisionError as exc:
                    raise ValueError("bad input") from exc
            except ValueError as exc:
                with sentry_sdk.new_scope() as scope:
                    scope.fingerprint = ["{{ default }}", "custom"]
                    sentry_sdk.capture_exception(exc)
    (event,) = payloads(capture, "event")
    error = event_to_error(event)
    assert error.id == event["event_id"]
    assert (error.type, error.message, error.level, error.handled) == (
        "ValueError", "bad input", "error", True,
    )  # fmt: skip
    assert error.frames[-1].function == "test_exception_event_becomes_an_error"
    assert error.frames[-1].module == __name__
    assert error.frames[-1].in_app
    assert "raise ValueError" in error.frames[-1].context_line
    assert error.frames[-1].lineno > 0 and error.frames[-1].pre_context
    assert error.fingerprint == ["{{ default }}", "custom"]
    assert [(b.category, b.message) for b in error.breadcrumbs] == [("llm", "called model")]
    assert (error.release, error.environment, error.user_id) == ("app@1.2", "staging", "u-1")
    assert error.attributes["llm.provider"] == "openai"
    assert error.attributes["llm.model"] == "gpt-4o"
    assert error.attributes["host.name"] == "vm1"
    assert error.attributes["exception.chain"] == ["ZeroDivisionError", "ValueError"]
    assert error.trace_id == event["contexts"]["trace"]["trace_id"]
    assert error.span_id == event["contexts"]["trace"]["span_id"]


def test_message_event_and_unhandled() -> None:
    """capture_message is type Message with the text; handled:false is kept."""
    with sentry() as capture:
        sentry_sdk.capture_message("disk is full", level="warning")
    error = event_to_error(payloads(capture, "event")[0])
    assert (error.type, error.message, error.level) == (MESSAGE_TYPE, "disk is full", "warning")
    unhandled = {"exception": {"values": [{"type": "KeyError", "value": "'x'",
                 "mechanism": {"type": "wsgi", "handled": False}}]}}  # fmt: skip
    error = event_to_error(unhandled, "e" * 32)
    assert (error.id, error.handled, error.type) == ("e" * 32, False, "KeyError")
    assert error.attributes["exception.mechanism"] == "wsgi"
    logged = event_to_error({"logentry": {"message": "x %s", "formatted": "x 1"}, "logger": "a"})
    assert (logged.message, logged.attributes["logger.name"]) == ("x 1", "a")


def test_transaction_becomes_a_span_tree() -> None:
    """The transaction is the root span; its spans are children with parent links, ops,
    descriptions, times in ns and statuses."""
    with (
        sentry(traces_sample_rate=1.0) as capture,
        sentry_sdk.start_transaction(name="GET /chat", op="http.server") as tx,
    ):
        tx.set_tag("route", "/chat")
        with sentry_sdk.start_span(op="llm.call", name="chat gpt-4o") as llm:
            with sentry_sdk.start_span(op="db.query", name="SELECT 1"):
                pass
            llm.set_status("internal_error")
    (payload,) = payloads(capture, "transaction")
    root, llm_span, db = transaction_to_spans(payload)
    assert (root.name, root.span_kind, root.parent_span_id) == ("GET /chat", "server", None)
    assert root.attributes["route"] == "/chat" and root.attributes["sentry.op"] == "http.server"
    assert llm_span.parent_span_id == root.span_id and db.parent_span_id == llm_span.span_id
    assert {s.trace_id for s in (root, llm_span, db)} == {root.trace_id}
    assert (llm_span.name, llm_span.status, llm_span.status_message) == (
        "chat gpt-4o", "error", "internal_error",
    )  # fmt: skip
    assert root.ts <= llm_span.ts <= db.ts and root.duration_ns >= llm_span.duration_ns
    assert root.id == root.trace_id + root.span_id


def test_logs_become_log_records() -> None:
    """enable_logs=True ships ``log`` items; they become logs with level, body, logger."""
    with sentry(enable_logs=True) as capture:
        sentry_logger.warning("structured log {name}", name="bob")
    (payload,) = payloads(capture, "log")
    (log,) = log_items(payload)
    assert (log.body, log.severity_text, log.severity_number) == ("structured log bob", "WARN", 13)
    assert log.attributes["sentry.message.parameter.name"] == "bob"


def test_odd_shapes_do_not_fail() -> None:
    """Wrong types, old list forms, sensitive headers and bad timestamps are handled."""
    error = event_to_error({
        "exception": [{"type": "E", "stacktrace": {"frames": [{"lineno": "x", "abs_path": "/a.py"}]}}],
        "tags": [["a", "1"], ["b", 2]], "breadcrumbs": [{"timestamp": "2026-01-01T00:00:00Z",
        "level": "critical", "type": "http", "data": {"url": "/x"}}], "timestamp": "nonsense",
        "user": {"ip_address": "{{auto}}"}, "contexts": {"trace": {"trace_id": "nothex"}},
        "request": {"method": "GET", "headers": {"Authorization": "Bearer s", "Cookie": "c",
                    "X-Api-Key": "k", "User-Agent": "ua"}},
    })  # fmt: skip
    assert error.frames[0].filename == "/a.py" and error.frames[0].lineno == 0
    assert (error.attributes["a"], error.attributes["b"]) == ("1", "2")
    assert error.breadcrumbs[0].level == "fatal" and error.breadcrumbs[0].data["type"] == "http"
    assert error.breadcrumbs[0].ts == 1_767_225_600_000_000_000
    assert error.user_id == "" and error.trace_id is None
    assert request_attributes({"headers": {"Authorization": "x", "Cookie": "y", "A": "b"}}) == {
        "http.request.header.a": "b"
    }
    assert "http.request.header.user-agent" in error.attributes
    assert timestamp_ns(1.5) == 1_500_000_000 and timestamp_ns(None, 7) == 7
    assert transaction_to_spans({"contexts": {}}) == []
