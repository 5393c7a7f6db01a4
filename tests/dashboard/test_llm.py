"""The LLM page: tiles, provider health, cost per day, the budget panel and its admin form
(CSRF-protected, 400 on bad values), the breakdown tables and their downloads."""

from __future__ import annotations

import csv
import io
import itertools
import re
import time
from dataclasses import dataclass

import pytest
from tests.dashboard.conftest import SECOND, Dashboard, charts, form_token, span, table_rows

from watchkeeper.dashboard.pages.table import format_usd
from watchkeeper.llm.prices import PriceBook
from watchkeeper.query.llm import month_bounds, project_month_end
from watchkeeper.records import Span

_ids = itertools.count()


@dataclass(frozen=True)
class Call:
    """An LLM call to seed, as an instrumentation records it."""

    provider: str
    model: str
    ms: float = 500
    tokens: tuple[int, int] = (0, 0)
    cost: float | None = None
    error: str | None = None
    user: str = ""
    feature: str | None = None
    service: str = "api"
    ttft_s: float | None = None
    ago_s: float = 30

    def span(self, now: int) -> Span:
        n = next(_ids)
        attributes: dict[str, object] = {
            "gen_ai.operation.name": "chat", "gen_ai.provider.name": self.provider,
            "gen_ai.request.model": self.model,
        }  # fmt: skip
        optional = {
            "gen_ai.usage.input_tokens": self.tokens[0] or None,
            "gen_ai.usage.output_tokens": self.tokens[1] or None,
            "gen_ai.usage.cost": self.cost,
            "gen_ai.response.time_to_first_chunk": self.ttft_s,
            "error.type": self.error,
            "feature": self.feature,
        }
        attributes |= {key: value for key, value in optional.items() if value is not None}
        return Span(
            id=f"llm-{n}", ts=now - int(self.ago_s * SECOND), name=f"chat {self.model}",
            trace_id=f"{n:032x}", span_id=f"{n + 1:016x}", duration_ns=int(self.ms * 1e6),
            status="error" if self.error else "ok", span_kind="client", user_id=self.user,
            service=self.service, attributes=attributes,
        )  # fmt: skip


CALLS = (
    Call("openai", "gpt-4o", 800, (1000, 200), 1.25, user="u1", feature="support", ttft_s=0.3),
    Call("openai", "gpt-4o", 1200, (2000, 300), 2.5, user="u2", feature="support", ttft_s=0.5),
    Call("openai", "gpt-4o-mini", 300, (500, 100), 0.25, user="u1", feature="search",
         ago_s=1800),
    Call("gcp.gemini", "gemini-2.5-flash", 200, error="rate_limit", user="u2", feature="search"),
    Call("gcp.gemini", "gemini-2.5-flash", 250, error="rate_limit", user="u3"),
    Call("gcp.gemini", "gemini-2.5-flash", 900, error="server", user="u3", ago_s=60),
    Call("gcp.gemini", "gemini-2.5-flash", 400, (300, 100), 0.5, user="u3", ago_s=2400),
    Call("acme", "house-model", 500, (100, 50), user="u4", feature="support", service="worker"),
)  # fmt: skip
"""OpenAI healthy, Gemini failing right now (its only success was 40 minutes ago), and an
in-house model without a price."""


def fill(dashboard: Dashboard) -> int:
    """Write the calls (and a span that is no LLM call); return the "now" they were timed from."""
    now = time.time_ns()
    dashboard.write(*(call.span(now) for call in CALLS), span("checkout", 40))
    return now


def priced(calls: list[Call] | tuple[Call, ...]) -> float:
    return sum(c.cost for c in calls if c.cost is not None)


def as_role(dashboard: Dashboard, role: str) -> Dashboard:
    dashboard.services.meta.grant(dashboard.user.id, dashboard.project.id, role)
    return dashboard


