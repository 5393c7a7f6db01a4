"""OTLP spans and log records become contract-valid records with deterministic ids."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import (
    AnyValue,
    ArrayValue,
    InstrumentationScope,
    KeyValue,
    KeyValueList,
)
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Status
from opentelemetry.proto.trace.v1.trace_pb2 import Span as OTLPSpan

from watchkeeper.records import MAX_ATTRIBUTES, Batch, decode_batch, encode_batch
from watchkeeper.server.ingest.otlp_mapping import TEXT, MappingError, logs, spans

TRACE = bytes.fromhex("5B8EFFF798038103D269B633813FC60C")
SPAN = bytes.fromhex("EEE19B7EC3C1B174")
PARENT = bytes.fromhex("EEE19B7EC3C1B173")


def any_value(value: Any) -> AnyValue:
    """Python → AnyValue, the way an SDK encodes attributes."""
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    if isinstance(value, bytes):
        return AnyValue(bytes_value=value)
    if isinstance(value, list):
        return AnyValue(array_value=ArrayValue(values=[any_value(v) for v in value]))
    if isinstance(value, dict):
        return AnyValue(kvlist_value=KeyValueList(values=attrs(value)))
    if value is None:
        return AnyValue()
    return AnyValue(string_value=value)


def attrs(values: dict[str, Any]) -> list[KeyValue]:
    return [KeyValue(key=k, value=any_value(v)) for k, v in values.items()]


RESOURCE = {
    "service.name": "chat-api",
    "service.version": "1.4.2",
    "deployment.environment.name": "production",
    "host.name": "web-1",
    "shared": "resource",
}


def trace_request(*items: OTLPSpan, resource: dict[str, Any] | None = None,
                  scope: InstrumentationScope | None = None) -> ExportTraceServiceRequest:  # fmt: skip
    return ExportTraceServiceRequest(
        resource_spans=[
            ResourceSpans(
                resource=Resource(attributes=attrs(RESOURCE if resource is None else resource)),
                scope_spans=[ScopeSpans(scope=scope, spans=list(items))],
            )
        ]
    )


def otlp_span(**fields: Any) -> OTLPSpan:
    base: dict[str, Any] = {"trace_id": TRACE, "span_id": SPAN, "name": "chat gpt-4o",
                            "start_time_unix_nano": 1_700_000_000_000_000_000,
                            "end_time_unix_nano": 1_700_000_000_250_000_000}  # fmt: skip
    return OTLPSpan(**(base | fields))


def log_request(*records: LogRecord, resource: dict[str, Any] | None = None,
                scope: str = "app.llm") -> ExportLogsServiceRequest:  # fmt: skip
    return ExportLogsServiceRequest(
        resource_logs=[
            ResourceLogs(
                resource=Resource(attributes=attrs(RESOURCE if resource is None else resource)),
                scope_logs=[
                    ScopeLogs(scope=InstrumentationScope(name=scope), log_records=list(records))
                ],
            )
        ]
    )


def valid(*records: Any) -> None:
    """The records pass the wire contract's own validation."""
    decode_batch(encode_batch(Batch(records=list(records))))


def test_span_fields_map_to_the_record() -> None:
    """Ids become lowercase hex, start and end a ts and duration, kind and status their names."""
    otlp = otlp_span(
        parent_span_id=PARENT,
        kind=OTLPSpan.SPAN_KIND_CLIENT,
        status=Status(code=Status.STATUS_CODE_ERROR, message="rate limited"),
        attributes=attrs({"gen_ai.request.model": "gpt-4o", "gen_ai.usage.input_tokens": 12}),
    )
    (span,) = spans(trace_request(otlp))
    valid(span)
    assert span.id == "5b8efff798038103d269b633813fc60ceee19b7ec3c1b174"
    assert (span.trace_id, span.span_id, span.parent_span_id) == (
        "5b8efff798038103d269b633813fc60c", "eee19b7ec3c1b174", "eee19b7ec3c1b173",
    )  # fmt: skip
    assert (span.ts, span.duration_ns) == (1_700_000_000_000_000_000, 250_000_000)
    assert (span.name, span.span_kind, span.status) == ("chat gpt-4o", "client", "error")
    assert span.status_message == "rate limited"
    assert (span.service, span.environment, span.release) == ("chat-api", "production", "1.4.2")
    assert span.attributes["gen_ai.usage.input_tokens"] == 12
    assert span.attributes["host.name"] == "web-1"


@pytest.mark.parametrize(
    ("kind", "code", "expected"),
    [(0, 0, ("internal", "unset")), (1, 1, ("internal", "ok")), (2, 2, ("server", "error")),
     (4, 0, ("producer", "unset")), (5, 0, ("consumer", "unset")), (9, 7, ("internal", "unset"))],
)  # fmt: skip
def test_span_kinds_and_status_codes(kind: int, code: int, expected: tuple[str, str]) -> None:
    """Every OTLP span kind and status code has its name; unknown numbers fall back."""
    (span,) = spans(trace_request(otlp_span(kind=kind, status=Status(code=code))))  # type: ignore[arg-type]
    assert (span.span_kind, span.status) == expected


