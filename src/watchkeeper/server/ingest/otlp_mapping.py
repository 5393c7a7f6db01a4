"""OTLP spans and log records as watchkeeper records (:class:`~watchkeeper.records.Span`,
:class:`~watchkeeper.records.Log`).

Resource ``service.name``, ``deployment.environment.name`` (or the older
``deployment.environment``) and ``service.version`` fill ``service``, ``environment`` and
``release``. Resource, scope and item attributes are flattened into one map, the item's own
winning, then the scope's, then the resource's: a ``kvlist`` becomes dotted keys, an array of
scalars a list, bytes base64 text. Past :data:`~watchkeeper.records.MAX_ATTRIBUTES` or a string
limit of the contract, values are cut rather than the batch refused. Record ids are
deterministic, so an exporter's retry of a request stores nothing twice: a span's is its trace
and span id, a log's a hash of its content with its resource and scope.

>>> from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans
>>> otlp = OTLPSpan(trace_id=bytes(range(1, 17)), span_id=bytes(range(1, 9)), name="chat gpt-4o",
...                 start_time_unix_nano=10, end_time_unix_nano=25)
>>> request = ExportTraceServiceRequest(
...     resource_spans=[ResourceSpans(scope_spans=[ScopeSpans(spans=[otlp])])])
>>> spans(request)[0].duration_ns
15
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final, TypeVar, get_args

from msgspec import Meta
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, InstrumentationScope, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import Span as OTLPSpan

from watchkeeper import records
from watchkeeper.records import MAX_ATTRIBUTES, AttributeValue, Log, Span

Attributes = dict[str, AttributeValue]
_T = TypeVar("_T")


def _max_length(alias: object) -> int:
    for meta in get_args(alias)[1:]:
        if isinstance(meta, Meta) and meta.max_length is not None:
            return meta.max_length
    raise TypeError(f"{alias!r} declares no max_length")


SHORT: Final = _max_length(records.Short)
NAME: Final = _max_length(records.Name)
TEXT: Final = _max_length(records.Text)
"""The contract's string limits; also the cut for attribute strings (a stack trace, a prompt)."""

MAX_TS: Final = 2**63 - 1

# OTLP enum numbers (opentelemetry/proto/trace/v1/trace.proto): SpanKind 0 UNSPECIFIED,
# 1 INTERNAL, 2 SERVER, 3 CLIENT, 4 PRODUCER, 5 CONSUMER; StatusCode 0 UNSET, 1 OK, 2 ERROR.
_SPAN_KINDS: Final[tuple[records.SpanKind, ...]] = (
    "internal", "internal", "server", "client", "producer", "consumer",
)  # fmt: skip
_STATUSES: Final[tuple[records.SpanStatus, ...]] = ("unset", "ok", "error")

# Severity numbers come in ranges of four (logs data model): 1-4 TRACE .. 21-24 FATAL.
_SEVERITIES: Final = ("TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL")
_SEVERITY_NUMBERS: Final = {name: 1 + 4 * i for i, name in enumerate(_SEVERITIES)} | {
    "WARNING": 13,
    "CRITICAL": 21,
}

_EXCEPTION_KEYS: Final = ("exception.type", "exception.message", "exception.stacktrace")


class MappingError(ValueError):
    """An OTLP item that cannot become a record; the message names it by its OTLP/JSON path."""


def value(any_value: AnyValue) -> Any:
    """An ``AnyValue`` as plain Python: str, bool, int, float, None, list or dict; bytes as
    base64 text."""
    which = any_value.WhichOneof("value")
    if which == "kvlist_value":
        return {pair.key: value(pair.value) for pair in any_value.kvlist_value.values}
    if which == "array_value":
        return [value(item) for item in any_value.array_value.values]
    if which == "bytes_value":
        return base64.b64encode(any_value.bytes_value).decode()
    if which in ("string_value", "bool_value", "int_value", "double_value"):
        return getattr(any_value, which)
    return None  # unset, or a profiles-only dictionary index


def _attribute(any_value: AnyValue) -> AttributeValue:
    plain = value(any_value)
    if isinstance(plain, list):
        return [item for item in map(_scalar, plain) if item is not None]
    return _scalar(plain)


