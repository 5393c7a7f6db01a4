"""The unmodified OpenTelemetry SDK and OTLP/HTTP exporters, sending to ``watchkeeper serve``:
spans and logs are stored with their fields, and a retried export is stored once."""

from __future__ import annotations

import json
import time
import urllib.request
from typing import Any

import pytest
from opentelemetry._logs import SeverityNumber
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import (
    BatchLogRecordProcessor,
    InMemoryLogRecordExporter,
    LogRecordExportResult,
    SimpleLogRecordProcessor,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SimpleSpanProcessor,
    SpanExportResult,
)
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from tests.e2e.conftest import Server

RESOURCE = Resource.create(
    {"service.name": "chat-api", "service.version": "1.4.2", "deployment.environment.name": "e2e"}
)


def records(server: Server, kind: str) -> list[dict[str, Any]]:
    request = urllib.request.Request(
        f"{server.url}/api/v1/records?kind={kind}&limit=1000",
        headers={"Authorization": f"Bearer {server.read_token}"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return list(json.load(response)["records"])


def exporters(
    server: Server, compression: Compression = Compression.NoCompression, key: str = ""
) -> tuple[OTLPSpanExporter, OTLPLogExporter]:
    headers = {"Authorization": f"Bearer {key or server.ingest_key}"}
    return (
        OTLPSpanExporter(f"{server.url}/v1/traces", headers=headers, compression=compression),
        OTLPLogExporter(f"{server.url}/v1/logs", headers=headers, compression=compression),
    )


@pytest.mark.parametrize("compression", [Compression.NoCompression, Compression.Gzip])
def test_sdk_spans_and_logs_are_stored(server: Server, compression: Compression) -> None:
    """Spans from the OpenTelemetry SDK arrive with names, parent links, durations, kinds,
    service and attributes, an escaped exception as an error; logs arrive with their span's ids."""
    span_exporter, log_exporter = exporters(server, compression)
    tracing = TracerProvider(resource=RESOURCE)
    tracing.add_span_processor(BatchSpanProcessor(span_exporter))
    logging = LoggerProvider(resource=RESOURCE)
    logging.add_log_record_processor(BatchLogRecordProcessor(log_exporter))
    tracer, logger = tracing.get_tracer("e2e.app", "0.1"), logging.get_logger("app.llm")
    try:
        with tracer.start_as_current_span(
            "POST /chat", kind=SpanKind.SERVER,
            attributes={"http.route": "/chat", "http.request.method": "POST", "session.id": "s-9"},
        ) as root:  # fmt: skip
            attributes = {"gen_ai.request.model": "gpt-4o", "gen_ai.usage.input_tokens": 12,
                          "gen_ai.response.finish_reasons": ["stop"], "user.id": "u-1"}  # fmt: skip
            with tracer.start_as_current_span("chat gpt-4o", kind=SpanKind.CLIENT,
                                              attributes=attributes) as call:  # fmt: skip
                time.sleep(0.01)
                logger.emit(body="retrying", severity_number=SeverityNumber.WARN,
                            severity_text="WARN", attributes={"attempt": 2})  # fmt: skip
            with pytest.raises(ValueError), tracer.start_as_current_span("tool.lookup"):
                raise ValueError("no such city")
            logger.emit(
                body={"event": "answered", "tokens": 12}, severity_number=SeverityNumber.INFO
            )
        assert tracing.force_flush(10_000) and logging.force_flush(10_000)
    finally:
        tracing.shutdown()
        logging.shutdown()

    trace_id = format(root.get_span_context().trace_id, "032x")
    spans = {span["name"]: span for span in records(server, "span")}
    assert set(spans) == {"POST /chat", "chat gpt-4o", "tool.lookup"}
    server_span, chat, tool = spans["POST /chat"], spans["chat gpt-4o"], spans["tool.lookup"]
    assert {span["trace_id"] for span in spans.values()} == {trace_id}
    assert "parent_span_id" not in server_span
    assert chat["parent_span_id"] == tool["parent_span_id"] == server_span["span_id"]
    assert chat["span_id"] == format(call.get_span_context().span_id, "016x")
    assert chat["duration_ns"] >= 10_000_000
    assert server_span["duration_ns"] >= chat["duration_ns"] + tool["duration_ns"]
    kinds = (server_span["span_kind"], chat["span_kind"], tool["span_kind"])
    assert kinds == ("server", "client", "internal")
    assert (chat["service"], chat["environment"], chat["release"]) == ("chat-api", "e2e", "1.4.2")
    assert chat["attributes"]["gen_ai.usage.input_tokens"] == 12
    assert chat["attributes"]["gen_ai.response.finish_reasons"] == ["stop"]
    assert chat["attributes"]["telemetry.sdk.language"] == "python"
    assert (chat["user_id"], server_span["session_id"]) == ("u-1", "s-9")
    assert (server_span["http_route"], server_span["http_method"]) == ("/chat", "POST")
    assert (tool["status"], tool["status_message"]) == ("error", "ValueError: no such city")
    assert tool["attributes"]["exception.type"] == "ValueError"
    assert "Traceback" in tool["attributes"]["exception.stacktrace"]

    logs = {log["severity_text"]: log for log in records(server, "log")}
    warn, info = logs["WARN"], logs["INFO"]
    assert (warn["trace_id"], warn["span_id"]) == (trace_id, chat["span_id"])
    assert (warn["body"], warn["severity_number"], warn["logger"]) == ("retrying", 13, "app.llm")
    assert (warn["service"], warn["attributes"]["attempt"]) == ("chat-api", 2)
    assert json.loads(info["body"]) == {"event": "answered", "tokens": 12}
    assert info["span_id"] == server_span["span_id"]


def test_retried_export_is_stored_once(server: Server) -> None:
    """An exporter sending the same batch of spans and of logs twice succeeds both times and
    stores each record once."""
    spans, logs = InMemorySpanExporter(), InMemoryLogRecordExporter()
    tracing = TracerProvider(resource=RESOURCE)
    tracing.add_span_processor(SimpleSpanProcessor(spans))
    logging = LoggerProvider(resource=RESOURCE)
    logging.add_log_record_processor(SimpleLogRecordProcessor(logs))
    tracer, logger = tracing.get_tracer("e2e.retry"), logging.get_logger("app")
    for i in range(20):
        with tracer.start_as_current_span(f"step {i % 4}"):
            logger.emit(body="same words", severity_number=SeverityNumber.INFO)
    span_exporter, log_exporter = exporters(server, Compression.Gzip)
    for _ in range(2):
        assert span_exporter.export(spans.get_finished_spans()) is SpanExportResult.SUCCESS
        assert log_exporter.export(logs.get_finished_logs()) is LogRecordExportResult.SUCCESS
    assert (server.count("span"), server.count("log")) == (20, 20)


def test_wrong_key_fails_the_export(server: Server) -> None:
    """With a key the server does not know the exporter reports failure and nothing is stored."""
    spans = InMemorySpanExporter()
    tracing = TracerProvider(resource=RESOURCE)
    tracing.add_span_processor(SimpleSpanProcessor(spans))
    with tracing.get_tracer("e2e").start_as_current_span("refused"):
        pass
    span_exporter, _ = exporters(server, key="wki_not-a-real-key")
    assert span_exporter.export(spans.get_finished_spans()) is SpanExportResult.FAILURE
    assert server.count("span") == 0
