"""Log queries: search with filters, keyset paging, volume by severity."""

from __future__ import annotations

import itertools

from watchkeeper.query import catalog
from watchkeeper.records import Log
from watchkeeper.store.base import Store

NOW = 1_800_000_000_000_000_000
SECOND = 10**9
_ids = itertools.count()
WINDOW = {"project": 1, "since": NOW, "until": NOW + 3600 * SECOND}


def log(body: str, *, at: int, level: str = "INFO", number: int = 9, **fields: object) -> Log:
    return Log(id=f"log-{next(_ids):06d}", ts=NOW + at * SECOND, body=body, severity_text=level,
               severity_number=number, **fields)  # type: ignore[arg-type]  # fmt: skip


def seed(store: Store) -> None:
    store.write([(1, [
        log("user signed in", at=1, service="api", logger="auth"),
        log("Payment FAILED for order 7", at=2, level="ERROR", number=17, service="api",
            trace_id="ab" * 16, span_id="cd" * 8),
        log("cache miss", at=3, level="DEBUG", number=5, service="worker"),
        log("payment retried", at=4, level="WARN", number=13, service="worker"),
    ]), (2, [log("other project", at=1)])])  # fmt: skip


def bodies(rows: list[dict[str, object]]) -> list[object]:
    return [row["body"] for row in rows]


def test_search_is_newest_first_and_filters(store: Store) -> None:
    """logs.search returns newest first; level, service, trace_id and text narrow it."""
    seed(store)
    search = lambda **f: bodies(catalog.run(store, "logs.search", **WINDOW, limit=50, **f))
    assert search() == [
        "payment retried",
        "cache miss",
        "Payment FAILED for order 7",
        "user signed in",
    ]
    assert search(level=13) == ["payment retried", "Payment FAILED for order 7"]
    assert search(service="worker") == ["payment retried", "cache miss"]
    assert search(text="payment") == ["payment retried", "Payment FAILED for order 7"]
    assert search(text="50%_") == []
    assert search(trace_id="ab" * 16) == ["Payment FAILED for order 7"]
    assert search(logger="auth") == ["user signed in"]


def test_keyset_paging_walks_every_line_once(store: Store) -> None:
    """Pages of 3 following (before_ts, before_id) visit all lines once, in order."""
    store.write([(1, [log(f"line {i}", at=i // 2) for i in range(10)])])
    seen: list[object] = []
    cursor: dict[str, object] = {}
    while True:
        page = catalog.run(store, "logs.search", **WINDOW, limit=3, **cursor)
        if not page:
            break
        seen += bodies(page)
        cursor = {"before_ts": page[-1]["ts"], "before_id": page[-1]["id"]}
    assert sorted(seen) == sorted(f"line {i}" for i in range(10)) and len(seen) == 10


def test_volume_counts_per_bucket_and_severity(store: Store) -> None:
    """logs.volume_per_bucket counts lines by bucket and severity text."""
    seed(store)
    rows = catalog.run(store, "logs.volume_per_bucket", **WINDOW, bucket=60 * SECOND)
    assert {(r["severity_text"], r["count"]) for r in rows} == {
        ("INFO", 1),
        ("ERROR", 1),
        ("DEBUG", 1),
        ("WARN", 1),
    }
    assert catalog.run(store, "logs.count", **WINDOW, level=17) == [{"count": 1}]
