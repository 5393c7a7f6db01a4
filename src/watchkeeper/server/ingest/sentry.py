"""Sentry compatibility: apps that use a Sentry SDK send here by changing only their DSN.

``POST /api/{project_id}/envelope/`` takes an envelope (develop-docs/sdk/data-model/envelopes):
a header line, then items, each a header line and a payload of ``length`` bytes or up to the next
newline. The older ``POST /api/{project_id}/store/`` takes one event as JSON. The DSN is
``http(s)://<ingest key>@<host>[:port]/<project id>`` (``watchkeeper keys create --format dsn``);
the key comes from ``X-Sentry-Auth: Sentry sentry_key=…``, the ``sentry_key`` query parameter or
the envelope header's ``dsn``, and must belong to the project of the path (401 unknown key, 403
another project's). Bodies may be gzip, deflate or br, within the native limits.

``event`` items become errors, ``transaction`` items spans and ``log`` items logs
(sentry_mapping.py); every other item type (attachments, sessions, client reports, check-ins,
profiles, replays, unknown ones) is accepted and dropped, counted in
``app.state.sentry_dropped``. Answers are what the SDK understands (sentry_sdk/transport.py):
200 ``{"id": event_id}``, 400 for a malformed envelope (nothing stored), 413 over a limit, and
429 with ``Retry-After`` and ``X-Sentry-Rate-Limits`` when the writer is full, so the SDK backs
off instead of dropping. Browser SDKs get CORS headers and preflight answers.
"""

from __future__ import annotations

import collections
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import urlsplit

import brotli  # type: ignore[import-untyped]  # no stubs or py.typed
from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from watchkeeper.meta.store import KEY_PREFIXES, MetaStore, secret_hash
from watchkeeper.records import Record
from watchkeeper.server.auth import key_cache
from watchkeeper.server.ingest import sentry_mapping
from watchkeeper.server.ingest.body import IngestError, decompress, read_body
from watchkeeper.server.pipeline import commit
from watchkeeper.server.settings import Settings

router = APIRouter(tags=["sentry"])

ENCODINGS: Final = ("gzip", "deflate", "br")
CORS_HEADERS: Final = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Expose-Headers": "X-Sentry-Rate-Limits, Retry-After",
}
PREFLIGHT_HEADERS: Final = CORS_HEADERS | {
    "Access-Control-Allow-Methods": "POST, OPTIONS",
    "Access-Control-Allow-Headers": (
        "Content-Type, Content-Encoding, X-Sentry-Auth, Authorization, sentry-trace, baggage"
    ),
    "Access-Control-Max-Age": "3600",
}
DROPPED_TYPES: Final = frozenset(
    {"attachment", "session", "sessions", "client_report", "check_in", "profile",
     "profile_chunk", "replay_event", "replay_recording", "replay_video", "span",
     "trace_metric", "statsd", "metric_buckets", "user_report", "feedback"}
)  # fmt: skip
"""Known item types that are accepted and dropped (any unknown type is too)."""


@dataclass
class Envelope:
    """A parsed envelope: its header and ``(item header, payload)`` pairs."""

    header: dict[str, Any]
    items: list[tuple[dict[str, Any], bytes]] = field(default_factory=list)


def _json_object(line: bytes, what: str) -> dict[str, Any]:
    try:
        found = json.loads(line)
    except (ValueError, RecursionError) as exc:
        raise IngestError(400, f"malformed envelope: the {what} is not JSON: {exc}") from None
    if not isinstance(found, dict):
        raise IngestError(400, f"malformed envelope: the {what} is not a JSON object")
    return found


def parse_envelope(data: bytes) -> Envelope:
    """Split an envelope into its header and items; 400 naming what is malformed.

    >>> parse_envelope(b'{}\\n{"type":"event","length":2}\\n{}\\n{"type":"x"}\\nab').items
    [({'type': 'event', 'length': 2}, b'{}'), ({'type': 'x'}, b'ab')]
    """
    end = data.find(b"\n")
    end = len(data) if end < 0 else end
    envelope = Envelope(_json_object(data[:end], "envelope header"))
    pos = end + 1
    while pos < len(data):
        end = data.find(b"\n", pos)
        end = len(data) if end < 0 else end
        line = data[pos:end]
        pos = end + 1
        if not line.strip():
            continue  # a blank line between items, or the final newline
        number = len(envelope.items) + 1
        header = _json_object(line, f"header of item {number}")
        if not isinstance(header.get("type"), str):
            raise IngestError(400, f"malformed envelope: item {number} has no type")
        length = header.get("length")
        if length is None:
            end = data.find(b"\n", pos)
            end = len(data) if end < 0 else end
            payload, pos = data[pos:end], end + 1
        elif isinstance(length, int) and not isinstance(length, bool) and length >= 0:
            if pos + length > len(data):
                raise IngestError(
                    400, f"malformed envelope: item {number} is shorter than its length {length}"
                )
            payload, pos = data[pos : pos + length], pos + length
            if data[pos : pos + 1] == b"\n":
                pos += 1
        else:
            raise IngestError(400, f"malformed envelope: item {number} has an invalid length")
        envelope.items.append((header, payload))
    return envelope


