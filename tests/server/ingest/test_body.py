"""The steps every ingest endpoint shares: decompression within limits and the writer's commit."""

from __future__ import annotations

import gzip
import zlib

import pytest

from watchkeeper.server.ingest.body import IngestError, decompress, inflate


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
