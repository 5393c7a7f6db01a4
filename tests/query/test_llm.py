"""LLM queries over GenAI spans: totals, breakdowns, provider health, cost per day, unpriced models.

Expectations are computed from the seeded calls in Python, not written down by hand.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from tests.conftest import make_span

from watchkeeper.query import catalog
from watchkeeper.query.llm import DAY_NS, month_bounds, project_month_end
from watchkeeper.query.sql import DuckDBDialect
from watchkeeper.records import Span
from watchkeeper.store.base import Store

NOW = 1_800_000_000_000_000_000  # 2027-01-15 08:00 UTC
MINUTE = 60 * 10**9
WINDOW = {"project": 1, "since": NOW - 3 * DAY_NS, "until": NOW + 10 * MINUTE}


@dataclass(frozen=True)
class Call:
    """One seeded LLM call and what the queries should make of it."""

    provider: str
    model: str
    ms: float
    tokens_in: int = 0
    tokens_out: int = 0
    cost: float | None = None
    user: str = ""
    feature: str | None = None
    error: str | None = None
    ttft_s: float | None = None
    cached: int = 0
    reasoning: int = 0
    ago: int = 0  # ns before NOW
    service: str = "api"
    operation: str | None = "chat"

    @property
    def failed(self) -> bool:
        return self.error is not None

    @property
    def unpriced(self) -> bool:
        return self.cost is None and self.tokens_in + self.tokens_out > 0

    def span(self) -> Span:
        attributes: dict[str, object] = {"gen_ai.provider.name": self.provider,
                                         "gen_ai.request.model": self.model}  # fmt: skip
        optional = {
            "gen_ai.operation.name": self.operation,
            "gen_ai.usage.input_tokens": self.tokens_in or None,
            "gen_ai.usage.output_tokens": self.tokens_out or None,
            "gen_ai.usage.cache_read.input_tokens": self.cached or None,
            "gen_ai.usage.reasoning.output_tokens": self.reasoning or None,
            "gen_ai.response.time_to_first_chunk": self.ttft_s,
            "gen_ai.usage.cost": self.cost,
            "watchkeeper.cost_source": "computed" if self.cost is not None else "unpriced",
            "error.type": self.error,
            "feature": self.feature,
            "gen_ai.response.model": None if self.failed else f"{self.model}-2026",
        }
        attributes |= {key: value for key, value in optional.items() if value is not None}
        return make_span(
            f"chat {self.model}",
            duration_ms=self.ms,
            ts=NOW - self.ago,
            status="error" if self.failed else "ok",
            user_id=self.user,
            service=self.service,
            attributes=attributes,
        )


CALLS = (
    Call("openai", "gpt-4o", 800, 1000, 200, 0.0045, user="u1", feature="chat", ttft_s=0.3,
         cached=400),
    Call("openai", "gpt-4o", 1200, 2000, 300, 0.0080, user="u1", feature="chat", ttft_s=0.5),
    Call("openai", "gpt-4o", 30_000, error="timeout", user="u2", feature="chat"),
    Call("openai", "o3-mini", 5000, 500, 900, 0.0045, user="u2", feature="summary",
         reasoning=600, ago=DAY_NS),
    Call("anthropic", "claude-sonnet-4", 2000, 1500, 400, 0.0105, user="u3", feature="chat",
         ttft_s=0.8, ago=2 * DAY_NS),
    Call("gcp.gemini", "gemini-2.5-flash", 300, error="rate_limit", user="u1", feature="summary"),
    Call("gcp.gemini", "gemini-2.5-flash", 250, error="rate_limit", user="u3"),
    Call("gcp.gemini", "gemini-2.5-flash", 900, error="server", user="u3", ago=MINUTE),
    Call("gcp.gemini", "gemini-2.5-flash", 400, 300, 100, 0.0001, user="u3", ago=2 * MINUTE),
    Call("openai", "text-embedding-3-small", 60, 800, operation="embeddings", service="worker"),
    Call("acme", "house-model", 500, 100, 50, user="u4", feature="chat", operation=None),
)  # fmt: skip
"""Openai with a timeout, a failing Gemini, embeddings and an in-house model with no price."""

NOT_CALLS = (
    # An agent span carrying a provider wraps calls already counted; a tool span; plain work.
    make_span("invoke_agent planner", ts=NOW, attributes={
        "gen_ai.operation.name": "invoke_agent", "gen_ai.provider.name": "openai",
        "gen_ai.usage.input_tokens": 3000, "gen_ai.usage.cost": 1.0}),
    make_span("execute_tool search", ts=NOW, attributes={"gen_ai.operation.name": "execute_tool"}),
    make_span("checkout", ts=NOW),
)  # fmt: skip


@pytest.fixture
def seeded(store: Store) -> Store:
    store.write([(1, [*(call.span() for call in CALLS), *NOT_CALLS])])
    store.write([(2, [Call("openai", "gpt-4o", 10, 10, 10, 9.0).span()])])  # another project
    return store


def cost(calls: list[Call]) -> float | None:
    priced = [c.cost for c in calls if c.cost is not None]
    return sum(priced) if priced else None


def quantile(values: list[float], q: float) -> float:
    """Linear interpolation between closest ranks, as quantile_cont."""
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def test_totals_count_calls_tokens_cost_and_latency(seeded: Store) -> None:
    """llm.totals sums model calls only: not agent or tool spans, not other projects."""
    (row,) = catalog.run(seeded, "llm.totals", **WINDOW)
    durations = [c.ms * 1e6 for c in CALLS]
    ttfts = [c.ttft_s * 1e9 for c in CALLS if c.ttft_s is not None]
    errors = sum(c.failed for c in CALLS)
    assert row["calls"] == len(CALLS) and row["errors"] == errors
    assert row["error_pct"] == pytest.approx(100 * errors / len(CALLS))
    assert row["input_tokens"] == sum(c.tokens_in for c in CALLS)
    assert row["output_tokens"] == sum(c.tokens_out for c in CALLS)
    assert row["tokens"] == row["input_tokens"] + row["output_tokens"]
    assert row["cached_tokens"] == sum(c.cached for c in CALLS)
    assert row["reasoning_tokens"] == sum(c.reasoning for c in CALLS)
    assert row["cost_usd"] == pytest.approx(cost(list(CALLS)))
    assert row["unpriced_calls"] == sum(c.unpriced for c in CALLS) == 2
    assert row["users"] == len({c.user for c in CALLS if c.user})
    for q, key in ((0.5, "p50_ns"), (0.95, "p95_ns"), (0.99, "p99_ns")):
        assert row[key] == pytest.approx(quantile(durations, q))
    assert row["ttft_p50_ns"] == pytest.approx(statistics.median(ttfts))
    assert row["ttft_p95_ns"] == pytest.approx(quantile(ttfts, 0.95))


def test_totals_of_an_empty_window_are_zero(seeded: Store) -> None:
    """No calls: counts and cost are 0, not NULL (alerts compare them); percentiles are None."""
    (row,) = catalog.run(seeded, "llm.totals", project=1, since=0, until=1)
    assert (row["calls"], row["errors"], row["cost_usd"], row["unpriced_calls"]) == (0, 0, 0, 0)
    assert row["error_pct"] is None and row["p95_ns"] is None


@pytest.mark.parametrize(
    ("filters", "keep"),
    [
        ({"provider": "gcp.gemini"}, lambda c: c.provider == "gcp.gemini"),
        ({"model": "gpt-4o"}, lambda c: c.model == "gpt-4o"),
        ({"feature": "summary"}, lambda c: c.feature == "summary"),
        ({"user_id": "u3"}, lambda c: c.user == "u3"),
        ({"service": "worker"}, lambda c: c.service == "worker"),
        ({"provider": "openai", "user_id": "u2"}, lambda c: (c.provider, c.user) == ("openai", "u2")),
    ],
)  # fmt: skip
def test_filters_narrow_the_totals(seeded: Store, filters: dict[str, str], keep) -> None:  # type: ignore[no-untyped-def]
    """Each filter (and a combination) keeps just the matching calls."""
    kept = [c for c in CALLS if keep(c)]
    (row,) = catalog.run(seeded, "llm.totals", **WINDOW, **filters)
    assert (row["calls"], row["errors"]) == (len(kept), sum(c.failed for c in kept))
    assert row["cost_usd"] == pytest.approx(cost(kept) or 0.0)


def test_by_provider_gives_success_rate_and_cost(seeded: Store) -> None:
    """llm.by_provider: one row per provider, busiest first, success and error percentages."""
    rows = catalog.run(seeded, "llm.by_provider", **WINDOW)
    providers = sorted({c.provider for c in CALLS},
                       key=lambda p: (-sum(c.provider == p for c in CALLS), p))  # fmt: skip
    assert [row["provider"] for row in rows] == providers
    for row in rows:
        mine = [c for c in CALLS if c.provider == row["provider"]]
        failed = sum(c.failed for c in mine)
        assert (row["calls"], row["errors"]) == (len(mine), failed)
        assert row["success_pct"] == pytest.approx(100 * (len(mine) - failed) / len(mine))
        assert row["error_pct"] + row["success_pct"] == pytest.approx(100)
        assert row["cost_usd"] == pytest.approx(cost(mine))
        assert row["p95_ns"] == pytest.approx(quantile([c.ms * 1e6 for c in mine], 0.95))
        assert row["last_seen"] == NOW - min(c.ago for c in mine)
    (gemini,) = [row for row in rows if row["provider"] == "gcp.gemini"]
    assert gemini["success_pct"] == 25.0


def test_by_model_groups_by_requested_model_and_orders_by_cost(seeded: Store) -> None:
    """A failed call (no response model) shares its model's row; unpriced models have no cost."""
    rows = catalog.run(seeded, "llm.by_model", **WINDOW, limit=100)
    keys = {(c.provider, c.model) for c in CALLS}
    assert {(row["provider"], row["model"]) for row in rows} == keys
    costs = [row["cost_usd"] for row in rows]
    priced = [c for c in costs if c is not None]
    assert priced == sorted(priced, reverse=True) and costs[: len(priced)] == priced
    for row in rows:
        mine = [c for c in CALLS if (c.provider, c.model) == (row["provider"], row["model"])]
        assert row["calls"] == len(mine) and row["errors"] == sum(c.failed for c in mine)
        assert row["tokens"] == sum(c.tokens_in + c.tokens_out for c in mine)
        assert row["cached_tokens"] == sum(c.cached for c in mine)
        assert row["unpriced_calls"] == sum(c.unpriced for c in mine)
        assert row["cost_usd"] == (pytest.approx(cost(mine)) if cost(mine) else None)
    assert len(catalog.run(seeded, "llm.by_model", **WINDOW, limit=2)) == 2


