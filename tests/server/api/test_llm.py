"""GET /api/v1/llm/summary and /llm/budget: a read token (or a dashboard session) sees its
project's LLM calls, totals and breakdowns, and the month's spend against the budget."""

from __future__ import annotations

import time
from typing import Any

import pytest
from tests.conftest import Running, make_span
from tests.dashboard.conftest import form_token

from watchkeeper.query.llm import month_bounds, project_month_end
from watchkeeper.records import Span

HOUR = 3600 * 10**9


def call(provider: str, model: str, *, ago: int = 0, cost: float | None = None,
         error: str | None = None, tokens: int = 0, now: int) -> Span:  # fmt: skip
    """An LLM call span ``ago`` ns before ``now``."""
    attributes: dict[str, Any] = {"gen_ai.provider.name": provider, "gen_ai.request.model": model,
                                  "gen_ai.operation.name": "chat"}  # fmt: skip
    if tokens:
        attributes |= {"gen_ai.usage.input_tokens": tokens, "gen_ai.usage.output_tokens": tokens}
    if cost is not None:
        attributes["gen_ai.usage.cost"] = cost
    if error:
        attributes["error.type"] = error
    return make_span(f"chat {model}", ts=now - ago, status="error" if error else "ok",
                     attributes=attributes)  # fmt: skip


def seed(running: Running) -> tuple[int, list[Span], Span]:
    """Calls of the last hour and one two days old; another project's call."""
    now = time.time_ns()
    recent = [
        call("openai", "gpt-4o", cost=0.5, tokens=100, now=now),
        call("openai", "gpt-4o", cost=0.25, tokens=50, ago=HOUR // 2, now=now),
        call("gcp.gemini", "gemini-2.5-flash", error="rate_limit", now=now),
        call("gcp.gemini", "gemini-2.5-flash", cost=0.1, tokens=10, now=now),
        call("acme", "house-model", tokens=70, now=now),
    ]
    old = call("openai", "gpt-4o", cost=5.0, tokens=1000, ago=48 * HOUR, now=now)
    store = running.app.state.services.store
    store.write([(running.project_id, [*recent, old])])
    store.write([(running.project_id + 1, [call("openai", "gpt-4o", cost=9.0, now=now)])])
    return now, recent, old


def test_summary_covers_the_last_day_by_default(running: Running) -> None:
    """Totals, providers, models and error kinds of the last 24 hours, for the token's project."""
    _, recent, _ = seed(running)
    response = running.client.get("/api/v1/llm/summary", headers=running.read_headers())
    assert response.status_code == 200, response.text
    body = response.json()
    totals = body["totals"]
    costs = [s.attributes.get("gen_ai.usage.cost") for s in recent]
    assert totals["calls"] == len(recent) and totals["errors"] == 1
    assert totals["cost_usd"] == pytest.approx(sum(c for c in costs if c is not None))
    assert totals["unpriced_calls"] == 1
    providers = {p["provider"]: p for p in body["providers"]}
    assert providers["gcp.gemini"]["success_pct"] == 50.0
    assert providers["openai"]["calls"] == 2
    assert body["models"][0]["model"] == "gpt-4o"
    assert body["error_kinds"] == [
        {**body["error_kinds"][0], "provider": "gcp.gemini", "error_type": "rate_limit", "count": 1}
    ]


def test_window_and_filters(running: Running) -> None:
    """since reaches the older call; a provider or model filter narrows every part."""
    seed(running)
    get = lambda query: running.client.get(
        f"/api/v1/llm/summary?{query}", headers=running.read_headers()
    ).json()
    assert get("since=7d")["totals"]["calls"] == 6
    assert get("since=7d&until=1d")["totals"]["cost_usd"] == 5.0
    gemini = get("provider=gcp.gemini")
    assert gemini["totals"]["calls"] == 2 and [p["provider"] for p in gemini["providers"]] == [
        "gcp.gemini"
    ]
    assert get("model=house-model")["models"][0]["cost_usd"] is None  # unknown, not $0


@pytest.mark.parametrize(
    ("query", "status", "field"),
    [("since=yesterday", 400, "since"), ("since=1h&until=2h", 400, "until"),
     ("provider=" + "x" * 300, 422, "provider"), ("limit=0", 422, "limit")],
)  # fmt: skip
def test_bad_parameters_name_the_field(
    running: Running, query: str, status: int, field: str
) -> None:
    """A bad time, an over-long filter or limit is refused naming it."""
    response = running.client.get(f"/api/v1/llm/summary?{query}", headers=running.read_headers())
    assert response.status_code == status and field in response.text


def test_a_token_is_required(running: Running) -> None:
    """Without a token (or session) the answer is 401; an ingest key is not a read token."""
    assert running.client.get("/api/v1/llm/summary").status_code == 401
    ingest = running.client.get("/api/v1/llm/budget", headers=running.ingest_headers())
    assert ingest.status_code == 401 and "ingest key" in ingest.text


def test_a_dashboard_session_may_ask(running: Running) -> None:
    """A logged-in user asks about a project of theirs; another project is a 404."""
    seed(running)
    meta = running.app.state.services.meta
    user = meta.create_user("ada@example.com", "correct-horse-battery")
    meta.grant(user.id, running.project_id, "viewer")
    client = running.client
    token = form_token(client.get("/login").text)
    client.post("/login", data={"email": "ada@example.com",
                                "password": "correct-horse-battery", "csrf_token": token})  # fmt: skip
    mine = client.get("/api/v1/llm/summary?project=default")
    assert mine.status_code == 200 and mine.json()["totals"]["calls"] == 5
    meta.ensure_project("other")
    assert client.get("/api/v1/llm/summary?project=other").status_code == 404


def test_budget_reports_the_month(running: Running) -> None:
    """This UTC month's spend, the budget, the share used and the month-end projection."""
    now, recent, old = seed(running)
    running.app.state.services.meta.set_budget(running.project_id, 20.0)
    start, end = month_bounds(now)
    month = [s for s in (*recent, old) if s.ts >= start]
    spent = sum(s.attributes.get("gen_ai.usage.cost") or 0 for s in month)
    body = running.client.get("/api/v1/llm/budget", headers=running.read_headers()).json()
    after = time.time_ns()
    assert (body["month_start"], body["month_end"]) == (start, end)
    assert body["spent_usd"] == pytest.approx(spent) and body["budget_usd"] == 20.0
    assert body["used_pct"] == pytest.approx(spent / 20 * 100)
    assert project_month_end(spent, after) <= body["projected_usd"] <= project_month_end(spent, now)
    running.app.state.services.meta.set_budget(running.project_id, None)
    cleared = running.client.get("/api/v1/llm/budget", headers=running.read_headers()).json()
    assert cleared["budget_usd"] is None and cleared["used_pct"] is None
