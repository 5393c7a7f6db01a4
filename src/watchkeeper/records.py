"""The wire contract shared by the SDK and the server: record kinds, their fields, the batch.

Every record travels as one member of a :class:`Batch`, encoded as JSON (``application/json``,
optionally gzip). The ``kind`` field tags each record; the server validates a batch against these
types and answers a 4xx naming the first bad field (``$.records[3].ts``).

Field names follow the OpenTelemetry semantic conventions where one exists (DESIGN §4). Times are
UTC nanoseconds since the Unix epoch. ``project`` is not on the wire: the ingest key decides it.

msgspec was chosen for the contract because one declaration gives both the SDK's encoder and the
server's validating decoder, at about a microsecond per record, with error messages that name the
path of the bad field; it is a small C extension with no dependencies of its own.

>>> batch = Batch(records=[Event(id="a1", ts=1_700_000_000_000_000_000, name="signup")])
>>> decode_batch(encode_batch(batch)).records[0].name
'signup'
"""

from __future__ import annotations

from typing import Annotated, Final, Literal, TypeAlias, TypeVar

import msgspec
from msgspec import Meta

SCHEMA_VERSION: Final = 1
"""Bumped when a field changes meaning or a required one is added; servers accept 1..current."""

KINDS: Final = ("span", "log", "error", "metric", "event", "feedback", "check")

MAX_ATTRIBUTES: Final = 128

Id = Annotated[str, Meta(min_length=1, max_length=64)]
TraceId = Annotated[str, Meta(pattern="^[0-9a-f]{32}$")]
SpanId = Annotated[str, Meta(pattern="^[0-9a-f]{16}$")]
Name = Annotated[str, Meta(min_length=1, max_length=256)]
Short = Annotated[str, Meta(max_length=256)]
Text = Annotated[str, Meta(max_length=65_536)]
Timestamp = Annotated[int, Meta(ge=0, le=2**63 - 1)]
Scalar: TypeAlias = str | int | float | bool | None
AttributeValue: TypeAlias = Scalar | list[str | int | float | bool]
Attributes = Annotated[dict[Short, AttributeValue], Meta(max_length=MAX_ATTRIBUTES)]


class _Record(msgspec.Struct, kw_only=True, omit_defaults=True, tag_field="kind"):
    """Fields every record has. Empty strings mean "not known"."""

    id: Id
    ts: Timestamp
    service: Short = ""
    environment: Short = ""
    release: Short = ""
    trace_id: TraceId | None = None
    span_id: SpanId | None = None
    user_id: Short = ""
    session_id: Short = ""
    attributes: Attributes = {}


class Event(_Record, tag="event"):
    """A product analytics event: ``track("signup", user_id=..., properties=...)``."""

    name: Name


SpanKind: TypeAlias = Literal["internal", "server", "client", "producer", "consumer"]
SpanStatus: TypeAlias = Literal["unset", "ok", "error"]


class Span(_Record, tag="span"):
    """A timed operation. ``ts`` is its start. LLM calls and HTTP requests are spans whose
    attributes carry the ``gen_ai.*`` and ``http.*`` semantic-convention fields."""

    trace_id: TraceId
    span_id: SpanId
    name: Name
    duration_ns: Annotated[int, Meta(ge=0)]
    parent_span_id: SpanId | None = None
    span_kind: SpanKind = "internal"
    status: SpanStatus = "unset"
    status_message: Text = ""


class Log(_Record, tag="log"):
    """A log line, OpenTelemetry log data model: severity number 1..24 (9 = INFO, 17 = ERROR)."""

    body: Text
    severity_text: Short = "INFO"
    severity_number: Annotated[int, Meta(ge=0, le=24)] = 9
    logger: Short = ""


class Frame(msgspec.Struct, kw_only=True, omit_defaults=True):
    """One stack frame, innermost last (as Python's traceback and Sentry order them)."""

    module: Short = ""
    function: Short = ""
    filename: Annotated[str, Meta(max_length=1024)] = ""
    lineno: Annotated[int, Meta(ge=0)] = 0
    in_app: bool = False
    context_line: Text = ""
    pre_context: list[Text] = []
    post_context: list[Text] = []


class Breadcrumb(msgspec.Struct, kw_only=True, omit_defaults=True):
    """Something that happened before an error: a log line, an HTTP or LLM call, a navigation."""

    ts: Timestamp
    category: Short = ""
    message: Text = ""
    level: Literal["fatal", "error", "warning", "info", "debug"] = "info"
    data: Attributes = {}


class Error(_Record, tag="error"):
    """A captured exception or error message; the server groups it into an issue.

    ``frames`` are the innermost exception's stack, innermost last; ``fingerprint`` overrides
    grouping (``{{ default }}`` stands for the default fingerprint); tags and request/user
    context go in ``attributes``. ``issue_id`` is set by the server at ingest (a client's value
    is ignored)."""

    type: Short
    message: Text = ""
    level: Literal["fatal", "error", "warning", "info", "debug"] = "error"
    handled: bool = True
    frames: Annotated[list[Frame], Meta(max_length=256)] = []
    fingerprint: Annotated[list[Short], Meta(max_length=16)] = []
    breadcrumbs: Annotated[list[Breadcrumb], Meta(max_length=200)] = []
    issue_id: Annotated[int, Meta(ge=0)] = 0