def test_page_shows_tiles_and_tables(logged_in: Dashboard) -> None:
    """Tiles count calls, failures and cost; the model table has one row per model, costliest
    first; the in-house model is listed without a price."""
    fill(logged_in)
    page = logged_in.client.get("/llm").text
    assert "<h1>LLM</h1>" in page and 'aria-current="page">LLM<' in page
    failed = sum(1 for c in CALLS if c.error)
    assert f"<strong>{len(CALLS)}</strong> LLM calls" in page
    assert f'<strong class="bad">{failed}</strong> failed' in page
    assert f"<dd>{format_usd(priced(CALLS))}</dd>" in page
    assert "+ 1 calls without a price" in page
    success = 100 * (len(CALLS) - failed) / len(CALLS)
    assert f'<dd class="bad">{success:.1f} %</dd>' in page
    models = table_rows(page, "models")
    assert [(row[0], row[1]) for row in models] == [
        ("openai", "gpt-4o"), ("gcp.gemini", "gemini-2.5-flash"), ("openai", "gpt-4o-mini"),
        ("acme", "house-model"),
    ]  # fmt: skip
    gpt4o = [c for c in CALLS if c.model == "gpt-4o"]
    assert models[0][2] == str(len(gpt4o)) and models[0][8] == format_usd(priced(gpt4o))
    assert models[3][8] == "–" and models[3][9] == "1"  # unknown cost, not $0
    assert [row[:5] for row in table_rows(page, "unpriced")] == [
        ["acme", "house-model", "", "1", "150"]
    ]
    users = {row[0]: row for row in table_rows(page, "users")}
    assert set(users) == {c.user for c in CALLS}
    assert users["u3"][1] == str(sum(c.user == "u3" for c in CALLS))
    features = [row[0] for row in table_rows(page, "features")]
    assert set(features) == {"support", "search", "(no feature)"}


def test_provider_health_says_gemini_is_failing_now(logged_in: Dashboard) -> None:
    """Calls in the last five minutes decide "now": Gemini failing, OpenAI ok; the chart has a
    success-rate line per provider and the error kinds table counts the failures."""
    fill(logged_in)
    page = logged_in.client.get("/llm").text
    providers = {row[0]: row for row in table_rows(page, "providers")}
    assert providers["gcp.gemini"][1] == "failing" and providers["openai"][1] == "ok"
    assert providers["gcp.gemini"][3] == "0.0" and providers["gcp.gemini"][7] == "rate_limit (2)"
    assert 'class="health-failing"' in page
    gemini = [c for c in CALLS if c.provider == "gcp.gemini"]
    assert providers["gcp.gemini"][4] == str(len(gemini))
    health = next(c for c in charts(page) if c["name"] == "provider_success")
    lines = {s["label"]: s["values"] for s in health["series"]}
    assert set(lines) == {"openai", "gcp.gemini", "acme"}
    assert 0.0 in lines["gcp.gemini"] and 100.0 in lines["gcp.gemini"]
    kinds = {(row[0], row[1]): row[2] for row in table_rows(page, "error_kinds")}
    assert kinds == {("gcp.gemini", "rate_limit"): "2", ("gcp.gemini", "server"): "1"}


@pytest.mark.parametrize(
    ("query", "keep"),
    [
        ("provider=gcp.gemini", lambda c: c.provider == "gcp.gemini"),
        ("model=gpt-4o", lambda c: c.model == "gpt-4o"),
        ("feature=search", lambda c: c.feature == "search"),
        ("service=worker", lambda c: c.service == "worker"),
    ],
)
def test_filters_narrow_the_page(logged_in: Dashboard, query: str, keep) -> None:  # type: ignore[no-untyped-def]
    """Each filter narrows the tiles and tables; the form keeps the choice and offers the rest."""
    fill(logged_in)
    kept = [c for c in CALLS if keep(c)]
    page = logged_in.client.get(f"/llm?{query}").text
    assert f"<strong>{len(kept)}</strong> LLM calls" in page
    assert {row[1] for row in table_rows(page, "models")} == {c.model for c in kept}
    value = query.split("=")[1]
    assert f'<option value="{value}" selected>{value}</option>' in page
    assert '<option value="openai"' in page and '<option value="house-model"' in page


def test_model_link_filters_to_that_model(logged_in: Dashboard) -> None:
    """A model's link narrows the page to its provider and model."""
    fill(logged_in)
    page = logged_in.client.get("/llm").text
    link = re.search(r'<a href="([^"]+)">gpt-4o-mini</a>', page)
    assert link and "provider=openai" in link.group(1) and "model=gpt-4o-mini" in link.group(1)


