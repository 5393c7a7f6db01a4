"""End-to-end ingest: records/s from the SDK's calls to rows committed by a real server, 0 lost.

This process is the app: it records N events and N spans through the public SDK as fast as it
can, flushes, and polls the server's read API until every record is counted. Throughput is
records / (time from the first call to the last row committed). The server (``watchkeeper
serve``) runs in its own process over a fresh DuckDB file, as in production.
"""

from __future__ import annotations

import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import watchkeeper
from harness import WatchkeeperServer, versions, write_result

PER_KIND = 150_000


def main() -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as data, tempfile.TemporaryDirectory() as spool:
        server = WatchkeeperServer(Path(data))
        try:
            watchkeeper.init(
                endpoint=server.url, key=server.ingest_key, service="bench", spool_dir=spool,
                queue_size=2 * PER_KIND,
            )  # fmt: skip
            props = {"plan": "pro", "seats": 3}
            start = time.perf_counter()
            for i in range(PER_KIND):
                watchkeeper.track("message_sent", user_id=f"u{i % 1000}", properties=props)
                with watchkeeper.span("llm.chat", model="gpt-4o", tokens=i):
                    pass
            produced = time.perf_counter()
            flushed = watchkeeper.flush(300)
            acknowledged = time.perf_counter()
            total = 2 * PER_KIND
            stored = server.count("event") + server.count("span")
            stats = watchkeeper.stats()
            watchkeeper.shutdown()
        finally:
            server.stop()
    elapsed = acknowledged - start
    result = {
        "benchmark": "ingest_throughput",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "versions": versions("watchkeeper", "duckdb", "pyarrow", "fastapi", "uvicorn", "msgspec"),
        "method": (
            f"{PER_KIND} events + {PER_KIND} spans recorded through the SDK in one process, flushed; "
            "the server acknowledges only after commit, so the last ack time is the last commit"
        ),
        "records": total,
        "stored": stored,
        "lost": total - stored,
        "flushed": flushed,
        "sdk_stats": stats,
        "producer_seconds": round(produced - start, 3),
        "end_to_end_seconds": round(elapsed, 3),
        "records_per_second": round(total / elapsed),
    }
    write_result("ingest_throughput", result)
    return result


if __name__ == "__main__":
    import json

    print(json.dumps(main(), indent=2))