def test_attribute_values_of_every_type_are_flattened() -> None:
    """Scalars stay, arrays become lists, kvlists dotted keys, bytes base64, empty values None."""
    values = {"s": "text", "b": True, "i": -3, "d": 0.5, "list": ["a", 1, 2.5, False],
              "map": {"inner": {"deep": 1}, "other": "x"}, "raw": b"\x00\xff", "empty": None,
              "nested": [[1, 2], {"k": "v"}]}  # fmt: skip
    (span,) = spans(trace_request(otlp_span(attributes=attrs(values))))
    valid(span)
    got = span.attributes
    assert (got["s"], got["b"], got["i"], got["d"]) == ("text", True, -3, 0.5)
    assert got["list"] == ["a", 1, 2.5, False]
    assert (got["map.inner.deep"], got["map.other"]) == (1, "x")
    assert got["raw"] == base64.b64encode(b"\x00\xff").decode()
    assert got["empty"] is None
    assert got["nested"] == ["[1, 2]", '{"k": "v"}']


def test_span_attributes_win_over_scope_then_resource() -> None:
    """On a shared key the span's value wins, then the scope's, then the resource's."""
    scope = InstrumentationScope(name="openai", version="2.1",
                                 attributes=attrs({"shared": "scope", "scoped": 1}))  # fmt: skip
    request = trace_request(otlp_span(attributes=attrs({"shared": "span"})), scope=scope)
    (span,) = spans(request)
    assert span.attributes["shared"] == "span"
    assert span.attributes["scoped"] == 1
    assert (span.attributes["otel.scope.name"], span.attributes["otel.scope.version"]) == (
        "openai", "2.1",
    )  # fmt: skip
    (span,) = spans(trace_request(otlp_span(), scope=scope))
    assert span.attributes["shared"] == "scope"


def test_older_environment_name_and_user_and_session() -> None:
    """``deployment.environment`` is read when the new name is absent; user and session ids come
    from ``user.id``/``enduser.id`` and ``session.id``."""
    resource = {"service.name": "svc", "deployment.environment": "staging"}
    otlp = otlp_span(attributes=attrs({"enduser.id": 42, "session.id": "s-1"}))
    (span,) = spans(trace_request(otlp, resource=resource))
    assert (span.environment, span.user_id, span.session_id) == ("staging", "42", "s-1")
    otlp = otlp_span(attributes=attrs({"user.id": "u-7", "enduser.id": "other"}))
    assert spans(trace_request(otlp))[0].user_id == "u-7"


def test_exception_event_fills_status_message_and_attributes() -> None:
    """An ``exception`` event's type and message become the status message when the status has
    none, and its attributes ``exception.*``."""
    event = OTLPSpan.Event(name="exception", time_unix_nano=1, attributes=attrs({
        "exception.type": "openai.RateLimitError", "exception.message": "slow down",
        "exception.stacktrace": "Traceback ...", "exception.escaped": "True"}))  # fmt: skip
    other = OTLPSpan.Event(name="retry", attributes=attrs({"attempt": 2}))
    otlp = otlp_span(events=[other, event], status=Status(code=Status.STATUS_CODE_ERROR))
    (span,) = spans(trace_request(otlp))
    assert span.status_message == "openai.RateLimitError: slow down"
    assert span.attributes["exception.type"] == "openai.RateLimitError"
    assert span.attributes["exception.message"] == "slow down"
    assert span.attributes["exception.stacktrace"] == "Traceback ..."
    assert "attempt" not in span.attributes
    otlp.status.message = "ValueError: own words"
    assert spans(trace_request(otlp))[0].status_message == "ValueError: own words"


def test_limits_cut_rather_than_refuse() -> None:
    """Past 128 attributes the span's own are kept first; long strings and names are cut."""
    many = {f"span.{i:03}": i for i in range(MAX_ATTRIBUTES + 20)}
    otlp = otlp_span(name="n" * 1000, attributes=attrs(many | {"k" * 300: "v" * (TEXT + 10)}))
    (span,) = spans(trace_request(otlp))
    valid(span)
    assert len(span.attributes) == MAX_ATTRIBUTES
    assert all(key.startswith("span.") for key in span.attributes)
    assert len(span.name) == 256
    otlp = otlp_span(name="", attributes=attrs({"k" * 300: "v" * (TEXT + 10)}))
    (span,) = spans(trace_request(otlp, resource={"service.name": "s" * 1000}))
    valid(span)
    assert span.attributes["k" * 256] == "v" * TEXT
    assert (span.name, len(span.service)) == ("(unnamed)", 256)


