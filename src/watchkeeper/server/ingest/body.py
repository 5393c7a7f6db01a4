"""Request bodies, as every ingest endpoint reads them: within a size limit while they stream
in, then decompressed within another (gzip bombs), refusing what cannot be read.

Each step raises :class:`IngestError` with the HTTP status and a message saying what was wrong;
the endpoint turns it into its protocol's error answer (native JSON, OTLP ``google.rpc.Status``).
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence

from fastapi import Request

_WBITS = {"gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}
"""zlib window bits per Content-Encoding: gzip framing, and zlib framing for ``deflate``
(RFC 9110 §8.4.1.2; what ``zlib.compress`` makes, as the OpenTelemetry exporter sends it)."""


class IngestError(Exception):
    """A batch refused before anything was stored; becomes an HTTP error."""

    def __init__(self, status: int, detail: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = dict(headers or {})


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 as soon as it passes ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise IngestError(413, f"body of {declared} bytes is over the limit of {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise IngestError(413, f"body is over the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def inflate(body: bytes, limit: int, encoding: str = "gzip") -> bytes:
    """Decompress a gzip (or zlib ``deflate``) body, refusing with 413 once the output passes
    ``limit`` bytes and with 400 when it is not valid.

    >>> inflate(zlib.compress(b"hi"), 10, "deflate")
    b'hi'
    """
    inflater = zlib.decompressobj(wbits=_WBITS[encoding])
    try:
        data = inflater.decompress(body, limit + 1)
        if len(data) > limit or inflater.unconsumed_tail:
            raise IngestError(413, f"decompressed body is over the limit of {limit} bytes")
        data += inflater.flush()
    except zlib.error as exc:
        raise IngestError(400, f"body is not valid {encoding}: {exc}") from None
    if not inflater.eof:
        raise IngestError(400, f"body is not valid {encoding}: the stream is truncated")
    return data


def decompress(
    body: bytes, encoding: str, limit: int, accepted: Sequence[str] = ("gzip",)
) -> bytes:
    """The body decoded per its Content-Encoding (one of ``accepted``, or none), at most
    ``limit`` bytes; 415 for another encoding."""
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        if len(body) > limit:
            raise IngestError(413, f"body is over the limit of {limit} bytes")
        return body
    if encoding not in accepted:
        raise IngestError(
            415, f"Content-Encoding {encoding!r} is not supported; use {' or '.join(accepted)}"
        )
    return inflate(body, limit, encoding)
