"""llm/reprice.py: stored calls priced again after the prices file changed: columns and
attributes updated, reported costs untouched, unpriced models listed, in chunks."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import make_span

from watchkeeper.llm import reprice as reprice_module
from watchkeeper.llm.prices import PriceBook
from watchkeeper.llm.reprice import reprice
from watchkeeper.query.sql import Statement
from watchkeeper.records import Span
from watchkeeper.server.pipeline import Pipeline
from watchkeeper.store.duckdb import DuckDBStore

DAY = 86_400 * 10**9
NOW = time.time_ns()
RULE = "- match: {{starts_with: acme-}}\n  input_mtok: {input}\n  output_mtok: 20\n"
NEW_MODEL = "- match: {equals: newmodel-x}\n  input_mtok: 1\n  output_mtok: 1\n"


def prices_file(path: Path, text: str, version: int) -> Path:
    path.write_text(text)
    os.utime(path, ns=(version * 10**9, version * 10**9))
    return path


def llm_span(model: str, *, ts: int = NOW, **attributes: Any) -> Span:
    """An OpenLLMetry-style chat span of 1M input and 1M output tokens."""
    return make_span(
        "chat",
        ts=ts,
        attributes={
            "llm.request.type": "chat",
            "gen_ai.system": "openai",
            "gen_ai.request.model": model,
            "gen_ai.usage.prompt_tokens": 1_000_000,
            "gen_ai.usage.completion_tokens": 1_000_000,
            **attributes,
        },
    )


def ingest(store: DuckDBStore, book: PriceBook, project: int, *spans: Span) -> None:
    """Store spans as ingest does: the pipeline prices them, the writer stores them."""
    Pipeline(meta=None, prices=book).price_calls(spans)  # type: ignore[arg-type]
    store.write([(project, list(spans))])


def rows(store: DuckDBStore) -> dict[str, dict[str, Any]]:
    found = store.query(
        Statement("SELECT id, gen_ai_cost_usd, gen_ai_cost_source, attributes FROM spans")
    )
    return {row["id"]: row for row in found}


@pytest.fixture
def stored(store: DuckDBStore, tmp_path: Path) -> tuple[DuckDBStore, PriceBook, dict[str, Span]]:
    """Calls priced by a rule (now, 10 days ago, in project 2), by genai-prices, reported,
    unpriced, and an HTTP span."""
    book = PriceBook(prices_file(tmp_path / "prices.yaml", RULE.format(input=10), 1))
    spans = {
        "rule": llm_span("acme-large"),
        "old": llm_span("acme-large", ts=NOW - 10 * DAY),
        "genai": llm_span("gpt-4o"),
        "reported": llm_span("acme-small", **{"operation.cost": 0.125}),
        "unpriced": llm_span("newmodel-x"),
        "http": make_span(
            "GET /", attributes={"http.route": "/", "http.response.status_code": 200}
        ),
    }
    ingest(store, book, 1, *spans.values())
    spans["other"] = llm_span("acme-large")
    ingest(store, book, 2, spans["other"])
    return store, book, spans


def test_costs_follow_a_changed_prices_file(
    stored: tuple[DuckDBStore, PriceBook, dict[str, Span]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """After the rule's price changes and a rule for the unpriced model is added, reprice
    updates columns and attributes of those calls only, in chunks."""
    store, book, spans = stored
    before = rows(store)
    assert before[spans["rule"].id]["gen_ai_cost_usd"] == pytest.approx(30.0)
    assert before[spans["unpriced"].id]["gen_ai_cost_source"] == "unpriced"
    assert before[spans["unpriced"].id]["gen_ai_cost_usd"] is None
    assert book.prices_file is not None
    prices_file(book.prices_file, RULE.format(input=40) + NEW_MODEL, 2)
    monkeypatch.setattr(reprice_module, "CHUNK", 2)

    result = reprice(store, book)

    assert (result.updated, result.unpriced, result.models_unpriced) == (4, 0, [])
    assert result.checked == 5  # every call but the reported one (and not the HTTP span)
    after = rows(store)
    for name in ("rule", "old", "other"):
        row = after[spans[name].id]
        assert (row["gen_ai_cost_usd"], row["gen_ai_cost_source"]) == (pytest.approx(60.0), "computed")  # fmt: skip
        assert row["attributes"]["gen_ai.usage.cost"] == pytest.approx(60.0)
        assert row["attributes"]["watchkeeper.cost_source"] == "computed"
        assert row["attributes"]["gen_ai.request.model"] == "acme-large"
    newly = after[spans["unpriced"].id]
    assert (newly["gen_ai_cost_usd"], newly["gen_ai_cost_source"]) == (pytest.approx(2.0), "computed")  # fmt: skip
    assert newly["attributes"]["gen_ai.usage.cost"] == pytest.approx(2.0)
    for name in ("genai", "reported", "http"):
        assert after[spans[name].id] == before[spans[name].id]
    assert after[spans["reported"].id]["gen_ai_cost_source"] == "reported"
    assert after[spans["reported"].id]["gen_ai_cost_usd"] == 0.125


def test_filters_and_unpriced_models(
    stored: tuple[DuckDBStore, PriceBook, dict[str, Span]],
) -> None:
    """project and since limit what is repriced; a call whose rule went away becomes unpriced,
    its cost attribute removed, and its model is listed."""
    store, book, spans = stored
    assert book.prices_file is not None
    prices_file(book.prices_file, "", 2)

    result = reprice(store, book, project=1, since=NOW - DAY)

    assert result.updated == 1
    assert (result.unpriced, result.models_unpriced) == (2, [("openai", "acme-large"), ("openai", "newmodel-x")])  # fmt: skip
    after = rows(store)
    gone = after[spans["rule"].id]
    assert (gone["gen_ai_cost_usd"], gone["gen_ai_cost_source"]) == (None, "unpriced")
    assert "gen_ai.usage.cost" not in gone["attributes"]
    assert gone["attributes"]["watchkeeper.cost_source"] == "unpriced"
    assert after[spans["old"].id]["gen_ai_cost_usd"] == pytest.approx(30.0)
    assert after[spans["other"].id]["gen_ai_cost_usd"] == pytest.approx(30.0)
    assert reprice(store, book, project=1, since=NOW - DAY).updated == 0, "nothing left to change"
