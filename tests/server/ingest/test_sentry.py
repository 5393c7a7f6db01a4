"""The Sentry endpoints in-process: envelopes made by the real sentry-sdk and by hand, every
encoding, every way to send the key, malformed envelopes, CORS and the SDK's back-off answer."""

from __future__ import annotations

import gzip
import json
import zlib
from typing import Any

import brotli  # type: ignore[import-untyped]
import pytest
import sentry_sdk
from fastapi.testclient import TestClient
from tests.conftest import Running
from tests.server.ingest.test_sentry_mapping import payloads, sentry

from watchkeeper.server.ingest.sentry import parse_envelope
from watchkeeper.server.writer import WriterBusyError

EVENT_ID = "0123456789abcdef0123456789abcdef"
TRACE_ID = "a" * 32


def envelope(*items: tuple[dict[str, Any], dict[str, Any] | bytes], **header: Any) -> bytes:
    lines = [json.dumps(header).encode()]
    for item_header, payload in items:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        lines += [json.dumps({**item_header, "length": len(body)}).encode(), body]
    return b"\n".join(lines) + b"\n"


def event(event_id: str = EVENT_ID, **fields: Any) -> dict[str, Any]:
    return {"event_id": event_id, "exception": {"values": [{"type": "KeyError", "value": "'x'"}]},
            **fields}  # fmt: skip


def post(running: Running, body: bytes, *, key: str | None = None, project: int | None = None,
         path: str = "envelope", **headers: str) -> Any:  # fmt: skip
    client: TestClient = running.client  # type: ignore[assignment]
    auth = {"X-Sentry-Auth": f"Sentry sentry_key={key or running.ingest_key}, sentry_version=7"}
    return client.post(
        f"/api/{project or running.project_id}/{path}/", content=body,
        headers=auth | {"Content-Type": "application/x-sentry-envelope"} | headers,
    )  # fmt: skip


def stored(running: Running, kind: str) -> list[dict[str, Any]]:
    client: TestClient = running.client  # type: ignore[assignment]
    found = client.get(f"/api/v1/records?kind={kind}&limit=1000", headers=running.read_headers())
    assert found.status_code == 200, found.text
    return list(found.json()["records"])


def test_sdk_envelope_is_stored_once(running: Running) -> None:
    """An envelope the real SDK made is stored; sending it again stores nothing more."""
    with sentry() as capture:
        try:
            {}["missing"]
        except KeyError as exc:
            sentry_sdk.capture_exception(exc)
    (env,) = capture.envelopes
    for _ in range(2):
        answer = post(running, env.serialize())
        assert answer.status_code == 200, answer.text
        assert answer.json() == {"id": payloads(capture, "event")[0]["event_id"]}
        assert answer.headers["access-control-allow-origin"] == "*"
    (error,) = stored(running, "error")
    assert error["type"] == "KeyError" and error["id"] == answer.json()["id"]


@pytest.mark.parametrize(
    "encoding, compress",
    [("gzip", gzip.compress), ("deflate", zlib.compress), ("br", brotli.compress),
     ("identity", lambda b: b)],
)  # fmt: skip
def test_encodings(running: Running, encoding: str, compress: Any) -> None:
    """gzip, deflate, br and identity bodies are all read."""
    body = envelope(({"type": "event"}, event()), event_id=EVENT_ID)
    answer = post(running, compress(body), **{"Content-Encoding": encoding})
    assert answer.status_code == 200, answer.text
    assert len(stored(running, "error")) == 1


def test_key_in_query_or_envelope_dsn(running: Running) -> None:
    """?sentry_key= (browser SDKs) and the envelope header's dsn both authenticate."""
    client: TestClient = running.client  # type: ignore[assignment]
    url = f"/api/{running.project_id}/envelope/"
    body = envelope(({"type": "event"}, event("1" * 32)))
    answer = client.post(f"{url}?sentry_key={running.ingest_key}&sentry_version=7", content=body,
                         headers={"Content-Type": "text/plain"})  # fmt: skip
    assert answer.status_code == 200, answer.text
    dsn = f"http://{running.ingest_key}@testserver/{running.project_id}"
    answer = client.post(url, content=envelope(({"type": "event"}, event("2" * 32)), dsn=dsn))
    assert answer.status_code == 200, answer.text
    assert {e["id"] for e in stored(running, "error")} == {"1" * 32, "2" * 32}


def test_auth_failures(running: Running) -> None:
    """No key or an unknown one: 401; a key of another project: 403; nothing stored."""
    client: TestClient = running.client  # type: ignore[assignment]
    body = envelope(({"type": "event"}, event()))
    answer = client.post(f"/api/{running.project_id}/envelope/", content=body)
    assert answer.status_code == 401 and "missing Sentry key" in answer.json()["detail"]
    assert post(running, body, key="wki_" + "x" * 32).status_code == 401
    assert post(running, body, key=running.read_token).status_code == 401
    other = post(running, body, project=running.project_id + 1)
    assert other.status_code == 403 and "belongs to project" in other.json()["detail"]
    assert stored(running, "error") == []


