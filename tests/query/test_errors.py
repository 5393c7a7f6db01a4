"""Error queries: per issue counts and users, frequency, events with paging, one event, releases."""

from __future__ import annotations

import itertools

from watchkeeper.query import catalog
from watchkeeper.records import Error
from watchkeeper.store.base import Store

NOW = 1_800_000_000_000_000_000
SECOND = 10**9
_ids = itertools.count()
WINDOW = {"project": 1, "since": NOW, "until": NOW + 3600 * SECOND}


def err(issue: int, *, at: int, user: str = "", release: str = "1.0") -> Error:
    return Error(id=f"err-{next(_ids):06d}", ts=NOW + at * SECOND, type="E", issue_id=issue,
                 user_id=user, release=release)  # fmt: skip


def seed(store: Store) -> None:
    store.write([(1, [
        err(1, at=1, user="u1"), err(1, at=2, user="u1"), err(1, at=3, user="u2", release="1.1"),
        err(2, at=5), err(2, at=65),
    ]), (2, [err(1, at=1)])])  # fmt: skip


def test_by_issue_counts_events_and_users(store: Store) -> None:
    """errors.by_issue: events, distinct non-empty users and last seen per issue, latest first."""
    seed(store)
    rows = catalog.run(store, "errors.by_issue", **WINDOW)
    assert [(r["issue_id"], r["count"], r["users"], r["last_seen"]) for r in rows] == [
        (2, 2, 0, NOW + 65 * SECOND),
        (1, 3, 2, NOW + 3 * SECOND),
    ]
    assert len(catalog.run(store, "errors.by_issue", **WINDOW, limit=1)) == 1


def test_per_bucket_for_one_issue_or_all(store: Store) -> None:
    """errors.per_bucket counts per bucket, optionally for one issue."""
    seed(store)
    rows = catalog.run(store, "errors.per_bucket", **WINDOW, bucket=60 * SECOND)
    assert [r["count"] for r in rows] == [4, 1]
    rows = catalog.run(store, "errors.per_bucket", **WINDOW, bucket=60 * SECOND, issue_id=2)
    assert [r["count"] for r in rows] == [1, 1]


def test_events_newest_first_with_keyset_paging(store: Store) -> None:
    """errors.events pages with before_ts + before_id; errors.event finds one by id."""
    seed(store)
    first = catalog.run(store, "errors.events", **WINDOW, issue_id=1, limit=2)
    assert [r["ts"] for r in first] == [NOW + 3 * SECOND, NOW + 2 * SECOND]
    rest = catalog.run(store, "errors.events", **WINDOW, issue_id=1, limit=2,
                       before_ts=first[-1]["ts"], before_id=first[-1]["id"])  # fmt: skip
    assert [r["ts"] for r in rest] == [NOW + SECOND]
    [one] = catalog.run(store, "errors.event", **WINDOW, id=first[0]["id"])
    assert one["issue_id"] == 1 and one["frames"] == [] and one["handled"] is True


def test_releases_of_an_issue(store: Store) -> None:
    """errors.releases lists an issue's releases oldest first with counts."""
    seed(store)
    rows = catalog.run(store, "errors.releases", **WINDOW, issue_id=1)
    assert [(r["release"], r["count"]) for r in rows] == [("1.0", 2), ("1.1", 1)]