def unbrotli(body: bytes, limit: int) -> bytes:
    """Decompress a brotli body, refusing with 413 once the output passes ``limit`` bytes."""
    decompressor = brotli.Decompressor()
    try:
        out = [decompressor.process(body, output_buffer_limit=limit + 1)]
        size = len(out[0])
        while size <= limit and not decompressor.can_accept_more_data():
            out.append(decompressor.process(b"", output_buffer_limit=limit + 1 - size))
            size += len(out[-1])
            if not out[-1]:
                break
        if size > limit:
            raise IngestError(413, f"decompressed body is over the limit of {limit} bytes")
        if not decompressor.is_finished():
            raise IngestError(400, "body is not valid br: the stream is truncated")
    except brotli.error as exc:
        raise IngestError(400, f"body is not valid br: {exc}") from None
    return b"".join(out)


def body_data(body: bytes, encoding: str, settings: Settings) -> bytes:
    """The body decoded per its Content-Encoding, within the decompressed limit."""
    if encoding.strip().lower() == "br":
        return unbrotli(body, settings.max_decompressed_bytes)
    return decompress(body, encoding, settings.max_decompressed_bytes, ENCODINGS)


def _payload(header: Mapping[str, Any], payload: bytes, settings: Settings) -> Any:
    kind = header["type"]
    if len(payload) > settings.max_record_bytes:
        raise IngestError(
            413, f"the {kind} item is {len(payload)} bytes, over the limit of "
            f"{settings.max_record_bytes}",
        )  # fmt: skip
    try:
        return json.loads(payload)
    except (ValueError, RecursionError) as exc:
        raise IngestError(400, f"malformed envelope: the {kind} item is not JSON: {exc}") from None


def to_records(
    envelope: Envelope, settings: Settings, dropped: collections.Counter[str]
) -> list[Record]:
    """The records of an envelope's items; other item types are counted in ``dropped``."""
    found: list[Record] = []
    event_id = str(envelope.header.get("event_id") or "")
    for header, payload in envelope.items:
        kind = header["type"]
        try:
            if kind == "event":
                found.append(
                    sentry_mapping.event_to_error(_payload(header, payload, settings), event_id)
                )
            elif kind == "transaction":
                found += sentry_mapping.transaction_to_spans(_payload(header, payload, settings))
            elif kind == "log":
                found += sentry_mapping.log_items(_payload(header, payload, settings))
            else:
                dropped[kind if kind in DROPPED_TYPES else "unknown"] += 1
        except sentry_mapping.MappingError as exc:
            raise IngestError(400, f"malformed envelope: {exc}") from None
    return found


def sentry_key(request: Request) -> str | None:
    """The key of ``X-Sentry-Auth`` (or ``Authorization: Sentry …``), else of the query."""
    for name in ("x-sentry-auth", "authorization"):
        header = request.headers.get(name, "")
        scheme, _, rest = header.strip().partition(" ")
        if scheme.lower() == "sentry":
            for part in rest.split(","):
                key, _, value = part.strip().partition("=")
                if key.strip() == "sentry_key" and value.strip():
                    return value.strip()
    return request.query_params.get("sentry_key") or None


def dsn_key(envelope: Envelope) -> str | None:
    """The public key of the envelope header's ``dsn``."""
    dsn = envelope.header.get("dsn")
    return (urlsplit(dsn).username or None) if isinstance(dsn, str) else None


