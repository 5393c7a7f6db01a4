"""POST /api/v1/ingest: stores valid batches once, refuses bad ones with a 4xx naming the problem."""

from __future__ import annotations

import gzip

import pytest
from tests.conftest import Running, make_event, make_span

from watchkeeper.records import Batch, encode_batch


def body(*records: object, **batch: str) -> bytes:
    return encode_batch(Batch(records=list(records), **batch))  # type: ignore[arg-type]


def stored(running: Running, kind: str = "event") -> int:
    response = running.client.get(
        f"/api/v1/records/count?kind={kind}", headers=running.read_headers()
    )
    assert response.status_code == 200, response.text
    return int(response.json()["count"])


def test_gzip_batch_is_stored_and_acknowledged(running: Running) -> None:
    """A gzip JSON batch answers 200 with the accepted count and its records are readable."""
    payload = gzip.compress(body(*(make_event() for _ in range(30)), make_span(), service="api"))
    response = running.client.post(
        "/api/v1/ingest",
        content=payload,
        headers=running.ingest_headers() | {"Content-Encoding": "gzip"},
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"accepted": 31}
    assert (stored(running), stored(running, "span")) == (30, 1)


def test_replayed_batch_stores_nothing_twice(running: Running) -> None:
    """Sending the same batch three times is acknowledged each time and stored once."""
    payload = body(*(make_event() for _ in range(10)))
    for _ in range(3):
        assert (
            running.client.post(
                "/api/v1/ingest", content=payload, headers=running.ingest_headers()
            ).status_code
            == 200
        )
    assert stored(running) == 10


BAD_RECORDS = [
    (b'{"records": [{"kind": "event", "id": "a", "ts": 1, "name": "n"},', 400, "malformed JSON"),
    (
        b'{"records": [{"kind": "event", "id": "a", "ts": "yesterday", "name": "n"}]}',
        422,
        r"\$.records\[0\].ts",
    ),
    (b'{"records": [{"kind": "event", "id": "a", "ts": 1}]}', 422, "missing required field `name`"),
    (
        b'{"records": [{"kind": "event", "id": "a", "ts": 1, "name": 5}]}',
        422,
        r"\$.records\[0\].name",
    ),
    (
        b'{"records": [{"kind": "check", "id": "a", "ts": 1, "name": "db", "status": "pass"}]}',
        422,
        "kind 'check' is not stored",
    ),
    (b'{"events": []}', 422, "missing required field `records`"),
]


@pytest.mark.parametrize(("payload", "status", "message"), BAD_RECORDS)
def test_invalid_batches_get_a_4xx_naming_the_field(
    running: Running, payload: bytes, status: int, message: str
) -> None:
    """Malformed JSON and wrong types are refused with a message naming the field; nothing is stored."""
    good_first = payload.replace(
        b'"records": [', b'"records": [{"kind": "event", "id": "ok", "ts": 1, "name": "n"}, ', 1
    )
    for attempt in {payload, good_first}:
        response = running.client.post(
            "/api/v1/ingest", content=attempt, headers=running.ingest_headers()
        )
        assert response.status_code == status, response.text
        assert response.json()["detail"]
        assert __import__("re").search(message, response.json()["detail"].replace("[1]", "[0]"))
    assert stored(running) == 0


def test_bad_gzip_is_a_400(running: Running) -> None:
    """A body that claims gzip but is not gzip answers 400 and stores nothing."""
    for payload in (b"not gzip at all", gzip.compress(body(make_event()))[:-12]):
        response = running.client.post(
            "/api/v1/ingest",
            content=payload,
            headers=running.ingest_headers() | {"Content-Encoding": "gzip"},
        )
        assert response.status_code == 400, response.text
        assert "gzip" in response.json()["detail"]
    assert stored(running) == 0


def test_oversized_bodies_are_413(running: Running) -> None:
    """Over the compressed, the decompressed or the per-record limit answers 413, storing nothing."""
    services = running.app.state.services
    limits = services.settings
    big = body(make_event(attributes={"blob": "x" * 2_000_000}))
    response = running.client.post("/api/v1/ingest", content=big, headers=running.ingest_headers())
    assert response.status_code == 413 and "$.records[0]" in response.json()["detail"]

    bomb = gzip.compress(b" " * (limits.max_decompressed_bytes + 10) + body(make_event()))
    response = running.client.post(
        "/api/v1/ingest",
        content=bomb,
        headers=running.ingest_headers() | {"Content-Encoding": "gzip"},
    )
    assert response.status_code == 413 and "decompressed" in response.json()["detail"]

    huge = b" " * (limits.max_body_bytes + 1)
    response = running.client.post("/api/v1/ingest", content=huge, headers=running.ingest_headers())
    assert response.status_code == 413 and "limit" in response.json()["detail"]
    assert stored(running) == 0


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({}, "Authorization"),
        ({"Authorization": "Bearer wki_wrong"}, "ingest key"),
        ({"Authorization": "Basic abc"}, "Bearer"),
    ],
)
def test_missing_or_wrong_key_is_401(
    running: Running, headers: dict[str, str], message: str
) -> None:
    """Without a valid ingest key the batch is refused with 401 and a message, nothing stored."""
    response = running.client.post(
        "/api/v1/ingest",
        content=body(make_event()),
        headers={"Content-Type": "application/json"} | headers,
    )
    assert response.status_code == 401, response.text
    assert message in response.json()["detail"]
    assert stored(running) == 0


def test_read_token_cannot_ingest(running: Running) -> None:
    """A read token is not an ingest key: 401."""
    response = running.client.post(
        "/api/v1/ingest",
        content=body(make_event()),
        headers={"Authorization": f"Bearer {running.read_token}"},
    )
    assert response.status_code == 401


def test_unsupported_encodings_are_415(running: Running) -> None:
    """A Content-Type other than JSON or a Content-Encoding other than gzip answers 415."""
    response = running.client.post("/api/v1/ingest", content=body(make_event()),
                                   headers=running.ingest_headers() | {"Content-Type": "text/plain"})  # fmt: skip
    assert response.status_code == 415
    response = running.client.post("/api/v1/ingest", content=body(make_event()),
                                   headers=running.ingest_headers() | {"Content-Encoding": "br"})  # fmt: skip
    assert response.status_code == 415 and "gzip" in response.json()["detail"]


def test_full_writer_answers_503_with_retry_after(running: Running) -> None:
    """When the writer's queue is full, ingest answers 503 with Retry-After and stores nothing."""
    writer = running.app.state.services.writer
    writer.queue_records = 0
    writer._queue.append(object())  # something waiting: the queue counts as full
    try:
        response = running.client.post(
            "/api/v1/ingest", content=body(make_event()), headers=running.ingest_headers()
        )
    finally:
        writer._queue.clear()
        writer.queue_records = 200_000
    assert response.status_code == 503
    assert int(response.headers["Retry-After"]) >= 1
    assert stored(running) == 0
