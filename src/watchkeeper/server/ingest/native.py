"""The native ingest endpoint: ``POST /api/v1/ingest`` takes a batch of records (records.py).

Checks run cheapest first and each failure answers a 4xx that says what was wrong, before
anything is stored: the key (401), the body's size while it streams in (413), its encoding (400,
415), its decompressed size (413), the contract (400 for malformed JSON, 422 naming the field,
413 naming a record over the per-record limit). A valid batch goes to the single writer and the
answer waits for its commit; a full writer answers 503 with ``Retry-After``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from starlette.concurrency import run_in_threadpool

from watchkeeper.records import Batch, RecordError, RecordTooLargeError, decode_batch
from watchkeeper.server.auth import ingest_project
from watchkeeper.server.ingest.body import IngestError, decompress, read_body
from watchkeeper.server.pipeline import commit
from watchkeeper.server.settings import Settings
from watchkeeper.store.base import TABLES

router = APIRouter(tags=["ingest"])


def decode(body: bytes, encoding: str, settings: Settings) -> Batch:
    """Decompress and validate a body into a batch of storable records."""
    body = decompress(body, encoding, settings.max_decompressed_bytes)
    try:
        batch = decode_batch(body, max_record_bytes=settings.max_record_bytes)
    except RecordTooLargeError as exc:
        raise IngestError(413, str(exc)) from None
    except RecordError as exc:
        status = 400 if str(exc).startswith("malformed JSON") else 422
        raise IngestError(status, str(exc)) from None
    for index, record in enumerate(batch.records):
        kind = record.__struct_config__.tag
        if kind not in TABLES:
            raise IngestError(
                422,
                f"kind {kind!r} is not stored by this server yet (stored: "
                f"{', '.join(sorted(TABLES))}) - at `$.records[{index}].kind`",
            )
    return batch


@router.post(
    "/api/v1/ingest",
    summary="Ingest a batch of records",
    responses={
        400: {"description": "Malformed JSON or gzip"},
        401: {"description": "Missing, unknown or revoked ingest key"},
        413: {"description": "Body, decompressed body or one record over its limit"},
        415: {"description": "Unsupported Content-Type or Content-Encoding"},
        422: {"description": "A record does not match the contract; the message names the field"},
        503: {"description": "The writer is busy; retry after Retry-After seconds"},
    },
)
async def ingest(
    request: Request, project: Annotated[int, Depends(ingest_project)]
) -> dict[str, Any]:
    """Store a batch (``records.Batch`` as JSON, optionally gzip). Answers after the commit."""
    services = request.app.state.services
    settings: Settings = services.settings
    content_type = request.headers.get("content-type", "application/json").split(";")[0].strip()
    try:
        if content_type != "application/json":
            raise IngestError(
                415, f"Content-Type {content_type!r} is not supported; use application/json"
            )
        body = await read_body(request, settings.max_body_bytes)
        encoding = request.headers.get("content-encoding", "").strip().lower()
        batch = await run_in_threadpool(decode, body, encoding, settings)
        if not batch.records:
            return {"accepted": 0}
        accepted = await commit(services.writer, services.pipeline, project, batch.records)
    except IngestError as exc:
        raise HTTPException(exc.status, exc.detail, headers=exc.headers or None) from None
    return {"accepted": accepted}