async def check_key(request: Request, key: str | None, project_id: int) -> None:
    """401 for a missing or unknown key, 403 for one of another project."""
    if not key:
        raise IngestError(
            401, "missing Sentry key: send X-Sentry-Auth: Sentry sentry_key=<ingest key>, "
            "?sentry_key=, or a dsn in the envelope header",
        )  # fmt: skip
    if not key.startswith(KEY_PREFIXES["ingest"]):
        raise IngestError(
            401, f"the DSN's key is not a watchkeeper ingest key ({KEY_PREFIXES['ingest']}…); "
            "make a DSN with `watchkeeper keys create --kind ingest --format dsn`",
        )  # fmt: skip
    cache = key_cache(request)
    digest = secret_hash(key)
    found, project = cache.get(digest, "ingest")
    if not found:
        meta: MetaStore = request.app.state.services.meta
        project = await run_in_threadpool(meta.resolve_key, key, "ingest")
        cache.put(digest, "ingest", project)
    if project is None:
        raise IngestError(401, "unknown or revoked ingest key in the DSN")
    if project != project_id:
        raise IngestError(
            403, f"the DSN's key belongs to project {project}, not to project {project_id} "
            "of the DSN's path: check the DSN",
        )  # fmt: skip


def answer(
    status: int, body: Mapping[str, Any], headers: Mapping[str, str] | None = None
) -> Response:
    return Response(
        json.dumps(body), status, headers={**CORS_HEADERS, **(headers or {})},
        media_type="application/json",
    )  # fmt: skip


def _error(exc: IngestError) -> Response:
    headers = dict(exc.headers)
    status = exc.status
    if status == 503:
        # The SDK keeps nothing on a 503; on a 429 it backs off for Retry-After (all categories).
        status = 429
        retry = headers.get("Retry-After", "5")
        headers["X-Sentry-Rate-Limits"] = f"{retry}::organization:server_busy"
    return answer(status, {"detail": exc.detail}, headers)


def _project_id(raw: str) -> int:
    if not raw.isdigit():
        raise IngestError(404, f"the DSN's project id {raw!r} is not a number")
    return int(raw)


@router.options("/api/{project_id}/envelope/", include_in_schema=False)
@router.options("/api/{project_id}/store/", include_in_schema=False)
async def preflight(project_id: str) -> Response:
    """CORS preflight for browser SDKs."""
    return Response(status_code=200, headers=PREFLIGHT_HEADERS)


_RESPONSES: Final[dict[int | str, dict[str, Any]]] = {
    200: {"description": 'Stored: {"id": "<event_id>"}'},
    400: {"description": "Malformed envelope, JSON or compression; nothing stored"},
    401: {"description": "Missing or unknown key"},
    403: {"description": "The key belongs to another project than the DSN's"},
    413: {"description": "Body, decompressed body or one item over its limit"},
    429: {"description": "The writer is busy; retry after Retry-After (X-Sentry-Rate-Limits)"},
}


@router.post("/api/{project_id}/envelope/", summary="Sentry envelope", responses=_RESPONSES)
async def envelope(request: Request, project_id: str) -> Response:
    """Store a Sentry envelope's events, transactions and logs. Answers after the commit."""
    return await _ingest(request, project_id, legacy=False)


@router.post("/api/{project_id}/store/", summary="Sentry event (legacy)", responses=_RESPONSES)
async def store(request: Request, project_id: str) -> Response:
    """Store one Sentry event (JSON), as older SDKs send it."""
    return await _ingest(request, project_id, legacy=True)


async def _ingest(request: Request, raw_project: str, *, legacy: bool) -> Response:
    services = request.app.state.services
    settings: Settings = services.settings
    dropped: collections.Counter[str] = getattr(request.app.state, "sentry_dropped", None) or (
        collections.Counter()
    )
    request.app.state.sentry_dropped = dropped
    try:
        project_id = _project_id(raw_project)
        key = sentry_key(request)
        if key is not None:  # refuse a bad key before reading the body
            await check_key(request, key, project_id)
        body = await read_body(request, settings.max_body_bytes)
        encoding = request.headers.get("content-encoding", "")
        data = await run_in_threadpool(body_data, body, encoding, settings)
        if legacy:
            parsed = Envelope({}, [({"type": "event"}, data)])
        else:
            parsed = await run_in_threadpool(parse_envelope, data)
        if key is None:
            await check_key(request, dsn_key(parsed), project_id)
        found = await run_in_threadpool(to_records, parsed, settings, dropped)
        if found:
            await commit(services.writer, services.pipeline, project_id, found)
    except IngestError as exc:
        return _error(exc)
    event_id = parsed.header.get("event_id") or next(
        (r.id for r in found if r.__struct_config__.tag == "error"), None
    )
    return answer(200, {"id": event_id} if event_id else {})