def test_by_user_and_by_feature_sum_cost(seeded: Store) -> None:
    """Cost, tokens and calls per user and per feature ('' where none was set)."""
    for query, key, attribute in (("llm.by_user", "user_id", "user"),
                                  ("llm.by_feature", "feature", "feature")):  # fmt: skip
        rows = {row[key]: row for row in catalog.run(seeded, query, **WINDOW)}
        groups: dict[str, list[Call]] = {}
        for call in CALLS:
            groups.setdefault(getattr(call, attribute) or "", []).append(call)
        assert set(rows) == set(groups)
        for name, mine in groups.items():
            assert rows[name]["calls"] == len(mine)
            assert rows[name]["tokens"] == sum(c.tokens_in + c.tokens_out for c in mine)
            assert rows[name]["errors"] == sum(c.failed for c in mine)
            assert rows[name]["cost_usd"] == (pytest.approx(cost(mine)) if cost(mine) else None)


def test_per_bucket_and_provider_per_bucket(seeded: Store) -> None:
    """Calls per minute overall and per provider; success_pct answers "is Gemini failing now?"."""
    window = {"project": 1, "since": NOW - 5 * MINUTE, "until": NOW + MINUTE}
    recent = [c for c in CALLS if c.ago < 5 * MINUTE]
    rows = catalog.run(seeded, "llm.per_bucket", **window, bucket=MINUTE)
    assert sum(row["calls"] for row in rows) == len(recent)
    assert sum(row["errors"] for row in rows) == sum(c.failed for c in recent)
    assert sum(row["tokens"] for row in rows) == sum(c.tokens_in + c.tokens_out for c in recent)
    health = catalog.run(seeded, "llm.provider_per_bucket", **window, bucket=MINUTE)
    now_gemini = [r for r in health if (r["bucket"], r["provider"]) == (NOW, "gcp.gemini")]
    assert [(r["calls"], r["errors"], r["success_pct"]) for r in now_gemini] == [(2, 2, 0.0)]
    assert {(r["provider"], r["success_pct"]) for r in health if r["bucket"] == NOW - 2 * MINUTE} \
        == {("gcp.gemini", 100.0)}  # fmt: skip


