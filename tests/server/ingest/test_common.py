"""The steps every ingest endpoint shares: decompression within limits and the writer's commit."""

from __future__ import annotations

import asyncio
import gzip
import zlib

import pytest
from tests.conftest import make_event

from watchkeeper.server.ingest.common import IngestError, commit, decompress, inflate
from watchkeeper.server.writer import Writer
from watchkeeper.store.duckdb import DuckDBStore


@pytest.mark.parametrize(
    ("encoding", "compress"), [("gzip", gzip.compress), ("deflate", zlib.compress)]
)
def test_inflate_gzip_and_deflate(encoding: str, compress: object) -> None:
    """gzip and zlib-framed deflate bodies come back as they were."""
    assert inflate(compress(b"hello" * 100), 1_000, encoding) == b"hello" * 100  # type: ignore[operator]


def test_inflate_refuses_bombs_and_broken_streams() -> None:
    """Output past the limit is 413; a truncated or foreign stream is 400 naming the encoding."""
    with pytest.raises(IngestError, match="decompressed body is over the limit of 100") as bomb:
        inflate(gzip.compress(b" " * 10_000), 100)
    assert bomb.value.status == 413
    for body, encoding in ((gzip.compress(b"x" * 100)[:-9], "gzip"), (b"plain", "deflate")):
        with pytest.raises(IngestError, match=f"not valid {encoding}") as broken:
            inflate(body, 1_000, encoding)
        assert broken.value.status == 400


def test_decompress_checks_encoding_and_size() -> None:
    """No encoding passes within the limit; over it is 413; an encoding not accepted is 415."""
    assert decompress(b"raw", " Identity ", 10) == b"raw"
    with pytest.raises(IngestError, match="over the limit of 2 bytes") as large:
        decompress(b"raw", "", 2)
    assert large.value.status == 413
    with pytest.raises(IngestError, match=r"'deflate' is not supported; use gzip$") as other:
        decompress(zlib.compress(b"raw"), "deflate", 10)
    assert other.value.status == 415
    assert decompress(zlib.compress(b"raw"), "deflate", 10, ("gzip", "deflate")) == b"raw"


def test_commit_waits_for_the_writer(store: DuckDBStore) -> None:
    """Records are acknowledged once committed; a stopped writer is a 503 with Retry-After."""
    writer = Writer(store)
    writer.start()
    try:
        assert asyncio.run(commit(writer, 1, [make_event(), make_event()])) == 2
    finally:
        writer.stop()
    with pytest.raises(IngestError) as stopped:
        asyncio.run(commit(writer, 1, [make_event()]))
    assert (stopped.value.status, stopped.value.headers) == (503, {"Retry-After": "5"})