MetricType: TypeAlias = Literal["counter", "gauge", "histogram"]


class Metric(_Record, tag="metric"):
    """One sample of a metric; labels go in ``attributes``. A histogram sample carries its
    cumulative ``buckets`` as ``[upper_bound, count]`` pairs with ``count`` and ``sum``; the
    ``+Inf`` bucket is left out (JSON has no infinity; its count is ``count``)."""

    name: Name
    type: MetricType
    value: float = 0.0
    unit: Short = ""
    count: Annotated[int, Meta(ge=0)] = 0
    sum: float = 0.0
    buckets: list[tuple[float, int]] = []


class Feedback(_Record, tag="feedback"):
    """A user's judgement of an answer (thumbs, rating, NPS), tied to a trace or span."""

    name: Name
    score: float
    comment: Text = ""


class Check(_Record, tag="check"):
    """The result of a health check or uptime probe (``application/health+json`` statuses)."""

    name: Name
    status: Literal["pass", "warn", "fail"]
    duration_ns: Annotated[int, Meta(ge=0)] = 0
    output: Text = ""


Record: TypeAlias = Span | Log | Error | Metric | Event | Feedback | Check

RECORD_TYPES: Final[dict[str, type[Record]]] = {
    "span": Span,
    "log": Log,
    "error": Error,
    "metric": Metric,
    "event": Event,
    "feedback": Feedback,
    "check": Check,
}


class Batch(msgspec.Struct, kw_only=True, omit_defaults=True):
    """What one request carries. ``service``/``environment``/``release`` fill in records that
    leave theirs empty, so the SDK need not repeat them on every record."""

    records: list[Record]
    schema: Annotated[int, Meta(ge=1, le=SCHEMA_VERSION)] = SCHEMA_VERSION
    service: Short = ""
    environment: Short = ""
    release: Short = ""


class RecordError(ValueError):
    """A batch that does not match the contract; the message names the bad field's path."""


class RecordTooLargeError(RecordError):
    """One record is larger than the limit given to :func:`decode_batch`."""


class _RawBatch(msgspec.Struct, kw_only=True):
    records: list[msgspec.Raw]
    schema: Annotated[int, Meta(ge=1, le=SCHEMA_VERSION)] = SCHEMA_VERSION
    service: Short = ""
    environment: Short = ""
    release: Short = ""


_T = TypeVar("_T")
_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(Batch)
_raw_decoder = msgspec.json.Decoder(_RawBatch)
_record_decoder: msgspec.json.Decoder[Record] = msgspec.json.Decoder(Record)


def _decode(decoder: msgspec.json.Decoder[_T], data: bytes) -> _T:
    try:
        return decoder.decode(data)
    except msgspec.ValidationError as exc:
        raise RecordError(str(exc)) from None
    except msgspec.DecodeError as exc:
        raise RecordError(f"malformed JSON: {exc}") from None


def _fill_defaults(record: Record, batch: Batch | _RawBatch) -> None:
    if not record.service:
        record.service = batch.service
    if not record.environment:
        record.environment = batch.environment
    if not record.release:
        record.release = batch.release


def encode_batch(batch: Batch) -> bytes:
    """Encode a batch as JSON bytes."""
    return _encoder.encode(batch)


def decode_batch(data: bytes, *, max_record_bytes: int | None = None) -> Batch:
    """Decode and validate a batch; raise :class:`RecordError` naming the bad field.

    Records are checked one by one, so an error names its record (``$.records[3].ts``) and a
    record over ``max_record_bytes`` is refused before it is decoded. The batch's
    service/environment/release fill in records that leave theirs empty.
    """
    if max_record_bytes is None or len(data) <= max_record_bytes:
        # No record can be over the limit, so one decode of the whole batch does (its errors
        # already name the record's index); this is the path of every ordinary batch.
        batch = _decode(_decoder, data)
        for record in batch.records:
            _fill_defaults(record, batch)
        return batch
    raw = _decode(_raw_decoder, data)
    records: list[Record] = []
    for index, item in enumerate(raw.records):
        if max_record_bytes is not None and len(item) > max_record_bytes:
            raise RecordTooLargeError(
                f"record is {len(item)} bytes, over the limit of {max_record_bytes}"
                f" - at `$.records[{index}]`"
            )
        try:
            record = _record_decoder.decode(item)
        except msgspec.ValidationError as exc:
            message = str(exc)
            if "`$" in message:
                message = message.replace("`$", f"`$.records[{index}]", 1)
            else:
                message = f"{message} - at `$.records[{index}]`"
            raise RecordError(message) from None
        _fill_defaults(record, raw)
        records.append(record)
    return Batch(
        records=records,
        schema=raw.schema,
        service=raw.service,
        environment=raw.environment,
        release=raw.release,
    )