def test_error_kinds_by_provider(seeded: Store) -> None:
    """Failed calls counted by provider and error kind, most frequent first."""
    rows = catalog.run(seeded, "llm.error_kinds", **WINDOW)
    expected: dict[tuple[str, str], int] = {}
    for call in CALLS:
        if call.error:
            key = (call.provider, call.error)
            expected[key] = expected.get(key, 0) + 1
    assert {(r["provider"], r["error_type"]): r["count"] for r in rows} == expected
    assert rows[0]["provider"] == "gcp.gemini" and rows[0]["error_type"] == "rate_limit"
    assert rows[0]["last_model"] == "gemini-2.5-flash"


def test_latency_by_model_has_ttft(seeded: Store) -> None:
    """Duration and time-to-first-token percentiles per model, slowest p95 first."""
    rows = catalog.run(seeded, "llm.latency_by_model", **WINDOW)
    p95s = [row["p95_ns"] for row in rows]
    assert p95s == sorted(p95s, reverse=True)
    (gpt4o,) = [row for row in rows if row["model"] == "gpt-4o"]
    ttfts = [c.ttft_s * 1e9 for c in CALLS if c.model == "gpt-4o" and c.ttft_s]
    assert gpt4o["ttft_p50_ns"] == pytest.approx(statistics.median(ttfts))
    (house,) = [row for row in rows if row["model"] == "house-model"]
    assert house["ttft_p50_ns"] is None


