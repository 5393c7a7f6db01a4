"""LLM: the project's model calls (R-LLM2 to R-LLM4, R-LLM6): calls, success, cost, latency and
time to first token; provider health now and over time ("is the Gemini API failing right now?");
cost per day and per model, user and feature; the month's spend against the project's budget
with a month-end projection; and the models that have no price.

What counts as an LLM call, its model and its cost is said once, in query/llm.py. The budget
panel is the whole project's calendar month (UTC), whatever the filters and range; the rest of
the page follows them. Admins set the budget and recompute costs here; both are CSRF-protected
POST forms (login.csrf_protect).
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Final

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import RedirectResponse, Response

from watchkeeper.dashboard import login
from watchkeeper.dashboard.pages.chart import chart
from watchkeeper.dashboard.pages.table import Column, Table, format_usd
from watchkeeper.dashboard.pages.view import (
    SECOND,
    TABLE_ROWS,
    View,
    ViewDep,
    render_page,
    services_of,
)
from watchkeeper.llm.reprice import reprice
from watchkeeper.query import catalog
from watchkeeper.query.llm import DAY_NS, month_bounds, project_month_end

if TYPE_CHECKING:
    from watchkeeper.server.app import Services
    from watchkeeper.store.base import Store

router = APIRouter()
login.templates.env.filters.update(usd=format_usd)

RECENT_NS: Final = 5 * 60 * SECOND
""""Right now" for provider health: the last five minutes."""
TREND_DAYS: Final = 30
MAX_PROVIDER_LINES: Final = 6
HEALTH: Final = ((95.0, "ok"), (50.0, "degraded"), (0.0, "failing"))
"""A provider's state from its success rate in the last five minutes: the first at or below it."""

PROVIDERS: Final = (
    Column("Provider", "provider", link="provider_url"), Column("Now", "state"),
    Column("Calls (5 min)", "recent_calls", "count"),
    Column("Success % (5 min)", "recent_success_pct", "percent"),
    Column("Calls", "calls", "count"), Column("Errors", "errors", "count", alert=True),
    Column("Success %", "success_pct", "percent"), Column("Top error", "top_error"),
    Column("Cost", "cost_usd", "usd"), Column("p95 ms", "p95_ns", "ms"),
    Column("Last call", "last_seen", "time"),
)  # fmt: skip
ERROR_KINDS: Final = (
    Column("Provider", "provider"), Column("Error kind", "error_type"),
    Column("Count", "count", "count", alert=True), Column("Last model", "last_model"),
    Column("Last seen", "last_seen", "time"),
)  # fmt: skip
MODELS: Final = (
    Column("Provider", "provider"), Column("Model", "model", link="model_url"),
    Column("Calls", "calls", "count"), Column("Errors", "errors", "count", alert=True),
    Column("Error %", "error_pct", "percent", alert=True),
    Column("Input tokens", "input_tokens", "count"),
    Column("Output tokens", "output_tokens", "count"),
    Column("Cached tokens", "cached_tokens", "count"), Column("Cost", "cost_usd", "usd"),
    Column("Unpriced calls", "unpriced_calls", "count", alert=True),
    Column("p50 ms", "p50_ns", "ms"), Column("p95 ms", "p95_ns", "ms"),
    Column("TTFT p50 ms", "ttft_p50_ns", "ms"), Column("TTFT p95 ms", "ttft_p95_ns", "ms"),
)  # fmt: skip
_SPEND: Final = (
    Column("Calls", "calls", "count"), Column("Errors", "errors", "count", alert=True),
    Column("Tokens", "tokens", "count"), Column("Cost", "cost_usd", "usd"),
    Column("Unpriced calls", "unpriced_calls", "count", alert=True),
)  # fmt: skip
USERS: Final = (Column("User", "user"), *_SPEND)
FEATURES: Final = (Column("Feature", "feature_label", link="feature_url"), *_SPEND)
UNPRICED: Final = (
    Column("Provider", "provider"), Column("Model", "model"),
    Column("Response model", "response_model"), Column("Calls", "calls", "count"),
    Column("Tokens", "tokens", "count"), Column("Last seen", "last_seen", "time"),
)  # fmt: skip


