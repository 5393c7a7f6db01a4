"""The OpenTelemetry receiver: ``POST /v1/traces`` and ``POST /v1/logs`` over OTLP/HTTP.

An unmodified OpenTelemetry SDK exports here with ``Authorization: Bearer <ingest key>`` in its
headers. Bodies are ``application/x-protobuf`` or ``application/json`` (OTLP/JSON), optionally
``Content-Encoding: gzip`` (or ``deflate``, which the Python exporter offers), within the same
limits as native ingest. Answers follow opentelemetry-proto's docs/specification.md (OTLP/HTTP):
200 with an empty ``Export*ServiceResponse`` once the records are committed; for an error, the
status (400 malformed, 401 key, 413 size, 415 type, 503 + ``Retry-After`` when the writer is
full) with a ``google.rpc.Status`` body, both encoded like the request. otlp_mapping.py turns the
decoded messages into records.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import msgspec
from fastapi import APIRouter, HTTPException, Request, Response
from google.protobuf import json_format
from google.protobuf.message import DecodeError, Message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from starlette.concurrency import run_in_threadpool

from watchkeeper.records import Record
from watchkeeper.server.auth import ingest_project
from watchkeeper.server.ingest import otlp_mapping
from watchkeeper.server.ingest.body import IngestError, decompress, read_body
from watchkeeper.server.pipeline import commit
from watchkeeper.server.settings import Settings

router = APIRouter(tags=["otlp"])

PROTOBUF: Final = "application/x-protobuf"
JSON: Final = "application/json"
ENCODINGS: Final = ("gzip", "deflate")

# google.rpc.Status codes for the HTTP statuses answered here (google/rpc/code.proto's mapping;
# 413 and 415 have none there: gRPC itself says RESOURCE_EXHAUSTED for a message too large).
_RPC_CODES: Final = {400: 3, 401: 16, 413: 8, 415: 3, 503: 14}
_HEX: Final = re.compile(r"[0-9a-fA-F]*")


@dataclass(frozen=True)
class Signal:
    """One OTLP signal: its messages, where its items sit in OTLP/JSON, and its mapping."""

    request: type[Message]
    response: type[Message]
    path: tuple[str, str, str]
    to_records: Callable[[Any], Sequence[Record]]


TRACES: Final = Signal(
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
    ("resourceSpans", "scopeSpans", "spans"),
    otlp_mapping.spans,
)
LOGS: Final = Signal(
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
    ("resourceLogs", "scopeLogs", "logRecords"),
    otlp_mapping.logs,
)

_RESPONSES: Final[dict[int | str, dict[str, Any]]] = {
    200: {"description": "Committed (or already stored): an empty Export*ServiceResponse"},
    400: {"description": "Malformed protobuf, JSON or gzip, or an invalid id; not retried"},
    401: {"description": "Missing, unknown or revoked ingest key"},
    413: {"description": "Body or decompressed body over its limit"},
    415: {"description": "Content-Type other than protobuf or JSON, or an unknown encoding"},
    503: {"description": "The writer is busy; retry after Retry-After seconds"},
}
_BODY: Final = {
    "requestBody": {
        "required": True,
        "content": {PROTOBUF: {"schema": {}}, JSON: {"schema": {"type": "object"}}},
    }
}


@router.post(
    "/v1/traces",
    summary="Export spans (OTLP/HTTP)",
    response_class=Response,
    responses=_RESPONSES,
    openapi_extra=_BODY,
)
async def export_traces(request: Request) -> Response:
    """Store an ``ExportTraceServiceRequest``'s spans. Answers after the commit."""
    return await export(request, TRACES)


@router.post(
    "/v1/logs",
    summary="Export log records (OTLP/HTTP)",
    response_class=Response,
    responses=_RESPONSES,
    openapi_extra=_BODY,
)
async def export_logs(request: Request) -> Response:
    """Store an ``ExportLogsServiceRequest``'s log records. Answers after the commit."""
    return await export(request, LOGS)