def _scalar(plain: Any) -> str | int | float | bool | None:
    if isinstance(plain, str):
        return plain[:TEXT]
    if plain is None or isinstance(plain, int | float):
        return plain  # bool is an int
    # A list or map inside an array has no place in a flat map: keep it as JSON text.
    return json.dumps(plain, ensure_ascii=False)[:TEXT]


def flatten(pairs: Iterable[KeyValue], prefix: str = "") -> Attributes:
    """Attributes as a flat map: a ``kvlist`` value becomes dotted keys; the first of
    duplicate keys wins."""
    flat: Attributes = {}
    for pair in pairs:
        key = prefix + pair.key
        if pair.value.WhichOneof("value") == "kvlist_value":
            for sub_key, sub_value in flatten(pair.value.kvlist_value.values, key + ".").items():
                flat.setdefault(sub_key, sub_value)
        else:
            flat.setdefault(key[:SHORT], _attribute(pair.value))
    return flat


def merge(*layers: Mapping[str, AttributeValue]) -> Attributes:
    """One attribute map from layers, earlier layers winning, at most ``MAX_ATTRIBUTES`` keys
    (those of earlier layers kept first)."""
    merged: Attributes = {}
    for layer in layers:
        for key, item in layer.items():
            if len(merged) >= MAX_ATTRIBUTES:
                return merged
            merged.setdefault(key, item)
    return merged


def _text(item: AttributeValue, limit: int = SHORT) -> str:
    return "" if item is None else str(item)[:limit]


def _pick(names: tuple[_T, ...], number: int) -> _T:
    """The name of an OTLP enum number; the first (unspecified) for one unknown here."""
    return names[number] if 0 <= number < len(names) else names[0]


def _hex_id(raw: bytes, size: int, path: str) -> str | None:
    """An id as lowercase hex, None when empty or all zeros (W3C: an invalid id); an error
    naming ``path`` when its length is wrong."""
    if not any(raw):
        return None
    if len(raw) != size:
        raise MappingError(f"{path}: must be {size} bytes ({2 * size} hex digits), not {len(raw)}")
    return raw.hex()


def _required_id(raw: bytes, size: int, path: str) -> str:
    found = _hex_id(raw, size, path)
    if found is None:
        raise MappingError(f"{path}: an id of {size} bytes is required; it is empty or all zeros")
    return found


@dataclass(frozen=True)
class _Origin:
    """What a resource and a scope give every item under them."""

    service: str
    environment: str
    release: str
    attributes: Attributes

    @classmethod
    def of(cls, resource: Resource, scope: InstrumentationScope) -> _Origin:
        own = flatten(resource.attributes)
        environment = own.get("deployment.environment.name", own.get("deployment.environment"))
        names = {"otel.scope.name": scope.name, "otel.scope.version": scope.version}
        return cls(
            service=_text(own.get("service.name")),
            environment=_text(environment),
            release=_text(own.get("service.version")),
            attributes=merge(
                flatten(scope.attributes), {k: v[:SHORT] for k, v in names.items() if v}, own
            ),
        )

    def fields(self, attributes: Attributes) -> dict[str, Any]:
        """The fields every record has, for an item with these merged attributes."""
        return {
            "service": self.service,
            "environment": self.environment,
            "release": self.release,
            "user_id": _text(attributes.get("user.id", attributes.get("enduser.id"))),
            "session_id": _text(attributes.get("session.id")),
            "attributes": attributes,
        }


