from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

import watchkeeper
from watchkeeper.sdk.integrations.sqlalchemy import instrument_sqlalchemy
from watchkeeper.testing import capture


def test_queries_are_client_spans_without_their_values(tmp_path: Path) -> None:
    """Each statement is a span under the current one, with the system, the operation and
    the statement as sent (placeholders), never the parameter values."""
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'app.db'}")
    instrument_sqlalchemy(engine)
    instrument_sqlalchemy(engine)  # twice changes nothing
    with capture() as captured, watchkeeper.span("handler"), engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE users (id INTEGER, email TEXT)"))
        conn.execute(sa.text("INSERT INTO users VALUES (:id, :email)"), {"id": 1, "email": "a@b.c"})
        rows = conn.execute(sa.text("SELECT email FROM users WHERE id = :id"), {"id": 1}).all()
    assert rows == [("a@b.c",)]
    queries = [span for span in captured.spans if span.span_kind == "client"]
    (handler,) = [span for span in captured.spans if span.name == "handler"]
    assert [q.name for q in queries] == ["CREATE", "INSERT", "SELECT"]
    assert all(q.parent_span_id == handler.span_id for q in queries)
    insert = queries[1]
    assert insert.attributes["db.system.name"] == "sqlite"
    assert insert.attributes["db.operation.name"] == "INSERT"
    assert insert.attributes["db.query.text"] == "INSERT INTO users VALUES (?, ?)"
    assert "a@b.c" not in str([q.attributes for q in queries])
    engine.dispose()


def test_failed_query_is_an_error_and_propagates(tmp_path: Path) -> None:
    """A failing statement marks its span an error; the driver's exception propagates."""
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'app.db'}")
    instrument_sqlalchemy(engine)
    with capture() as captured, pytest.raises(sa.exc.OperationalError), engine.connect() as conn:
        conn.execute(sa.text("SELECT * FROM nowhere"))
    (query,) = [span for span in captured.spans if span.span_kind == "client"]
    assert query.status == "error"
    assert query.attributes["error.type"] == "OperationalError"
    engine.dispose()


def test_query_durations_and_pool_use_are_metrics(tmp_path: Path, sample: Any) -> None:
    """Queries are timed by system and operation; checkouts report the pool's use."""
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'app.db'}", pool_size=3)
    instrument_sqlalchemy(engine, name="app-db")
    before = sample(
        "db_client_operation_duration_seconds_count",
        db_system_name="sqlite",
        db_operation_name="SELECT",
    )
    with capture():
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
            used = sample("db_client_connections_usage", pool_name="app-db", state="used")
        after = sample("db_client_connections_usage", pool_name="app-db", state="used")
    assert (
        sample(
            "db_client_operation_duration_seconds_count",
            db_system_name="sqlite",
            db_operation_name="SELECT",
        )
        == before + 1
    )
    assert (used, after) == (1, 0)
    assert sample("db_client_connections_max", pool_name="app-db") == 3
    engine.dispose()