@pytest.mark.parametrize(
    "body, message",
    [(b"", "envelope header"), (b"{}\n{not json\n", "header of item 2"),
     (b'{}\n{"length":2}\n{}', "no type"), (b'{}\n{"type":"event","length":99}\n{}', "shorter"),
     (b'{}\n{"type":"event"}\n[1]', "not a JSON object"), (b'{}\n{"type":"event"}\n{', "not JSON")],
)  # fmt: skip
def test_malformed_envelope_is_refused_whole(running: Running, body: bytes, message: str) -> None:
    """A malformed envelope answers 400 naming the fault; its good items are not stored."""
    good = envelope(({"type": "event"}, event()))
    answer = post(running, good + body.partition(b"\n")[2] if body.startswith(b"{}") else body)
    assert answer.status_code == 400 and message in answer.json()["detail"], answer.text
    assert stored(running, "error") == []


def test_other_items_are_accepted_and_dropped(running: Running) -> None:
    """Sessions, attachments, client reports, unknown types: 200, counted, not stored."""
    body = envelope(({"type": "session"}, {"sid": "x"}), ({"type": "attachment"}, b"raw\nbytes"),
                    ({"type": "client_report"}, {}), ({"type": "future_thing"}, {}))  # fmt: skip
    answer = post(running, body)
    assert answer.status_code == 200 and answer.json() == {}
    dropped = running.app.state.sentry_dropped  # type: ignore[attr-defined]
    assert dropped["session"] == dropped["attachment"] == dropped["unknown"] == 1


def test_transaction_and_store_endpoint(running: Running) -> None:
    """A transaction item becomes spans; /store/ takes a bare event."""
    tx = {"type": "transaction", "transaction": "GET /", "start_timestamp": 1.0, "timestamp": 2.0,
          "contexts": {"trace": {"trace_id": TRACE_ID, "span_id": "b" * 16, "op": "http.server"}},
          "spans": [{"span_id": "c" * 16, "parent_span_id": "b" * 16, "op": "db", "description":
                     "SELECT 1", "start_timestamp": 1.2, "timestamp": 1.5}]}  # fmt: skip
    assert post(running, envelope(({"type": "transaction"}, tx))).status_code == 200
    spans = {s["span_id"]: s for s in stored(running, "span")}
    assert spans["c" * 16]["parent_span_id"] == "b" * 16
    assert spans["b" * 16]["duration_ns"] == 1_000_000_000
    answer = post(running, json.dumps(event()).encode(), path="store")
    assert answer.status_code == 200 and answer.json() == {"id": EVENT_ID}


def test_cors_preflight(running: Running) -> None:
    client: TestClient = running.client  # type: ignore[assignment]
    answer = client.options(f"/api/{running.project_id}/envelope/")
    assert answer.status_code == 200
    assert answer.headers["access-control-allow-origin"] == "*"
    assert "X-Sentry-Auth" in answer.headers["access-control-allow-headers"]


def test_busy_writer_answers_429_with_rate_limits(
    running: Running, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A full writer answers what makes the SDK back off: 429, Retry-After, X-Sentry-Rate-Limits."""

    def busy(*_: object) -> None:
        raise WriterBusyError(retry_after=7)

    monkeypatch.setattr(running.app.state.services.writer, "submit", busy)  # type: ignore[attr-defined]
    answer = post(running, envelope(({"type": "event"}, event())))
    assert answer.status_code == 429
    assert answer.headers["retry-after"] == "7"
    assert answer.headers["x-sentry-rate-limits"].startswith("7::")


def test_too_large(running: Running) -> None:
    """A body or item over its limit answers 413."""
    settings = running.app.state.services.settings  # type: ignore[attr-defined]
    big = event(extra={"blob": "x" * settings.max_record_bytes})
    assert post(running, envelope(({"type": "event"}, big))).status_code == 413
    bomb = brotli.compress(b"{}\n" + b" " * (settings.max_decompressed_bytes + 10))
    assert post(running, bomb, **{"Content-Encoding": "br"}).status_code == 413


def test_parse_envelope_newline_items() -> None:
    """Items without length run to the next newline; a final newline is optional."""
    parsed = parse_envelope(b'{"event_id":"e"}\n{"type":"a"}\n{"x":1}\n{"type":"b","length":0}\n')
    assert parsed.header == {"event_id": "e"}
    assert parsed.items == [({"type": "a"}, b'{"x":1}'), ({"type": "b", "length": 0}, b"")]
