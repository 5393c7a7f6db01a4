"""POST /v1/traces and /v1/logs: OTLP/HTTP in protobuf and JSON, answered per the spec."""

from __future__ import annotations

import base64
import dataclasses
import gzip
import json
import zlib
from typing import Any

import pytest
from google.protobuf import json_format
from google.rpc.status_pb2 import Status as RpcStatus
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from tests.conftest import Running

PROTOBUF = "application/x-protobuf"
TRACE = "5B8EFFF798038103D269B633813FC60C"  # upper case: OTLP/JSON ids are case-insensitive

# OTLP/JSON as the spec writes it: camelCase, hex ids, enums as integers, int64 as strings
# (or numbers), unknown fields ignored.
SPANS_JSON: dict[str, Any] = {
    "resourceSpans": [{
        "resource": {"attributes": [
            {"key": "service.name", "value": {"stringValue": "chat-api"}},
            {"key": "deployment.environment.name", "value": {"stringValue": "production"}},
        ]},
        "scopeSpans": [{
            "scope": {"name": "my.library", "version": "1.0.0"},
            "spans": [
                {"traceId": TRACE, "spanId": "EEE19B7EC3C1B173", "name": "POST /chat",
                 "startTimeUnixNano": "1544712660000000000", "endTimeUnixNano": "1544712661000000000",
                 "kind": 2, "attributes": [{"key": "http.route", "value": {"stringValue": "/chat"}}]},
                {"traceId": TRACE, "spanId": "EEE19B7EC3C1B174", "parentSpanId": "EEE19B7EC3C1B173",
                 "name": "chat gpt-4o", "startTimeUnixNano": 1544712660100000000,
                 "endTimeUnixNano": "1544712660600000000", "kind": 3, "futureField": {"x": 1},
                 "status": {"code": 2, "message": "rate limited"},
                 "attributes": [{"key": "gen_ai.usage.input_tokens", "value": {"intValue": "12"}},
                                {"key": "user.id", "value": {"stringValue": "u-1"}}]},
            ],
        }],
    }]
}  # fmt: skip

LOGS_JSON: dict[str, Any] = {
    "resourceLogs": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "chat-api"}}]},
        "scopeLogs": [{
            "scope": {"name": "app.llm"},
            "logRecords": [{
                "timeUnixNano": "1544712660300000000", "observedTimeUnixNano": "1544712660300000001",
                "severityNumber": 13, "severityText": "WARN", "traceId": TRACE,
                "spanId": "EEE19B7EC3C1B174", "body": {"stringValue": "retrying"},
                "attributes": [{"key": "attempt", "value": {"intValue": 2}}],
            }],
        }],
    }]
}  # fmt: skip


def as_json(document: dict[str, Any]) -> bytes:
    return json.dumps(document).encode()


def base64_ids(node: Any) -> Any:
    """A copy of OTLP/JSON with hex ids as base64: what protobuf's own JSON mapping expects."""
    if isinstance(node, list):
        return [base64_ids(item) for item in node]
    if not isinstance(node, dict):
        return node
    return {
        key: base64.b64encode(bytes.fromhex(value)).decode()
        if key in ("traceId", "spanId", "parentSpanId") else base64_ids(value)
        for key, value in node.items()
    }  # fmt: skip


def as_protobuf(document: dict[str, Any]) -> bytes:
    """The same export as a protobuf body."""
    message: Any = (
        ExportTraceServiceRequest() if "resourceSpans" in document else ExportLogsServiceRequest()
    )
    json_format.ParseDict(base64_ids(document), message, ignore_unknown_fields=True)
    return bytes(message.SerializeToString())


def post(running: Running, path: str, body: bytes, content_type: str = "application/json",
         **headers: str) -> Any:  # fmt: skip
    return running.client.post(
        path, content=body,
        headers={"Authorization": f"Bearer {running.ingest_key}", "Content-Type": content_type} | headers,
    )  # fmt: skip


def stored(running: Running, kind: str) -> list[dict[str, Any]]:
    response = running.client.get(f"/api/v1/records?kind={kind}", headers=running.read_headers())
    assert response.status_code == 200, response.text
    return list(response.json()["records"])


def test_json_spans_are_stored_with_their_fields(running: Running) -> None:
    """OTLP/JSON spans (hex ids, string int64s, integer enums) answer 200 ``{}`` in JSON and are
    stored with ids, parent link, duration, kind, status and resource fields."""
    response = post(running, "/v1/traces", as_json(SPANS_JSON))
    assert response.status_code == 200, response.text
    assert (response.headers["content-type"], response.json()) == ("application/json", {})
    spans = {span["name"]: span for span in stored(running, "span")}
    root, child = spans["POST /chat"], spans["chat gpt-4o"]
    assert root["trace_id"] == child["trace_id"] == TRACE.lower()
    assert (root["span_id"], child["parent_span_id"]) == ("eee19b7ec3c1b173", "eee19b7ec3c1b173")
    assert "parent_span_id" not in root
    assert (root["duration_ns"], child["duration_ns"]) == (1_000_000_000, 500_000_000)
    assert (root["span_kind"], child["span_kind"]) == ("server", "client")
    assert (child["status"], child["status_message"]) == ("error", "rate limited")
    assert (child["service"], child["environment"], child["user_id"]) == (
        "chat-api",
        "production",
        "u-1",
    )
    assert child["attributes"]["gen_ai.usage.input_tokens"] == 12
    assert child["attributes"]["otel.scope.name"] == "my.library"
    assert root["http_route"] == "/chat"


