"""The whole spine with real parts: the SDK over HTTP to ``watchkeeper serve``, into DuckDB, out
through the read API. Nothing acknowledged is lost, nothing replayed is stored twice."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

from tests.e2e.conftest import Server

import watchkeeper


def wait_for_count(server: Server, expected: int, kind: str = "event", timeout: float = 60) -> int:
    deadline = time.monotonic() + timeout
    seen = server.count(kind)
    while seen < expected and time.monotonic() < deadline:
        time.sleep(0.2)
        seen = server.count(kind)
    return seen


def test_20000_events_sent_are_20000_counted(server: Server, tmp_path: Path) -> None:
    """20,000 tracked events and 500 spans arrive, each counted exactly once."""
    client = watchkeeper.init(
        endpoint=server.url, key=server.ingest_key, service="e2e", spool_dir=str(tmp_path / "spool")
    )
    try:
        for i in range(20_000):
            watchkeeper.track("message_sent", user_id=f"u{i % 97}", properties={"i": i})
        for i in range(500):
            with watchkeeper.span("llm.chat", model="gpt-4o", i=i):
                pass
        assert watchkeeper.flush(60)
        stats = watchkeeper.stats()
    finally:
        client.shutdown()
    assert server.count("event") == 20_000
    assert server.count("span") == 500
    assert stats["sent"] == 20_500 and stats["dropped"] == 0 and stats["failed"] == 0


def test_server_down_then_up_delivers_everything_once(server: Server, tmp_path: Path) -> None:
    """Events tracked while the server is down are spooled, then delivered once it is back."""
    server.stop()
    client = watchkeeper.init(
        endpoint=server.url, key=server.ingest_key, service="e2e", spool_dir=str(tmp_path / "spool"),
        max_retries=1, retry_backoff=0.05, flush_interval=0.2,
    )  # fmt: skip
    try:
        for i in range(3_000):
            watchkeeper.track("offline", properties={"i": i})
        watchkeeper.flush(10)
        assert watchkeeper.stats()["spooled"] == 3_000
        assert list((tmp_path / "spool").rglob("*")), "nothing was spooled to disk"
        server.start()
        assert wait_for_count(server, 3_000) == 3_000
        for _ in range(10):  # more sends and replays must not duplicate anything
            watchkeeper.track("online")
            watchkeeper.flush(10)
        assert wait_for_count(server, 3_010) == 3_010
        time.sleep(1)
        assert server.count("event") == 3_010
        assert watchkeeper.stats()["replayed"] == 3_000
    finally:
        client.shutdown()


APP = """
import sys, watchkeeper
watchkeeper.init(endpoint=sys.argv[1], key=sys.argv[2], spool_dir=sys.argv[3], service="app",
                 max_retries=1, retry_backoff=0.05)
for i in range(int(sys.argv[4])):
    watchkeeper.track("from_app", properties={"i": i})
watchkeeper.flush(float(sys.argv[5]))
print(watchkeeper.stats())
"""


def test_spool_left_by_an_exited_process_is_replayed_by_the_next(
    server: Server, tmp_path: Path
) -> None:
    """An app that exits while the server is down leaves a spool; the next process replays it."""
    spool = str(tmp_path / "spool")
    app = [sys.executable, "-c", textwrap.dedent(APP), server.url, server.ingest_key, spool]
    server.stop()
    first = subprocess.run([*app, "1000", "5"], capture_output=True, text=True, timeout=60)
    assert first.returncode == 0, first.stderr
    assert "'spooled': 1000" in first.stdout
    server.start()
    second = subprocess.run([*app, "0", "30"], capture_output=True, text=True, timeout=60)
    assert second.returncode == 0, second.stderr
    assert "'replayed': 1000" in second.stdout
    assert server.count("event") == 1000
