"""The wire contract: every kind round-trips, and bad input names its field."""

from __future__ import annotations

import pytest

from watchkeeper.records import (
    KINDS,
    RECORD_TYPES,
    SCHEMA_VERSION,
    Batch,
    Check,
    Error,
    Event,
    Feedback,
    Frame,
    Log,
    Metric,
    RecordError,
    RecordTooLargeError,
    Span,
    decode_batch,
    encode_batch,
)

TRACE = "0af7651916cd43dd8448eb211c80319c"
SPAN = "b7ad6b7169203331"


def every_kind() -> list[object]:
    return [
        Event(id="e", ts=1, name="signup", user_id="u1", attributes={"plan": "pro", "seats": 3}),
        Span(
            id="s",
            ts=2,
            trace_id=TRACE,
            span_id=SPAN,
            name="llm.chat",
            duration_ns=5,
            status="error",
            attributes={"gen_ai.request.model": "gpt-4o"},
        ),
        Log(id="l", ts=3, body="hello", severity_text="ERROR", severity_number=17, logger="app"),
        Error(
            id="x", ts=4, type="ValueError", message="bad", frames=[Frame(function="f", lineno=3)]
        ),
        Metric(
            id="m",
            ts=5,
            name="latency",
            type="histogram",
            count=2,
            sum=3.0,
            buckets=[(1.0, 1), (5.0, 2)],
        ),
        Feedback(id="f", ts=6, name="thumbs", score=1.0, trace_id=TRACE),
        Check(id="c", ts=7, name="db", status="pass", duration_ns=10),
    ]


def test_every_kind_round_trips() -> None:
    """Each of the seven kinds encodes and decodes to an equal record."""
    records = every_kind()
    batch = Batch(records=records)  # type: ignore[arg-type]
    assert decode_batch(encode_batch(batch)).records == records
    assert {type(r) for r in records} == set(RECORD_TYPES.values())
    assert set(KINDS) == set(RECORD_TYPES)


def test_batch_defaults_fill_empty_fields() -> None:
    """A batch's service/environment/release fill in records that leave theirs empty."""
    batch = Batch(records=[Event(id="a", ts=1, name="n"), Event(id="b", ts=1, name="n", service="own")],
                  service="api", environment="prod", release="1.2")  # fmt: skip
    first, second = decode_batch(encode_batch(batch)).records
    assert (first.service, first.environment, first.release) == ("api", "prod", "1.2")
    assert second.service == "own"


@pytest.mark.parametrize(
    ("body", "path"),
    [
        (
            b'{"records":[{"kind":"event","id":"a","ts":1,"name":"n"},{"kind":"event","id":"b","ts":"x","name":"n"}]}',
            "$.records[1].ts",
        ),
        (
            b'{"records":[{"kind":"span","id":"a","ts":1,"name":"n","duration_ns":1}]}',
            "$.records[0]",
        ),
        (
            b'{"records":[{"kind":"span","id":"a","ts":1,"name":"n","duration_ns":1,"trace_id":"xyz","span_id":"b7ad6b7169203331"}]}',
            "$.records[0].trace_id",
        ),
        (b'{"records":[{"kind":"bogus","id":"a","ts":1}]}', "$.records[0].kind"),
        (b'{"records":[{"kind":"event","id":"a","ts":-1,"name":"n"}]}', "$.records[0].ts"),
        (b'{"records":[{"kind":"event","id":"","ts":1,"name":"n"}]}', "$.records[0].id"),
        (
            b'{"records":[{"kind":"event","id":"a","ts":1,"name":"n","attributes":{"k":{"nested":1}}}]}',
            "$.records[0].attributes",
        ),
        (b'{"records":{}}', "$.records"),
        (b'{"records":[],"schema":99}', "$.schema"),
    ],
)
def test_invalid_batches_name_the_field(body: bytes, path: str) -> None:
    """A batch that breaks the contract raises RecordError whose message names the field path."""
    with pytest.raises(
        RecordError,
        match=path.replace("[", r"\[").replace("]", r"\]").replace(".", r"\.").replace("$", r"\$"),
    ):
        decode_batch(body)


def test_malformed_json_is_reported_as_such() -> None:
    """Bytes that are not JSON raise RecordError starting with 'malformed JSON'."""
    with pytest.raises(RecordError, match=r"^malformed JSON"):
        decode_batch(b'{"records": [')


def test_record_over_the_size_limit_is_refused() -> None:
    """A record larger than max_record_bytes raises RecordTooLargeError naming its index."""
    batch = Batch(
        records=[
            Event(id="a", ts=1, name="n"),
            Event(id="b", ts=1, name="n", attributes={"big": "x" * 500}),
        ]
    )
    with pytest.raises(RecordTooLargeError, match=r"\$\.records\[1\]"):
        decode_batch(encode_batch(batch), max_record_bytes=300)


def test_schema_version_is_on_the_wire() -> None:
    """A batch with an explicit schema of the current version decodes."""
    assert decode_batch(b'{"records":[],"schema":%d}' % SCHEMA_VERSION).schema == SCHEMA_VERSION