def test_protobuf_spans_are_stored_and_answered_in_protobuf(running: Running) -> None:
    """A protobuf export answers 200 with an ExportTraceServiceResponse in protobuf."""
    response = post(running, "/v1/traces", as_protobuf(SPANS_JSON), PROTOBUF)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == PROTOBUF
    assert ExportTraceServiceResponse.FromString(response.content) == ExportTraceServiceResponse()
    assert {s["name"] for s in stored(running, "span")} == {"POST /chat", "chat gpt-4o"}


def test_json_logs_are_stored_with_their_trace(running: Running) -> None:
    """OTLP/JSON log records are stored with severity, body, logger and trace and span ids."""
    response = post(running, "/v1/logs", as_json(LOGS_JSON))
    assert response.status_code == 200, response.text
    assert response.json() == {}
    (log,) = stored(running, "log")
    assert (log["trace_id"], log["span_id"]) == (TRACE.lower(), "eee19b7ec3c1b174")
    assert (log["severity_number"], log["severity_text"], log["body"]) == (13, "WARN", "retrying")
    assert (log["logger"], log["service"], log["ts"]) == (
        "app.llm",
        "chat-api",
        1544712660300000000,
    )
    assert log["attributes"]["attempt"] == 2


@pytest.mark.parametrize(
    ("encoding", "compress"), [("gzip", gzip.compress), ("deflate", zlib.compress)]
)
def test_compressed_bodies_are_accepted(running: Running, encoding: str, compress: Any) -> None:
    """gzip and (zlib) deflate bodies of either encoding are decompressed and stored."""
    for path, document in (("/v1/traces", SPANS_JSON), ("/v1/logs", LOGS_JSON)):
        response = post(running, path, compress(as_protobuf(document)), PROTOBUF,
                         **{"Content-Encoding": encoding})  # fmt: skip
        assert response.status_code == 200, response.text
    assert (len(stored(running, "span")), len(stored(running, "log"))) == (2, 1)


def test_replayed_export_stores_nothing_twice(running: Running) -> None:
    """The same export sent again, in either encoding, is acknowledged and stored once."""
    for _ in range(2):
        for path, document in (("/v1/traces", SPANS_JSON), ("/v1/logs", LOGS_JSON)):
            assert post(running, path, as_json(document)).status_code == 200
            assert post(running, path, as_protobuf(document), PROTOBUF).status_code == 200
    assert (len(stored(running, "span")), len(stored(running, "log"))) == (2, 1)


def with_span_field(**fields: Any) -> bytes:
    document = json.loads(json.dumps(SPANS_JSON))
    document["resourceSpans"][0]["scopeSpans"][0]["spans"][1].update(fields)
    return as_json(document)


BAD_BODIES = [
    (b'{"resourceSpans": [', "malformed JSON"),
    (b"[1, 2]", "must be a JSON object"),
    (
        with_span_field(traceId="not-hex-at-all"),
        r"spans\[1\]\.traceId: 'not-hex-at-all' is not a hex id",
    ),
    (with_span_field(spanId="ABC"), r"spans\[1\]\.spanId: 'ABC' is not a hex id"),
    (with_span_field(spanId="0102"), r"spans\[1\]\.spanId: must be 8 bytes"),
    (with_span_field(traceId=""), r"spans\[1\]\.traceId: an id of 16 bytes is required"),
    (with_span_field(startTimeUnixNano="yesterday"), "startTimeUnixNano"),
    (with_span_field(attributes=[{"key": "a", "value": {"intValue": "x"}}]), "intValue"),
]


@pytest.mark.parametrize(("body", "message"), BAD_BODIES)
def test_malformed_json_is_400_naming_the_problem(
    running: Running, body: bytes, message: str
) -> None:
    """Malformed OTLP/JSON answers 400 with a google.rpc.Status naming the problem; the spans
    before it in the request are not stored either."""
    response = post(running, "/v1/traces", body)
    assert response.status_code == 400, response.text
    status = response.json()
    assert status["code"] == 3  # INVALID_ARGUMENT
    assert __import__("re").search(message, status["message"]), status["message"]
    assert stored(running, "span") == []


def test_malformed_protobuf_is_400_with_a_protobuf_status(running: Running) -> None:
    """A truncated protobuf body answers 400 with a protobuf google.rpc.Status; nothing stored."""
    for path, document in (("/v1/traces", SPANS_JSON), ("/v1/logs", LOGS_JSON)):
        response = post(running, path, as_protobuf(document)[:-7], PROTOBUF)
        assert response.status_code == 400
        assert response.headers["content-type"] == PROTOBUF
        status = RpcStatus.FromString(response.content)
        assert status.code == 3 and "(protobuf)" in status.message, status.message
    assert (stored(running, "span"), stored(running, "log")) == ([], [])


