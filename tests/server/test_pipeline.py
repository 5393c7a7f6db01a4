"""The ingest pipeline: native batches of errors become issues through the real app, and
commit() acknowledges only what the writer committed."""

from __future__ import annotations

import asyncio
import itertools
import time

import pytest
from tests.conftest import Running, make_event

from watchkeeper.records import Batch, Error, Frame, encode_batch
from watchkeeper.server.ingest.body import IngestError
from watchkeeper.server.pipeline import commit
from watchkeeper.server.writer import Writer
from watchkeeper.store.duckdb import DuckDBStore

_ids = itertools.count()


def make_error(function: str = "charge", *, release: str = "1.0", **fields: object) -> Error:
    frames = [Frame(module="shop.pay", function=function, lineno=next(_ids), in_app=True)]
    return Error(id=f"err-{next(_ids)}", ts=time.time_ns(), type="CardError", message="declined",
                 frames=frames, release=release, **fields)  # type: ignore[arg-type]  # fmt: skip


def post(running: Running, *errors: Error) -> None:
    body = encode_batch(Batch(records=list(errors)))
    response = running.client.post("/api/v1/ingest", content=body,  # type: ignore[attr-defined]
                                   headers=running.ingest_headers())  # fmt: skip
    assert response.status_code == 200, response.text


def stored(running: Running) -> list[dict[str, object]]:
    from watchkeeper.query import catalog

    store = running.app.state.services.store  # type: ignore[attr-defined]
    return catalog.run(store, "errors.events", project=running.project_id, since=0,
                       until=2**63 - 1, limit=100)  # fmt: skip


def test_batches_of_errors_become_issues(running: Running) -> None:
    """Errors from one code path share an issue; another path makes another; rows carry it."""
    post(running, make_error(), make_error(), make_error("refund"))
    meta = running.app.state.services.meta  # type: ignore[attr-defined]
    issues = {i.culprit: i for i in meta.issues(running.project_id)}
    assert set(issues) == {"shop.pay in charge", "shop.pay in refund"}
    assert issues["shop.pay in charge"].times_seen == 2
    assert issues["shop.pay in charge"].severity == "major"
    rows = stored(running)
    assert sorted(r["issue_id"] for r in rows) == sorted(
        [issues["shop.pay in charge"].id] * 2 + [issues["shop.pay in refund"].id]
    )


def test_a_replayed_batch_counts_once(running: Running) -> None:
    """Sending the same batch twice stores and counts its errors once."""
    batch = [make_error(), make_error()]
    post(running, *batch)
    post(running, *batch)
    meta = running.app.state.services.meta  # type: ignore[attr-defined]
    [issue] = meta.issues(running.project_id)
    assert issue.times_seen == 2
    assert len(stored(running)) == 2


def test_a_resolved_issue_regresses_in_a_newer_release(running: Running) -> None:
    """Resolved in 1.0: a 1.0 event keeps it resolved, a 1.1 event reopens it as regressed."""
    post(running, make_error(release="1.0"))
    meta = running.app.state.services.meta  # type: ignore[attr-defined]
    [issue] = meta.issues(running.project_id)
    assert meta.set_issue_status(running.project_id, issue.id, "resolved", "1.0")
    post(running, make_error(release="1.0"))
    assert meta.issue(running.project_id, issue.id).status == "resolved"
    post(running, make_error(release="1.1", handled=False))
    again = meta.issue(running.project_id, issue.id)
    assert again.status == "regressed" and again.last_release == "1.1"
    assert again.severity == "critical"


def test_commit_waits_for_the_writer(store: DuckDBStore) -> None:
    """Records are acknowledged once committed; a stopped writer is a 503 with Retry-After."""
    writer = Writer(store)
    writer.start()
    try:
        assert asyncio.run(commit(writer, None, 1, [make_event(), make_event()])) == 2
    finally:
        writer.stop()
    with pytest.raises(IngestError) as stopped:
        asyncio.run(commit(writer, None, 1, [make_event()]))
    assert (stopped.value.status, stopped.value.headers) == (503, {"Retry-After": "5"})