@dataclass(frozen=True)
class LLMFilters:
    provider: str = ""
    model: str = ""
    feature: str = ""
    service: str = ""

    @property
    def query(self) -> dict[str, str]:
        return dataclasses.asdict(self)

    @property
    def params(self) -> dict[str, str | None]:
        """The catalog's filter parameters (None: not filtered)."""
        return {name: value or None for name, value in self.query.items()}


def llm_filters(
    provider: str = "", model: str = "", feature: str = "", service: str = ""
) -> LLMFilters:
    """Dependency: the provider, model, feature and service to narrow to (over-long values are
    dropped)."""
    given = {"provider": provider, "model": model, "feature": feature, "service": service}
    return LLMFilters(**{name: value if len(value) <= 256 else "" for name, value in given.items()})


FiltersDep = Annotated[LLMFilters, Depends(llm_filters)]


def state(recent_calls: int, recent_success_pct: float | None) -> str:
    """A provider's state now: ``idle`` without calls in the last five minutes, else ``ok``,
    ``degraded`` or ``failing`` by their success rate (:data:`HEALTH`).

    >>> state(0, None), state(20, 100.0), state(20, 80.0), state(20, 10.0)
    ('idle', 'ok', 'degraded', 'failing')
    """
    if not recent_calls or recent_success_pct is None:
        return "idle"
    return next(name for floor, name in HEALTH if recent_success_pct >= floor)


def _providers(store: Store, view: View, filters: LLMFilters) -> dict[str, Any]:
    window, params = view.window, filters.params
    rows = catalog.run(store, "llm.by_provider", **window, **params)
    now = time.time_ns()
    recent = {
        row["provider"]: row
        for row in catalog.run(
            store, "llm.by_provider", **{**window, "since": now - RECENT_NS, "until": now + 1},
            **params,
        )
    }  # fmt: skip
    kinds = catalog.run(store, "llm.error_kinds", **window, **params, limit=100)
    for row in rows:
        now_row = recent.get(row["provider"], {})
        row["recent_calls"] = now_row.get("calls", 0)
        row["recent_success_pct"] = now_row.get("success_pct")
        row["state"] = state(row["recent_calls"], row["recent_success_pct"])
        mine = [kind for kind in kinds if kind["provider"] == row["provider"]]
        row["top_error"] = f"{mine[0]['error_type']} ({mine[0]['count']:,})" if mine else ""
        row["provider_url"] = view.here(provider=row["provider"])
    health = catalog.run(store, "llm.provider_per_bucket", **window, **params, bucket=view.bucket)
    drawn = [row["provider"] for row in rows[:MAX_PROVIDER_LINES]]
    by_bucket: dict[int, dict[str, Any]] = {}
    for point in health:
        by_bucket.setdefault(point["bucket"], {"bucket": point["bucket"]})[point["provider"]] = (
            point["success_pct"]
        )
    return {
        "providers": Table("providers", PROVIDERS, rows),
        "error_kinds": Table("error_kinds", ERROR_KINDS, kinds[:TABLE_ROWS]),
        "health_chart": chart(
            view, list(by_bucket.values()), {p: p for p in drawn}, name="provider_success",
            unit="%",
        ),
    }  # fmt: skip


