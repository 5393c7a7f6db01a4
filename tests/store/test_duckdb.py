"""The telemetry store: migrations, idempotent writes, queries, retention, the file lock."""

from __future__ import annotations

import subprocess
import sys
from importlib import resources
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
    versions = store.query(Statement("SELECT version FROM schema_migrations ORDER BY version"))
    files = resources.files("watchkeeper.store") / "schema" / "duckdb"
    numbers = sorted(int(f.name[:4]) for f in files.iterdir() if f.name.endswith(".sql"))
    assert [row["version"] for row in versions] == numbers


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


def test_logs_and_metrics_round_trip(store: Store) -> None:
    """Log and metric records are stored with every field; histogram buckets come back as lists."""
    from watchkeeper.records import Log, Metric

    line = Log(id="l1", ts=5, body="boom", severity_text="ERROR", severity_number=17, logger="app",
               attributes={"exception.type": "ValueError"})  # fmt: skip
    sample = Metric(id="m1", ts=6, name="latency_seconds", type="histogram", count=3, sum=1.5,
                    buckets=[(0.5, 2), (2.5, 3)], unit="s")  # fmt: skip
    assert store.write([(1, [line, sample])]) == 2
    (log_row,) = catalog.run(store, "records.list.log", project=1, limit=5, **ALL_TIME)
    assert (log_row["body"], log_row["severity_number"], log_row["logger"]) == ("boom", 17, "app")
    (metric_row,) = catalog.run(store, "records.list.metric", project=1, limit=5, **ALL_TIME)
    assert metric_row["buckets"] == [[0.5, 2], [2.5, 3]]
    assert (metric_row["count"], metric_row["sum"], metric_row["unit"]) == (3, 1.5, "s")


def test_http_columns_come_from_attributes(store: Store) -> None:
    """Spans get http_method/route/status_code columns from current or older attribute names;
    an unusable value leaves the column empty instead of refusing the record."""
    spans = [
        make_span(
            attributes={
                "http.request.method": "GET",
                "http.route": "/a/{id}",
                "http.response.status_code": 404,
            }
        ),
        make_span(attributes={"http.method": "POST", "http.status_code": "503"}),
        make_span(attributes={"http.response.status_code": "teapot", "http.route": ["odd"]}),
    ]
    assert store.write([(1, spans)]) == 3
    rows = store.query(
        Statement("SELECT http_method, http_route, http_status_code FROM spans ORDER BY id")
    )
    assert [tuple(r.values()) for r in rows] == [
        ("GET", "/a/{id}", 404),
        ("POST", None, 503),
        (None, None, None),
    ]


def test_llm_fields_become_columns_and_bad_numbers_become_null(store: Store) -> None:
    """GenAI attributes fill the gen_ai_* columns (ints, floats, text); a NaN cost or a
    non-numeric token count is stored as NULL rather than refusing the span."""
    good = make_span(
        attributes={
            "gen_ai.provider.name": "openai",
            "gen_ai.request.model": "gpt-4o",
            "gen_ai.usage.input_tokens": 120,
            "gen_ai.usage.output_tokens": "30",
            "gen_ai.response.time_to_first_chunk": 0.25,
            "gen_ai.usage.cost": 0.0015,
            "watchkeeper.cost_source": "computed",
            "feature": "summarise",
        }
    )
    bad = make_span(
        attributes={"gen_ai.usage.input_tokens": "many", "gen_ai.usage.cost": float("nan")}
    )
    store.write([(1, [good, bad])])
    rows = {
        row["id"]: row
        for row in store.query(
            Statement(
                "SELECT id, gen_ai_provider, gen_ai_request_model, gen_ai_input_tokens,"
                " gen_ai_output_tokens, gen_ai_ttft_s, gen_ai_cost_usd, gen_ai_cost_source,"
                " feature FROM spans"
            )
        )
    }
    assert rows[good.id] == {
        "id": good.id,
        "gen_ai_provider": "openai",
        "gen_ai_request_model": "gpt-4o",
        "gen_ai_input_tokens": 120,
        "gen_ai_output_tokens": 30,
        "gen_ai_ttft_s": 0.25,
        "gen_ai_cost_usd": 0.0015,
        "gen_ai_cost_source": "computed",
        "feature": "summarise",
    }
    assert rows[bad.id]["gen_ai_input_tokens"] is None
    assert rows[bad.id]["gen_ai_cost_usd"] is None


def test_repriceable_spans_and_set_span_costs(store: Store) -> None:
    """LLM calls not reported come back in (ts, project, id) chunks within the filters; new costs
    set both columns and attributes, a None cost removing the attribute."""
    from watchkeeper.records import Span
    from watchkeeper.store.base import CostUpdate

    def call(ts: int, source: str, cost: float | None = None) -> Span:
        attributes = {"gen_ai.request.model": "m", "watchkeeper.cost_source": source, "x.y": [1, 2]}
        if cost is not None:
            attributes["gen_ai.usage.cost"] = cost
        return make_span("chat", ts=ts, attributes=attributes)

    a, b, c = call(100, "computed", 0.5), call(200, "unpriced"), call(200, "reported", 0.1)
    d, other = call(300, "computed", 0.25), call(150, "computed", 0.5)
    store.write([(1, [a, b, c, d, make_span("GET /", ts=250)]), (2, [other])])

    def ids(**filters: object) -> list[str]:
        found = store.repriceable_spans(**{"project": None, "since": None, "until": None, "after": None, "limit": 10, **filters})  # type: ignore[arg-type]  # fmt: skip
        return [row["id"] for row in found]

    assert ids() == [a.id, other.id, b.id, d.id]
    assert ids(limit=2) == [a.id, other.id]
    assert ids(after=(150, 2, other.id)) == [b.id, d.id]
    assert ids(project=1, since=150, until=300) == [b.id]
    [row] = store.repriceable_spans(project=2, since=None, until=None, after=None, limit=5)
    assert (row["ts"], row["gen_ai_cost_usd"], row["gen_ai_cost_source"]) == (150, 0.5, "computed")
    assert row["attributes"]["x.y"] == [1, 2]

    changed = store.set_span_costs(
        [CostUpdate(1, a.id, 100, None, "unpriced"), CostUpdate(1, b.id, 200, 0.75, "computed"),
         CostUpdate(1, d.id, 999, 9.0, "computed")]  # wrong ts: no such row
    )  # fmt: skip
    assert changed == 2
    rows = {r["id"]: r for r in store.query(Statement("SELECT id, attributes, gen_ai_cost_usd, gen_ai_cost_source FROM spans"))}  # fmt: skip
    assert (rows[a.id]["gen_ai_cost_usd"], rows[a.id]["gen_ai_cost_source"]) == (None, "unpriced")
    assert "gen_ai.usage.cost" not in rows[a.id]["attributes"]
    assert rows[a.id]["attributes"]["watchkeeper.cost_source"] == "unpriced"
    assert rows[a.id]["attributes"]["x.y"] == [1, 2]
    assert rows[b.id]["attributes"]["gen_ai.usage.cost"] == 0.75
    assert (rows[b.id]["gen_ai_cost_usd"], rows[b.id]["gen_ai_cost_source"]) == (0.75, "computed")
    assert rows[d.id]["gen_ai_cost_usd"] == 0.25
    assert store.set_span_costs([]) == 0