def test_tables_and_charts_export(logged_in: Dashboard) -> None:
    """Every table and chart downloads: models as CSV with cost in dollars, calls per bucket and
    cost per day as JSON."""
    fill(logged_in)
    body = logged_in.client.get("/llm?table=models&format=csv").text
    rows = list(csv.DictReader(io.StringIO(body)))
    assert {r["model"]: float(r["cost_usd"] or 0) for r in rows} == pytest.approx(
        {m: priced([c for c in CALLS if c.model == m]) for m in {c.model for c in CALLS}}
    )
    assert "p95_ms" in rows[0] and "ttft_p95_ms" in rows[0]
    calls = logged_in.client.get("/llm?table=calls&format=json").json()["rows"]
    assert sum(r["succeeded"] + r["errors"] for r in calls) == len(CALLS)
    days = logged_in.client.get("/llm?table=cost_per_day&format=json").json()["rows"]
    assert sum(r["cost"] for r in days) == pytest.approx(priced(CALLS))
    for name in ("providers", "error_kinds", "users", "features", "unpriced", "month_spend",
                 "provider_success", "latency", "tokens"):  # fmt: skip
        response = logged_in.client.get(f"/llm?table={name}&format=json")
        assert response.status_code == 200 and response.json()["table"] == name


def test_budget_panel_projects_the_month(logged_in: Dashboard) -> None:
    """The panel shows this month's spend (the whole project, whatever the filters), the budget,
    the share used and the month-end projection, and says how it is projected."""
    now = fill(logged_in)
    logged_in.services.meta.set_budget(logged_in.project.id, 100.0)
    start, _ = month_bounds(now)
    month = [c for c in CALLS if now - int(c.ago_s * SECOND) >= start]
    before = time.time_ns()
    page = logged_in.client.get("/llm?provider=acme").text
    after = time.time_ns()
    assert f"<dt>Spent this month</dt><dd>{format_usd(priced(month))}</dd>" in page
    assert "<dt>Monthly budget</dt><dd>$100.00</dd>" in page
    assert f"{priced(month):.1f} %</dd>" in page
    assert "month-to-date spend ÷ the share of the month elapsed" in page
    spend = logged_in.client.get("/llm?table=month_spend&format=json").json()["rows"]
    projected = spend[-1]["projected"]
    low, high = project_month_end(priced(month), after), project_month_end(priced(month), before)
    assert round(low, 3) <= projected <= round(high, 3)
    assert max(r["spent"] for r in spend if r["spent"] is not None) == round(priced(month), 3)
    assert {r["budget"] for r in spend} == {100.0}


def test_admin_sets_and_removes_the_budget(logged_in: Dashboard) -> None:
    """An admin's form sets the budget (CSRF token required) and removes it."""
    as_role(logged_in, "admin")
    meta, project = logged_in.services.meta, logged_in.project.id
    page = logged_in.client.get("/llm").text
    assert 'action="/llm/budget?project=shop&amp;range=1h"' in page
    refused = logged_in.client.post("/llm/budget?project=shop", data={"monthly_usd": "250"})
    assert refused.status_code == 403 and meta.budget(project) is None
    token = form_token(page)
    done = logged_in.client.post(
        "/llm/budget?project=shop",
        data={"monthly_usd": "250.50", "action": "set", "next": "/llm", "csrf_token": token},
        follow_redirects=False,
    )
    assert done.status_code == 303 and done.headers["location"] == "/llm"
    assert meta.budget(project) == 250.5
    assert "<dt>Monthly budget</dt><dd>$250.50</dd>" in logged_in.client.get("/llm").text
    cleared = logged_in.client.post(
        "/llm/budget?project=shop", data={"action": "clear", "csrf_token": token}
    )
    assert cleared.status_code == 200 and meta.budget(project) is None
    assert "<dt>Monthly budget</dt><dd>none</dd>" in cleared.text


@pytest.mark.parametrize("value", ["-5", "abc", "nan", "inf", "", "1e400"])
def test_bad_budget_is_a_400_naming_the_field(logged_in: Dashboard, value: str) -> None:
    """A negative, non-numeric or infinite budget is refused naming monthly_usd; nothing changes."""
    as_role(logged_in, "admin")
    logged_in.services.meta.set_budget(logged_in.project.id, 100.0)
    token = form_token(logged_in.client.get("/llm").text)
    response = logged_in.client.post(
        "/llm/budget?project=shop", data={"monthly_usd": value, "csrf_token": token}
    )
    assert response.status_code == 400 and "monthly_usd" in response.json()["detail"]
    assert logged_in.services.meta.budget(logged_in.project.id) == 100.0