def test_end_before_start_is_a_zero_duration() -> None:
    """A span whose end is missing or before its start lasts 0 ns."""
    for end in (0, 5):
        (span,) = spans(trace_request(otlp_span(start_time_unix_nano=10, end_time_unix_nano=end)))
        assert span.duration_ns == 0


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"trace_id": b"\x01" * 8}, r"spans\[1\]\.traceId: must be 16 bytes"),
        ({"trace_id": bytes(16)}, r"spans\[1\]\.traceId: an id of 16 bytes is required"),
        ({"span_id": b""}, r"spans\[1\]\.spanId: an id of 8 bytes is required"),
        ({"parent_span_id": b"\x01\x02"}, r"spans\[1\]\.parentSpanId: must be 8 bytes"),
    ],
)
def test_bad_span_ids_are_refused_naming_the_span(fields: dict[str, bytes], message: str) -> None:
    """A span id of the wrong length, or a missing one, is an error naming the span's path."""
    with pytest.raises(MappingError, match=message):
        spans(trace_request(otlp_span(), otlp_span(**fields)))


def test_zero_parent_is_a_root() -> None:
    """An all-zero parent span id means no parent."""
    assert spans(trace_request(otlp_span(parent_span_id=bytes(8))))[0].parent_span_id is None


def test_log_fields_map_to_the_record() -> None:
    """Severity, body, ids, time, logger and attributes of a log record carry over."""
    record = LogRecord(
        time_unix_nano=1_700_000_000_000_000_000, observed_time_unix_nano=1_700_000_000_000_000_001,
        severity_number=13, severity_text="WARN", body=any_value("rate limited, retrying"),
        trace_id=TRACE, span_id=SPAN, event_name="llm.retry",
        attributes=attrs({"code.function.name": "call", "user.id": "u-1"}),
    )  # fmt: skip
    (log,) = logs(log_request(record))
    valid(log)
    assert (log.ts, log.severity_number, log.severity_text) == (
        1_700_000_000_000_000_000,
        13,
        "WARN",
    )
    assert log.body == "rate limited, retrying"
    assert (log.trace_id, log.span_id) == (TRACE.hex(), SPAN.hex())
    assert (log.logger, log.service, log.release, log.user_id) == (
        "app.llm",
        "chat-api",
        "1.4.2",
        "u-1",
    )
    assert log.attributes["code.function.name"] == "call"
    assert log.attributes["event.name"] == "llm.retry"


def test_log_without_time_or_ids() -> None:
    """The observed time stands in for a missing time; missing or zero ids are None."""
    (log,) = logs(log_request(LogRecord(observed_time_unix_nano=77, trace_id=bytes(16))))
    valid(log)
    assert (log.ts, log.trace_id, log.span_id, log.body) == (77, None, None, "")


@pytest.mark.parametrize(
    ("number", "text", "expected"),
    [(9, "", (9, "INFO")), (17, "error", (17, "error")), (0, "WARNING", (13, "WARNING")),
     (0, "", (0, "")), (30, "", (0, "")), (24, "", (24, "FATAL")), (1, "", (1, "TRACE"))],
)  # fmt: skip
def test_severity_number_and_text_fill_each_other(
    number: int, text: str, expected: tuple[int, str]
) -> None:
    """A missing severity text comes from the number's range and a missing number from the text."""
    record = LogRecord(time_unix_nano=1, severity_number=number, severity_text=text)  # type: ignore[arg-type]
    (log,) = logs(log_request(record))
    assert (log.severity_number, log.severity_text) == expected


def test_structured_body_is_json_text() -> None:
    """A map or list body is stored as its JSON text."""
    body = {"event": "llm.call", "tokens": [1, 2], "ok": True}
    (log,) = logs(log_request(LogRecord(time_unix_nano=1, body=any_value(body))))
    assert json.loads(log.body) == body


def test_log_ids_are_deterministic_content_hashes() -> None:
    """The same request maps to the same ids; identical records stay distinct; order, not
    content, does not change an id; other content, resource or scope gives another id."""
    first = LogRecord(time_unix_nano=1, body=any_value("a"))
    second = LogRecord(time_unix_nano=2, body=any_value("b"))
    ids = [log.id for log in logs(log_request(first, second, first))]
    assert ids == [log.id for log in logs(log_request(first, second, first))]
    assert len(set(ids)) == 3 and ids[2] == f"{ids[0]}-1"
    assert [log.id for log in logs(log_request(second, first))] == [ids[1], ids[0]]
    assert logs(log_request(first, scope="other"))[0].id not in ids
    assert logs(log_request(first, resource={"service.name": "x"}))[0].id not in ids
    assert all(len(i) <= 64 for i in ids)