def _month(services: Services, view: View, now: int) -> dict[str, Any]:
    """The budget panel: this UTC month's spend (whole project), budget and projection."""
    start, end = month_bounds(now)
    days = catalog.run(services.store, "llm.cost_per_day", project=view.project.id,
                       since=start, until=end)  # fmt: skip
    spent = sum(row["cost_usd"] or 0.0 for row in days)
    projected = project_month_end(spent, now)
    budget = services.meta.budget(view.project.id)
    cost_by_day = {row["day"]: row["cost_usd"] or 0.0 for row in days}
    rows, total = [], 0.0
    for day in range(start, end, DAY_NS):
        total += cost_by_day.get(day, 0.0)
        rows.append({
            "bucket": day,
            "spent": total if day <= now else None,
            "projected": projected * (day + DAY_NS - start) / (end - start),
            "budget": budget,
        })  # fmt: skip
    series = {"spent": "spent", "projected": "projected"} | ({"budget": "budget"} if budget else {})
    month_view = dataclasses.replace(view, since=start, until=end, bucket=DAY_NS)
    return {
        "month_start": start,
        "elapsed_pct": (now - start) / (end - start) * 100,
        "days": (end - start) // DAY_NS,
        "spent": spent,
        "projected": projected,
        "budget": budget,
        "used_pct": spent / budget * 100 if budget else None,
        "projected_pct": projected / budget * 100 if budget else None,
        "unpriced": sum(row["unpriced_calls"] for row in days),
        "chart": chart(month_view, rows, series, name="month_spend", unit="USD"),
    }


def llm_data(services: Services, view: View, filters: LLMFilters) -> dict[str, Any]:
    """Everything the LLM page shows, for the view's window and filters."""
    store, window, params = services.store, view.window, filters.params
    (totals,) = catalog.run(store, "llm.totals", **window, **params)
    per_bucket = catalog.run(store, "llm.per_bucket", **window, **params, bucket=view.bucket)
    for row in per_bucket:
        row["ok"] = row["calls"] - row["errors"]
    now = time.time_ns()
    today = now // DAY_NS * DAY_NS
    trend_view = dataclasses.replace(
        view, since=today - (TREND_DAYS - 1) * DAY_NS, until=today + DAY_NS, bucket=DAY_NS
    )
    per_day = catalog.run(store, "llm.cost_per_day", **trend_view.window, **params)
    for row in per_day:
        row["bucket"] = row["day"]
    models = catalog.run(store, "llm.by_model", **window, **params, limit=TABLE_ROWS)
    for row in models:
        row["model_url"] = view.here(provider=row["provider"], model=row["model"])
    users = catalog.run(store, "llm.by_user", **window, **params, limit=TABLE_ROWS)
    for row in users:
        row["user"] = row["user_id"] or "(no user)"
    features = catalog.run(store, "llm.by_feature", **window, **params, limit=TABLE_ROWS)
    for row in features:
        row["feature_label"] = row["feature"] or "(no feature)"
        row["feature_url"] = view.here(feature=row["feature"]) if row["feature"] else ""
    unpriced = catalog.run(store, "llm.unpriced", **window, **params, limit=100)
    month = _month(services, view, now)
    month_chart = month.pop("chart")
    input_tokens = totals["input_tokens"]
    latency = {"p50_ns": "p50", "p95_ns": "p95", "p99_ns": "p99", "ttft_p95_ns": "TTFT p95"}
    return {
        "filters": filters,
        "totals": totals,
        "success_pct": 100 - totals["error_pct"] if totals["calls"] else None,
        "cache_pct": totals["cached_tokens"] / input_tokens * 100 if input_tokens else None,
        **_providers(store, view, filters),
        "calls_chart": chart(
            view, per_bucket, {"ok": "succeeded", "errors": "errors"}, name="calls",
            kind="stacked", fill=0,
        ),
        "latency_chart": chart(view, per_bucket, latency, name="latency", unit="ms", scale=1e-6),
        "tokens_chart": chart(
            view, per_bucket, {"input_tokens": "input", "output_tokens": "output"},
            name="tokens", kind="stacked", fill=0,
        ),
        "cost_chart": chart(
            trend_view, per_day, {"cost_usd": "cost"}, name="cost_per_day", unit="USD",
            kind="bars", fill=0,
        ),
        "models": Table("models", MODELS, models),
        "users": Table("users", USERS, users),
        "features": Table("features", FEATURES, features),
        "unpriced": Table("unpriced", UNPRICED, unpriced),
        "month": month,
        "month_chart": month_chart,
        "is_admin": view.role == "admin",
        "notice": "",
    }  # fmt: skip