def test_llm_calls_are_normalised_and_priced(running: Running) -> None:
    """Spans of LLM calls sent with another instrumentation's names are stored with the GenAI
    columns, an error kind, genai-prices' cost and, when they name none, the provider of their
    model; other spans are stored as sent."""
    from datetime import UTC, datetime

    from genai_prices import Usage, calc_price
    from tests.conftest import make_span

    from watchkeeper.query.sql import Statement

    call = make_span("chat gpt-4o-mini", attributes={
        "llm.request.type": "chat", "gen_ai.system": "openai", "gen_ai.request.model": "gpt-4o-mini",
        "gen_ai.usage.prompt_tokens": 1200, "gen_ai.usage.completion_tokens": 80,
        "gen_ai.usage.cache_read_input_tokens": 1000, "feature": "search"})  # fmt: skip
    failed = make_span("chat", status="error", attributes={
        "gen_ai.operation.name": "chat", "gen_ai.provider.name": "anthropic",
        "gen_ai.request.model": "claude-3-5-haiku-20241022", "error.type": "RateLimitError"})  # fmt: skip
    broken = make_span("chat", status="error", attributes={
        "gen_ai.operation.name": "chat", "gen_ai.request.model": "my-model"})  # fmt: skip
    unnamed = make_span("chat", attributes={"gen_ai.request.model": "gpt-4o", "gen_ai.usage.input_tokens": 5})  # fmt: skip
    http = make_span("GET /", attributes={"http.route": "/", "http.response.status_code": 200})
    body = encode_batch(Batch(records=[call, failed, broken, unnamed, http]))
    response = running.client.post("/api/v1/ingest", content=body,  # type: ignore[attr-defined]
                                   headers=running.ingest_headers())  # fmt: skip
    assert response.status_code == 200, response.text

    store = running.app.state.services.store  # type: ignore[attr-defined]
    columns = ("gen_ai_operation", "gen_ai_provider", "gen_ai_request_model", "gen_ai_input_tokens",
               "gen_ai_output_tokens", "gen_ai_cache_read_tokens", "gen_ai_error_type",
               "gen_ai_cost_usd", "gen_ai_cost_source", "feature")  # fmt: skip
    rows = {row["id"]: row for row in store.query(Statement(f"SELECT id, attributes, {', '.join(columns)} FROM spans"))}  # fmt: skip
    expected = calc_price(
        Usage(input_tokens=1200, output_tokens=80, cache_read_tokens=1000), "gpt-4o-mini",
        provider_id="openai", genai_request_timestamp=datetime.fromtimestamp(call.ts / 1e9, UTC),
    ).total_price  # fmt: skip
    stored = rows[call.id]
    assert [stored[c] for c in columns[:7]] == ["chat", "openai", "gpt-4o-mini", 1200, 80, 1000, None]  # fmt: skip
    assert stored["gen_ai_cost_usd"] == pytest.approx(float(expected))
    assert (stored["gen_ai_cost_source"], stored["feature"]) == ("computed", "search")
    assert stored["attributes"]["gen_ai.usage.prompt_tokens"] == 1200
    assert rows[failed.id]["gen_ai_error_type"] == "rate_limit"
    assert rows[failed.id]["gen_ai_cost_source"] == "computed"
    assert (rows[broken.id]["gen_ai_error_type"], rows[broken.id]["gen_ai_cost_source"]) == ("other", "unpriced")  # fmt: skip
    assert rows[broken.id]["gen_ai_cost_usd"] is None
    assert (rows[unnamed.id]["gen_ai_provider"], rows[unnamed.id]["gen_ai_cost_source"]) == ("openai", "computed")  # fmt: skip
    assert all(rows[http.id][c] is None for c in columns)
    assert rows[http.id]["attributes"] == http.attributes