@pytest.mark.parametrize("role", ["member", "viewer"])
def test_only_admins_change_the_budget_or_reprice(logged_in: Dashboard, role: str) -> None:
    """Members and viewers see the budget but no form; their posts are refused (403)."""
    as_role(logged_in, role)
    fill(logged_in)
    page = logged_in.client.get("/llm").text
    assert "Monthly budget" in page and 'action="/llm/budget' not in page
    assert "Recompute costs" not in page
    token = form_token(page)
    for path, data in (("/llm/budget", {"monthly_usd": "5"}), ("/llm/reprice", {})):
        response = logged_in.client.post(f"{path}?project=shop", data=data | {"csrf_token": token})
        assert response.status_code == 403, path
    assert logged_in.services.meta.budget(logged_in.project.id) is None


def test_admin_recomputes_costs(logged_in: Dashboard) -> None:
    """An admin's "Recompute costs" (CSRF token required) prices stored calls again with the
    current prices: a gpt-4o call stored unpriced gets its cost; the in-house model stays
    unpriced. Without prices the server says it cannot (503)."""
    as_role(logged_in, "admin")
    now = fill(logged_in)
    stale = Call("openai", "gpt-4o", tokens=(1000, 100), user="u9").span(now)
    stale.attributes["watchkeeper.cost_source"] = "unpriced"
    logged_in.write(stale)
    page = logged_in.client.get("/llm").text
    assert {row[1] for row in table_rows(page, "unpriced")} == {"gpt-4o", "house-model"}
    assert logged_in.client.post("/llm/reprice?project=shop").status_code == 403
    token = {"csrf_token": form_token(page)}
    pipeline = logged_in.services.pipeline
    assert pipeline is not None
    prices, pipeline.prices = pipeline.prices, None
    refused = logged_in.client.post("/llm/reprice?project=shop", data=token)
    assert refused.status_code == 503 and "no prices" in refused.json()["detail"]
    pipeline.prices = prices or PriceBook()
    done = logged_in.client.post("/llm/reprice?project=shop", data=token)
    assert done.status_code == 200 and "Recomputed costs with the current prices: 1 of" in done.text
    assert [row[1] for row in table_rows(done.text, "unpriced")] == ["house-model"]
    users = {row[0]: row for row in table_rows(done.text, "users")}
    assert users["u9"][4].startswith("$0.0")  # priced now: no longer unknown


def test_empty_page_says_how_to_record_calls(logged_in: Dashboard) -> None:
    """Without calls the page explains what an LLM call is and still shows the budget."""
    page = logged_in.client.get("/llm").text
    assert "No LLM calls in the last 1 hour" in page and "gen_ai.provider.name" in page
    assert "Spent this month" in page


def test_partial_is_the_live_part(logged_in: Dashboard) -> None:
    """/partials/llm is the live part alone with the same filters."""
    fill(logged_in)
    live = logged_in.client.get("/partials/llm?provider=openai&refresh=30s").text
    assert live.lstrip().startswith('<div id="live"')
    assert {row[0] for row in table_rows(live, "providers")} == {"openai"}


def test_anonymous_is_sent_to_login(dashboard: Dashboard) -> None:
    """Without a session the page redirects to the login form."""
    response = dashboard.client.get("/llm", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/login?next=%2Fllm"


@pytest.mark.parametrize(
    ("usd", "text"),
    [(None, "–"), (0, "$0.00"), (1234.5, "$1,234.50"), (0.5, "$0.50"), (0.0105, "$0.0105"),
     (0.000045, "$0.000045"), (0.123456, "$0.123"), (1e-10, "<$0.00000001"), (-3, "-$3.00")],
)  # fmt: skip
def test_costs_read_in_dollars_with_the_digits_that_matter(usd: float | None, text: str) -> None:
    """The usd column format (table.py) keeps three significant digits below a dollar."""
    assert format_usd(usd) == text