def _choices(services: Services, view: View) -> dict[str, list[tuple[str, str]]]:
    """The filter form's choices: what the window holds, whatever is filtered now."""
    store = services.store
    models = catalog.run(store, "llm.by_model", **view.window, limit=200)
    features = catalog.run(store, "llm.by_feature", **view.window, limit=200)
    return {
        "provider_choices": [(p, p) for p in sorted({row["provider"] for row in models})],
        "model_choices": [(m, m) for m in sorted({row["model"] for row in models})],
        "feature_choices": [(f, f) for f in sorted(r["feature"] for r in features if r["feature"])],
        "service_choices": [(s, s) for s in services_of(store, view, "span")],
    }


def _page(request: Request, view: View, filters: LLMFilters, notice: str = "") -> Response:
    services = login.services(request)
    data = llm_data(services, view, filters) | {"notice": notice}
    return render_page(request, view, "llm.html", data | _choices(services, view))


@router.get("/llm")
def llm(request: Request, view: ViewDep, filters: FiltersDep) -> Response:
    """LLM calls: health, cost, latency, budget."""
    return _page(request, view.on("/llm", **filters.query), filters)


@router.get("/partials/llm")
def llm_live(request: Request, view: ViewDep, filters: FiltersDep) -> Response:
    """The LLM page's live part, for htmx."""
    view = view.on("/llm", **filters.query)
    data = llm_data(login.services(request), view, filters)
    return render_page(request, view, "partials/llm.html", data)


def require_admin(view: View, what: str) -> None:
    """Refuse (403) anyone but a project admin."""
    if view.role != "admin":
        raise HTTPException(403, f"Only a project admin can {what}.")


def parse_budget(text: str) -> float:
    """A budget as typed into the form: US dollars, a finite number >= 0; a 400 naming the
    field otherwise.

    >>> parse_budget(" 250.50 ")
    250.5
    """
    try:
        value = float(text.strip().removeprefix("$").replace(",", ""))
    except ValueError:
        raise HTTPException(
            400, f"monthly_usd: {text!r} is not a number of US dollars (e.g. 250 or 99.50)."
        ) from None
    if not math.isfinite(value) or value < 0:
        raise HTTPException(400, f"monthly_usd: must be a finite number >= 0, not {text!r}.")
    return value


@router.post("/llm/budget")
def set_budget(
    request: Request,
    view: ViewDep,
    monthly_usd: Annotated[str, Form()] = "",
    action: Annotated[str, Form()] = "set",
    next_path: Annotated[str, Form(alias="next")] = "/llm",
) -> Response:
    """Set (``action=set``) or remove (``action=clear``) the project's monthly LLM budget."""
    require_admin(view, "set the LLM budget")
    if action not in ("set", "clear"):
        raise HTTPException(400, f"action: must be set or clear, not {action!r}.")
    value = None if action == "clear" else parse_budget(monthly_usd)
    login.services(request).meta.set_budget(view.project.id, value)
    return RedirectResponse(login.safe_next(next_path), status_code=303)


@router.post("/llm/reprice")
def reprice_costs(request: Request, view: ViewDep, filters: FiltersDep) -> Response:
    """Recompute the cost of the project's stored calls with the current prices (admins); the
    page again, saying what changed."""
    require_admin(view, "recompute costs")
    services = login.services(request)
    prices = services.pipeline.prices if services.pipeline is not None else None
    if prices is None:
        raise HTTPException(503, "Recomputing costs is not available: this server has no prices.")
    result = reprice(services.store, prices, project=view.project.id)
    notice = (
        f"Recomputed costs with the current prices: {result.updated:,} of {result.checked:,}"
        f" calls changed; {result.unpriced:,} still have no price."
    )
    return _page(request, view.on("/llm", **filters.query), filters, notice)
