"""The telemetry store: migrations, idempotent writes, queries, retention, the file lock."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from tests.conftest import make_event, make_span

from watchkeeper.query import catalog
from watchkeeper.query.sql import Statement
from watchkeeper.store.base import Store, StoreBusyError
from watchkeeper.store.duckdb import DuckDBStore

ALL_TIME = {"since": 0, "until": 2**63 - 1}


def count(store: Store, kind: str, project: int = 1) -> int:
    return int(catalog.run(store, f"records.count.{kind}", project=project, **ALL_TIME)[0]["count"])


def test_migrate_twice_is_harmless(store: Store) -> None:
    """A second migrate() applies nothing and keeps the data."""
    store.write([(1, [make_event()])])
    store.migrate()
    assert count(store, "event") == 1
    versions = store.query(Statement("SELECT version FROM schema_migrations"))
    assert versions == [{"version": 1}]


def test_write_returns_new_rows_and_skips_known_ids(store: Store) -> None:
    """Writing the same records again stores nothing twice; duplicates inside a batch collapse."""
    events = [make_event() for _ in range(50)]
    spans = [make_span() for _ in range(20)]
    assert store.write([(1, [*events, *spans])]) == 70
    assert store.write([(1, [*events[:10], make_event()]), (1, spans)]) == 1
    assert store.write([(1, [events[0], events[0]])]) == 0
    duplicate = make_event()
    assert store.write([(1, [duplicate, duplicate])]) == 1
    assert (count(store, "event"), count(store, "span")) == (52, 20)


def test_same_id_in_another_project_is_a_different_record(store: Store) -> None:
    """Idempotence is per project: two projects may use the same record id."""
    event = make_event()
    assert store.write([(1, [event]), (2, [event])]) == 2
    assert (count(store, "event", 1), count(store, "event", 2)) == (1, 1)


def test_rows_come_back_with_their_fields(store: Store) -> None:
    """A written span reads back with every field, attributes decoded to a dict."""
    span = make_span("db.query", duration_ms=3, user_id="u7", status="error", status_message="boom",
                     attributes={"db.system": "postgresql", "rows": 3, "ok": False, "tags": ["a", "b"]})  # fmt: skip
    store.write([(4, [span])])
    (row,) = catalog.run(store, "records.list.span", project=4, limit=10, **ALL_TIME)
    assert row["attributes"] == {
        "db.system": "postgresql",
        "rows": 3,
        "ok": False,
        "tags": ["a", "b"],
    }
    assert (row["id"], row["ts"], row["trace_id"], row["duration_ns"]) == (
        span.id,
        span.ts,
        span.trace_id,
        3_000_000,
    )
    assert (row["status"], row["status_message"], row["user_id"]) == ("error", "boom", "u7")


def test_a_failed_write_stores_nothing(store: Store) -> None:
    """When one kind's insert fails, the whole transaction (every kind) is rolled back."""
    store.query(Statement("DROP TABLE spans"))
    with pytest.raises(Exception, match="spans"):
        store.write([(1, [make_event(), make_span()])])
    assert count(store, "event") == 0


def test_delete_before_removes_only_older_records(store: Store) -> None:
    """delete_before drops records older than the cut and keeps the rest."""
    store.write([(1, [make_event(ts=100), make_event(ts=200), make_event(ts=300)])])
    assert store.delete_before("event", 250) == 2
    assert count(store, "event") == 1


def test_second_process_gets_a_clear_busy_error(tmp_path: Path) -> None:
    """Opening the file while another process holds it raises StoreBusyError naming the holder."""
    path = tmp_path / "t.duckdb"
    DuckDBStore(path).close()
    holder = subprocess.Popen(
        [sys.executable, "-c", f"from watchkeeper.store.duckdb import DuckDBStore; s = DuckDBStore({str(path)!r}); print('open', flush=True); input()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "open"
        with pytest.raises(StoreBusyError, match=r"in use by another process.*PID"):
            DuckDBStore(path)
    finally:
        holder.communicate("\n", timeout=10)