async def export(request: Request, signal: Signal) -> Response:
    """Check, decode, map and commit one export request of ``signal``; answer per OTLP/HTTP."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    # The spec answers in the request's Content-Type; anything else gets JSON a person can read.
    answer_as = PROTOBUF if content_type == PROTOBUF else JSON
    try:
        project = await ingest_project(request)
    except HTTPException as exc:
        return status_response(exc.status_code, str(exc.detail), answer_as, exc.headers)
    services = request.app.state.services
    try:
        if content_type not in (PROTOBUF, JSON):
            raise IngestError(
                415, f"Content-Type {content_type!r} is not supported; use {PROTOBUF} or {JSON}"
            )
        body = await read_body(request, services.settings.max_body_bytes)
        encoding = request.headers.get("content-encoding", "")
        found = await run_in_threadpool(
            decode, signal, body, encoding, content_type, services.settings
        )
        if found:
            await commit(services.writer, services.pipeline, project, found)
    except IngestError as exc:
        return status_response(exc.status, exc.detail, answer_as, exc.headers)
    return _encoded(signal.response(), 200, answer_as)


def decode(
    signal: Signal, body: bytes, encoding: str, content_type: str, settings: Settings
) -> Sequence[Record]:
    """Decompress and parse a body of ``signal`` and map it to records; 4xx as
    :class:`IngestError`."""
    data = decompress(body, encoding, settings.max_decompressed_bytes, ENCODINGS)
    message = signal.request()
    name = signal.request.DESCRIPTOR.name
    if content_type == PROTOBUF:
        try:
            message.ParseFromString(data)
        except DecodeError as exc:
            raise IngestError(400, f"body is not a valid {name} (protobuf): {exc}") from None
    else:
        try:
            document = msgspec.json.decode(data)
        except msgspec.DecodeError as exc:
            raise IngestError(400, f"malformed JSON: {exc}") from None
        except RecursionError:
            raise IngestError(400, "malformed JSON: nested too deeply") from None
        if not isinstance(document, dict):
            raise IngestError(400, f"body must be a JSON object (an OTLP/JSON {name})")
        try:
            hex_ids_to_base64(document, signal.path)
            json_format.ParseDict(document, message, ignore_unknown_fields=True)
        except (ValueError, json_format.ParseError) as exc:
            raise IngestError(400, f"body is not a valid {name} (OTLP/JSON): {exc}") from None
    try:
        return signal.to_records(message)
    except otlp_mapping.MappingError as exc:
        raise IngestError(400, str(exc)) from None


def hex_ids_to_base64(document: dict[str, Any], path: tuple[str, str, str]) -> None:
    """Rewrite OTLP/JSON's hex trace and span ids, in place, as the base64 that protobuf's JSON
    parser expects for bytes; a ``ValueError`` names an id that is not hex.

    OTLP/JSON differs from proto3's JSON mapping here (specification.md, "JSON Protobuf
    Encoding"): ``traceId``, ``spanId`` and ``parentSpanId`` are hex, case-insensitive. Parsed
    as base64, a 32-digit hex id silently becomes 24 bytes.

    >>> item = {"resourceSpans": [{"scopeSpans": [{"spans": [{"spanId": "00000000000000ff"}]}]}]}
    >>> hex_ids_to_base64(item, TRACES.path)
    >>> item["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["spanId"]
    'AAAAAAAAAP8='
    """
    top, middle, leaf = path
    for r, resource in _members(document, top):
        for s, scope in _members(resource, middle):
            for i, item in _members(scope, leaf):
                where = f"{top}[{r}].{middle}[{s}].{leaf}[{i}]"
                _convert(item, where)
                for n, link in _members(item, "links"):
                    _convert(link, f"{where}.links[{n}]")


def _members(parent: Mapping[str, Any], name: str) -> Iterator[tuple[int, dict[str, Any]]]:
    # Protobuf's JSON parser also takes the proto field names (resource_spans).
    found = parent.get(name, parent.get(re.sub("([A-Z])", r"_\1", name).lower()))
    if isinstance(found, list):
        yield from ((i, item) for i, item in enumerate(found) if isinstance(item, dict))


def _convert(item: dict[str, Any], where: str) -> None:
    for key in ("traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id"):
        found = item.get(key)
        if not isinstance(found, str):
            continue  # absent, or a wrong type that ParseDict names
        if not _HEX.fullmatch(found) or len(found) % 2:
            raise ValueError(f"{where}.{key}: {found[:40]!r} is not a hex id")
        item[key] = base64.b64encode(bytes.fromhex(found)).decode()


def status_response(
    status: int, message: str, answer_as: str, headers: Mapping[str, str] | None = None
) -> Response:
    """An error answer: ``google.rpc.Status`` with ``message``, encoded as ``answer_as``."""
    code = _RPC_CODES.get(status, 2)  # 2 = UNKNOWN
    if answer_as == PROTOBUF:
        # Status {int32 code = 1; string message = 2;} (google/rpc/status.proto) in protobuf's
        # wire format, by hand: its generated class lives in googleapis-common-protos, which
        # the server does not need otherwise.
        text = message.encode()
        content = b"\x08" + _varint(code) + b"\x12" + _varint(len(text)) + text
    else:
        content = msgspec.json.encode({"code": code, "message": message})
    return Response(content, status, headers=dict(headers or {}), media_type=answer_as)


def _varint(number: int) -> bytes:
    out = bytearray()
    while number > 0x7F:
        out.append(number & 0x7F | 0x80)
        number >>= 7
    out.append(number)
    return bytes(out)


def _encoded(message: Message, status: int, answer_as: str) -> Response:
    if answer_as == PROTOBUF:
        content: bytes = message.SerializeToString()
    else:
        content = msgspec.json.encode(json_format.MessageToDict(message))
    return Response(content, status, media_type=answer_as)