def spans(request: ExportTraceServiceRequest) -> list[Span]:
    """The spans of an OTLP trace export; :class:`MappingError` names a span with a bad id."""
    found: list[Span] = []
    for r, resource_spans in enumerate(request.resource_spans):
        for s, scope_spans in enumerate(resource_spans.scope_spans):
            origin = _Origin.of(resource_spans.resource, scope_spans.scope)
            for i, otlp in enumerate(scope_spans.spans):
                path = f"resourceSpans[{r}].scopeSpans[{s}].spans[{i}]"
                trace_id = _required_id(otlp.trace_id, 16, f"{path}.traceId")
                span_id = _required_id(otlp.span_id, 8, f"{path}.spanId")
                exception = _exception(otlp.events)
                attributes = merge(flatten(otlp.attributes), exception, origin.attributes)
                summary = ": ".join(
                    str(exception[k]) for k in _EXCEPTION_KEYS[:2] if exception.get(k)
                )
                start = min(otlp.start_time_unix_nano, MAX_TS)
                found.append(
                    Span(
                        id=f"{trace_id}{span_id}",
                        ts=start,
                        trace_id=trace_id,
                        span_id=span_id,
                        parent_span_id=_hex_id(otlp.parent_span_id, 8, f"{path}.parentSpanId"),
                        name=otlp.name[:NAME] or "(unnamed)",
                        duration_ns=max(0, min(otlp.end_time_unix_nano, MAX_TS) - start),
                        span_kind=_pick(_SPAN_KINDS, otlp.kind),
                        status=_pick(_STATUSES, otlp.status.code),
                        status_message=(otlp.status.message or summary)[:TEXT],
                        **origin.fields(attributes),
                    )
                )
    return found


def _exception(events: Iterable[OTLPSpan.Event]) -> Attributes:
    """``exception.*`` of the last ``exception`` event (the one that ended the span, when the
    exception escaped), as text (semconv: exceptions as span events)."""
    found: Attributes = {}
    for event in events:
        if event.name == "exception":
            flat = flatten(event.attributes)
            found = {key: _text(flat[key], TEXT) for key in _EXCEPTION_KEYS if key in flat}
    return found


def logs(request: ExportLogsServiceRequest) -> list[Log]:
    """The log records of an OTLP logs export; :class:`MappingError` names one with a bad id."""
    found: list[Log] = []
    seen: Counter[str] = Counter()
    now = time.time_ns()
    for r, resource_logs in enumerate(request.resource_logs):
        for s, scope_logs in enumerate(resource_logs.scope_logs):
            origin = _Origin.of(resource_logs.resource, scope_logs.scope)
            context = hashlib.blake2b(digest_size=16)
            for part in (resource_logs.resource, scope_logs.scope):
                encoded = part.SerializeToString(deterministic=True)
                context.update(len(encoded).to_bytes(8, "big") + encoded)
            for i, otlp in enumerate(scope_logs.log_records):
                path = f"resourceLogs[{r}].scopeLogs[{s}].logRecords[{i}]"
                trace_id = _hex_id(otlp.trace_id, 16, f"{path}.traceId")
                span_id = _hex_id(otlp.span_id, 8, f"{path}.spanId")
                digest = context.copy()
                digest.update(otlp.SerializeToString(deterministic=True))
                # Identical records in one request stay distinct, numbered by occurrence: the id
                # depends on content, not on where the record sits in the request.
                key = digest.hexdigest()
                seen[key] += 1
                number, text = _severity(otlp.severity_number, otlp.severity_text)
                event = {"event.name": otlp.event_name[:SHORT]} if otlp.event_name else {}
                attributes = merge(flatten(otlp.attributes), event, origin.attributes)
                found.append(
                    Log(
                        id=key if seen[key] == 1 else f"{key}-{seen[key] - 1}",
                        # Without either time the receipt time stands in (logs data model:
                        # Timestamp if present, else ObservedTimestamp).
                        ts=min(otlp.time_unix_nano or otlp.observed_time_unix_nano or now, MAX_TS),
                        trace_id=trace_id,
                        span_id=span_id,
                        body=_body(otlp.body),
                        severity_number=number,
                        severity_text=text,
                        logger=scope_logs.scope.name[:SHORT],
                        **origin.fields(attributes),
                    )
                )
    return found


def _severity(number: int, text: str) -> tuple[int, str]:
    """Severity number and text, each filled from the other when missing."""
    if not 0 < number <= 24:
        number = _SEVERITY_NUMBERS.get(text.strip().upper(), 0)
    return number, text[:SHORT] or (_SEVERITIES[(number - 1) // 4] if number else "")


def _body(body: AnyValue) -> str:
    plain = value(body)
    if plain is None:
        return ""
    if not isinstance(plain, str):
        plain = json.dumps(plain, ensure_ascii=False)
    return plain[:TEXT]