def test_cost_per_day_uses_utc_days(seeded: Store) -> None:
    """Cost and calls per UTC day, each day's start at midnight UTC."""
    rows = catalog.run(seeded, "llm.cost_per_day", **WINDOW)
    days: dict[int, list[Call]] = {}
    for call in CALLS:
        days.setdefault((NOW - call.ago) // DAY_NS * DAY_NS, []).append(call)
    assert [row["day"] for row in rows] == sorted(days)
    for row in rows:
        assert datetime.fromtimestamp(row["day"] / 1e9, UTC).time().isoformat() == "00:00:00"
        assert row["calls"] == len(days[row["day"]])
        assert row["cost_usd"] == pytest.approx(cost(days[row["day"]]))


def test_unpriced_lists_models_that_used_tokens_without_a_price(seeded: Store) -> None:
    """Calls with usage and no cost are listed by model; failures without usage are not."""
    rows = catalog.run(seeded, "llm.unpriced", **WINDOW)
    unpriced = [c for c in CALLS if c.unpriced]
    assert {(r["provider"], r["model"], r["calls"]) for r in rows} == {
        (c.provider, c.model, 1) for c in unpriced
    }
    (house,) = [r for r in rows if r["model"] == "house-model"]
    assert house["response_model"] == "house-model-2026" and house["tokens"] == 150


def test_bad_filter_values_are_refused() -> None:
    """A filter that is not text is refused naming it."""
    with pytest.raises(catalog.QueryError, match="'provider' must be a string"):
        catalog.statement("llm.totals", DuckDBDialect(), **WINDOW, provider=3)


def test_month_bounds_and_projection() -> None:
    """The UTC month around a time, and month-to-date spend scaled to the whole month."""
    start, end = month_bounds(NOW)
    assert datetime.fromtimestamp(start / 1e9, UTC) == datetime(2027, 1, 1, tzinfo=UTC)
    assert datetime.fromtimestamp(end / 1e9, UTC) == datetime(2027, 2, 1, tzinfo=UTC)
    elapsed = (NOW - start) / (end - start)
    assert project_month_end(12.0, NOW) == pytest.approx(12.0 / elapsed)
    assert project_month_end(5.0, start) == 5.0  # nothing elapsed yet: no extrapolation
    feb_start, feb_end = month_bounds(end)
    assert (feb_end - feb_start) // DAY_NS == 28