def test_bad_log_ids_are_400(running: Running) -> None:
    """A log record's trace id of the wrong length answers 400 naming the record."""
    document = json.loads(json.dumps(LOGS_JSON))
    document["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0]["traceId"] = "0102"
    response = post(running, "/v1/logs", as_json(document))
    assert response.status_code == 400
    assert "logRecords[0].traceId: must be 16 bytes" in response.json()["message"]
    assert stored(running, "log") == []


def test_bad_gzip_is_400(running: Running) -> None:
    """A body that claims gzip but is not answers 400 and stores nothing."""
    for body in (b"not gzip", gzip.compress(as_protobuf(SPANS_JSON))[:-9]):
        response = post(running, "/v1/traces", body, PROTOBUF, **{"Content-Encoding": "gzip"})
        assert response.status_code == 400
        assert "gzip" in RpcStatus.FromString(response.content).message
    assert stored(running, "span") == []


def test_unsupported_type_or_encoding_is_415(running: Running) -> None:
    """A Content-Type other than protobuf or JSON, or an unknown Content-Encoding, answers 415."""
    response = post(running, "/v1/traces", as_json(SPANS_JSON), "text/plain")
    assert response.status_code == 415
    assert "application/x-protobuf" in response.json()["message"]
    response = post(running, "/v1/traces", as_json(SPANS_JSON), **{"Content-Encoding": "br"})
    assert response.status_code == 415 and "gzip or deflate" in response.json()["message"]
    assert stored(running, "span") == []


@pytest.mark.parametrize(
    ("headers", "message"),
    [({}, "missing Authorization header"), ({"Authorization": "Bearer wki_wrong"}, "unknown or revoked ingest key"),
     ({"Authorization": "Basic abc"}, "Bearer")],
)  # fmt: skip
def test_missing_or_wrong_key_is_401(
    running: Running, headers: dict[str, str], message: str
) -> None:
    """Without a valid ingest key the export answers 401 with native ingest's message as a
    google.rpc.Status (code UNAUTHENTICATED) and ``WWW-Authenticate``; nothing stored."""
    for content_type in (PROTOBUF, "application/json"):
        body = as_protobuf(SPANS_JSON) if content_type == PROTOBUF else as_json(SPANS_JSON)
        response = running.client.post(
            "/v1/traces", content=body, headers={"Content-Type": content_type} | headers
        )
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"
        if content_type == PROTOBUF:
            status = RpcStatus.FromString(response.content)
            assert status.code == 16 and message in status.message
        else:
            assert response.json()["code"] == 16 and message in response.json()["message"]
    response = running.client.post(
        "/v1/logs", content=as_json(LOGS_JSON),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {running.read_token}"},
    )  # fmt: skip
    assert response.status_code == 401
    assert (stored(running, "span"), stored(running, "log")) == ([], [])


def test_oversized_bodies_are_413(running: Running) -> None:
    """A body over max_body_bytes, or one inflating past max_decompressed_bytes, answers 413."""
    services = running.app.state.services
    services.settings = dataclasses.replace(
        services.settings, max_body_bytes=2_000, max_decompressed_bytes=5_000
    )
    big = with_span_field(name="x" * 3_000)
    response = post(running, "/v1/traces", big)
    assert response.status_code == 413 and "limit of 2000 bytes" in response.json()["message"]
    response = post(running, "/v1/traces", gzip.compress(big + b" " * 5_000),
                    **{"Content-Encoding": "gzip"})  # fmt: skip
    assert response.status_code == 413 and "decompressed" in response.json()["message"]
    assert response.json()["code"] == 8  # RESOURCE_EXHAUSTED
    assert stored(running, "span") == []


def test_full_writer_answers_503_with_retry_after(running: Running) -> None:
    """When the writer's queue is full the export answers 503 with Retry-After; nothing stored."""
    writer = running.app.state.services.writer
    writer.queue_records = 0
    writer._queue.append(object())  # something waiting: the queue counts as full
    try:
        response = post(running, "/v1/traces", as_protobuf(SPANS_JSON), PROTOBUF)
    finally:
        writer._queue.clear()
        writer.queue_records = 200_000
    assert response.status_code == 503
    assert int(response.headers["Retry-After"]) >= 1
    assert RpcStatus.FromString(response.content).code == 14  # UNAVAILABLE
    assert stored(running, "span") == []


def test_empty_export_is_200(running: Running) -> None:
    """An export with nothing in it answers 200 and stores nothing."""
    assert post(running, "/v1/logs", b"{}").json() == {}
    assert post(running, "/v1/traces", b"", PROTOBUF).content == b""
    assert stored(running, "span") == []


def test_openapi_lists_the_otlp_endpoints(running: Running) -> None:
    """/openapi.json describes both endpoints with their two content types."""
    paths = running.client.get("/openapi.json").json()["paths"]
    for path in ("/v1/traces", "/v1/logs"):
        assert set(paths[path]["post"]["requestBody"]["content"]) == {PROTOBUF, "application/json"}
