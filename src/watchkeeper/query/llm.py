"""Questions about LLM calls: calls, tokens, cost, latency and errors by provider, model, user,
feature and time (R-LLM2 to R-LLM4), and what the budget panel needs to project a month's spend.

An **LLM call** is a span with a provider (``gen_ai_provider``) whose operation is a model call
(llm/usage.py ``CALL_OPERATIONS``: ``chat``, ``text_completion``, ``generate_content``,
``embeddings``), or that names no operation (the pipeline fills it in when it can tell). Agent,
tool and workflow spans are left out even when they carry a provider: OpenAI's agents SDK, for
one, sets it on ``invoke_agent`` spans, which wrap calls counted already, so their tokens and
cost would count twice.

The model of a call is the one asked for (``gen_ai.request.model``), else the one that answered:
a failed call has no response model, and grouping by the request keeps a model's failures and
successes in one row. A call **failed** when its span status is ``error`` or it has an error
kind (``error.type``). A call is **unpriced** when it used tokens but has no cost: the model has
no price (R-LLM6); a call without usage (a failure, a stream that sent none) is not listed.
Cost sums leave unpriced calls out, so a model with no priced call has no cost, never a silent $0.
"""

from __future__ import annotations

import calendar
from datetime import UTC, datetime
from typing import Final

from watchkeeper.llm.usage import CALL_OPERATIONS
from watchkeeper.query.clauses import WINDOW, Builder, Params, Query, equal, latency, window
from watchkeeper.query.sql import Dialect, Statement

DAY_NS: Final = 86_400 * 10**9

_CALLS: Final = (
    "gen_ai_provider IS NOT NULL AND (gen_ai_operation IS NULL OR gen_ai_operation IN ("
    + ", ".join(f"'{operation}'" for operation in sorted(CALL_OPERATIONS))
    + "))"
)
MODEL: Final = "coalesce(gen_ai_request_model, gen_ai_response_model, '')"
"""A call's model as every query groups and filters it."""
_FAILED: Final = "(status = 'error' OR gen_ai_error_type IS NOT NULL)"
_UNPRICED: Final = (
    "(gen_ai_cost_usd IS NULL"
    " AND coalesce(gen_ai_input_tokens, 0) + coalesce(gen_ai_output_tokens, 0) > 0)"
)

_FAILURES: Final = f"sum(CASE WHEN {_FAILED} THEN 1 ELSE 0 END)"
_ERRORS: Final = f"{_FAILURES} AS errors"
_ERROR_PCT: Final = f"100.0 * {_FAILURES} / count(*) AS error_pct"
_SUCCESS_PCT: Final = (
    f"100.0 * sum(CASE WHEN {_FAILED} THEN 0 ELSE 1 END) / count(*) AS success_pct"
)
# Input tokens include cached ones and output tokens reasoning ones (OpenTelemetry GenAI
# conventions), so a call's tokens are input + output.
_TOKENS: Final = (
    "coalesce(sum(gen_ai_input_tokens), 0) AS input_tokens,"
    " coalesce(sum(gen_ai_output_tokens), 0) AS output_tokens,"
    " coalesce(sum(gen_ai_input_tokens), 0) + coalesce(sum(gen_ai_output_tokens), 0) AS tokens"
)
_COST: Final = (
    "sum(gen_ai_cost_usd) AS cost_usd,"
    f" sum(CASE WHEN {_UNPRICED} THEN 1 ELSE 0 END) AS unpriced_calls"
)


def _ttft(d: Dialect) -> str:
    # Time to first token arrives in seconds (gen_ai.response.time_to_first_chunk); pages show
    # every duration from ns. Quantiles skip calls without one (not streamed).
    return ", ".join(
        f"{d.quantile('gen_ai_ttft_s * 1e9', q)} AS {label}"
        for q, label in ((0.5, "ttft_p50_ns"), (0.95, "ttft_p95_ns"))
    )


def _where(d: Dialect, p: Params) -> str:
    """The window, calls only, and the optional filters."""
    where = f"{window(d)} AND {_CALLS}{equal(d, p, 'service', 'feature', 'user_id')}"
    if p.get("provider") is not None:
        where += f" AND gen_ai_provider = {d.param('provider')}"
    if p.get("model") is not None:
        where += f" AND {MODEL} = {d.param('model')}"
    return where


def _limit(d: Dialect, p: Params) -> str:
    return f" LIMIT {d.param('limit')}" if p.get("limit") is not None else ""


def _totals(d: Dialect, p: Params) -> Statement:
    return Statement(
        # Sums over no rows are NULL; totals answer 0 for an empty window (alerts compare them).
        f"SELECT count(*) AS calls, coalesce({_FAILURES}, 0) AS errors,"
        f" 100.0 * {_FAILURES} / nullif(count(*), 0) AS error_pct,"
        f" {_TOKENS}, coalesce(sum(gen_ai_cache_read_tokens), 0) AS cached_tokens,"
        " coalesce(sum(gen_ai_reasoning_tokens), 0) AS reasoning_tokens,"
        " coalesce(sum(gen_ai_cost_usd), 0.0) AS cost_usd,"
        f" coalesce(sum(CASE WHEN {_UNPRICED} THEN 1 ELSE 0 END), 0) AS unpriced_calls,"
        f" count(DISTINCT nullif(user_id, '')) AS users, {latency(d)}, {_ttft(d)}"
        f" FROM spans WHERE {_where(d, p)}",
        p,
    )


def _grouped(columns: str, group: str, aggregates: str, order: str) -> Builder:
    def build(d: Dialect, p: Params) -> Statement:
        return Statement(
            f"SELECT {columns}, count(*) AS calls, {_ERRORS}, {_ERROR_PCT},"
            f" {aggregates.format(latency=latency(d), ttft=_ttft(d))}"
            f" FROM spans WHERE {_where(d, p)} GROUP BY {group}"
            f" ORDER BY {order}{_limit(d, p)}",
            p,
        )

    return build


def _per_bucket(d: Dialect, p: Params) -> Statement:
    bucket = d.bucket("ts", d.param("bucket"))
    return Statement(
        f"SELECT {bucket} AS bucket, count(*) AS calls, {_ERRORS}, {_TOKENS},"
        f" sum(gen_ai_cost_usd) AS cost_usd, {latency(d)}, {_ttft(d)}"
        f" FROM spans WHERE {_where(d, p)} GROUP BY bucket ORDER BY bucket",
        p,
    )


def _provider_per_bucket(d: Dialect, p: Params) -> Statement:
    bucket = d.bucket("ts", d.param("bucket"))
    return Statement(
        f"SELECT {bucket} AS bucket, gen_ai_provider AS provider, count(*) AS calls, {_ERRORS},"
        f" {_SUCCESS_PCT} FROM spans WHERE {_where(d, p)}"
        " GROUP BY bucket, provider ORDER BY bucket, provider",
        p,
    )


def _error_kinds(d: Dialect, p: Params) -> Statement:
    return Statement(
        "SELECT gen_ai_provider AS provider, coalesce(gen_ai_error_type, 'other') AS error_type,"
        f" count(*) AS count, max(ts) AS last_seen, {d.arg_max(MODEL, 'ts')} AS last_model"
        f" FROM spans WHERE {_where(d, p)} AND {_FAILED}"
        " GROUP BY provider, error_type ORDER BY count DESC, provider, error_type"
        f"{_limit(d, p)}",
        p,
    )


def _cost_per_day(d: Dialect, p: Params) -> Statement:
    # Days are UTC: epoch-aligned multiples of 86,400 s.
    day = d.bucket("ts", str(DAY_NS))
    return Statement(
        f"SELECT {day} AS day, sum(gen_ai_cost_usd) AS cost_usd, count(*) AS calls,"
        f" sum(CASE WHEN {_UNPRICED} THEN 1 ELSE 0 END) AS unpriced_calls"
        f" FROM spans WHERE {_where(d, p)} GROUP BY day ORDER BY day",
        p,
    )


def _unpriced(d: Dialect, p: Params) -> Statement:
    return Statement(
        f"SELECT gen_ai_provider AS provider, {MODEL} AS model,"
        f" {d.arg_max('gen_ai_response_model', 'ts')} AS response_model, count(*) AS calls,"
        " coalesce(sum(gen_ai_input_tokens), 0) + coalesce(sum(gen_ai_output_tokens), 0)"
        " AS tokens, max(ts) AS last_seen"
        f" FROM spans WHERE {_where(d, p)} AND {_UNPRICED}"
        f" GROUP BY provider, model ORDER BY calls DESC, provider, model{_limit(d, p)}",
        p,
    )


_COSTLY: Final = "cost_usd DESC NULLS LAST, calls DESC"
_FILTERS: Final = "filters: service, provider, model, feature, user_id"

QUERIES = (
    Query(
        "llm.totals",
        "LLM calls in the window: calls, errors, error_pct, input/output/cached/reasoning"
        " tokens, cost_usd (priced calls; 0 when none), unpriced_calls, users, p50/p95/p99"
        f" duration and TTFT p50/p95 (ns); {_FILTERS}.",
        WINDOW,
        _totals,
    ),
    Query(
        "llm.by_provider",
        "Per provider: calls, errors, error_pct, success_pct, tokens, cost_usd, p95_ns and the"
        f" last call's time, busiest first; {_FILTERS}; at most limit (optional).",
        WINDOW,
        _grouped(
            "gen_ai_provider AS provider",
            "provider",
            f"{_SUCCESS_PCT}, {_TOKENS}, {_COST}, {{latency}}, max(ts) AS last_seen",
            "calls DESC, provider",
        ),
    ),
    Query(
        "llm.by_model",
        "Per provider and model: calls, errors, error_pct, tokens (input, output, cached),"
        f" cost_usd, unpriced_calls, p50/p95/p99 and TTFT p50/p95, costliest first; {_FILTERS}.",
        WINDOW,
        _grouped(
            f"gen_ai_provider AS provider, {MODEL} AS model",
            "provider, model",
            f"{_TOKENS}, coalesce(sum(gen_ai_cache_read_tokens), 0) AS cached_tokens, {_COST},"
            " {latency}, {ttft}",
            f"{_COSTLY}, provider, model",
        ),
    ),
    Query(
        "llm.by_user",
        "Per user (user_id, '' for calls without one): calls, errors, error_pct, tokens,"
        f" cost_usd, unpriced_calls, costliest first; {_FILTERS}.",
        WINDOW,
        _grouped("user_id", "user_id", f"{_TOKENS}, {_COST}", f"{_COSTLY}, user_id"),
    ),
    Query(
        "llm.by_feature",
        "Per feature (the span's feature attribute; '' for none): calls, errors, error_pct,"
        f" tokens, cost_usd, unpriced_calls, costliest first; {_FILTERS}.",
        WINDOW,
        _grouped(
            "coalesce(feature, '') AS feature",
            "coalesce(feature, '')",
            f"{_TOKENS}, {_COST}",
            f"{_COSTLY}, feature",
        ),
    ),
    Query(
        "llm.per_bucket",
        "LLM calls per bucket: calls, errors, input/output tokens, cost_usd, p50/p95/p99"
        f" duration and TTFT p50/p95; {_FILTERS}.",
        (*WINDOW, "bucket"),
        _per_bucket,
    ),
    Query(
        "llm.provider_per_bucket",
        "Per bucket and provider: calls, errors and success_pct (provider health over time);"
        f" {_FILTERS}.",
        (*WINDOW, "bucket"),
        _provider_per_bucket,
    ),
    Query(
        "llm.error_kinds",
        "Failed calls by provider and error kind (rate_limit, timeout, connection, auth,"
        " bad_request, server, other): count, last seen and the last failing model;"
        f" {_FILTERS}.",
        WINDOW,
        _error_kinds,
    ),
    Query(
        "llm.latency_by_model",
        "Per provider and model: calls, p50/p95/p99 duration and TTFT p50/p95 (ns), slowest"
        f" p95 first; {_FILTERS}.",
        WINDOW,
        _grouped(
            f"gen_ai_provider AS provider, {MODEL} AS model",
            "provider, model",
            "{latency}, {ttft}",
            "p95_ns DESC, provider, model",
        ),
    ),
    Query(
        "llm.cost_per_day",
        "Per UTC day (its start in ns): cost_usd of priced calls, calls, unpriced_calls;"
        f" {_FILTERS}.",
        WINDOW,
        _cost_per_day,
    ),
    Query(
        "llm.unpriced",
        "Models whose calls used tokens but have no cost (no known price): provider, model,"
        f" the latest response model, calls, tokens, last seen; {_FILTERS}.",
        WINDOW,
        _unpriced,
    ),
)


def month_bounds(ts: int) -> tuple[int, int]:
    """The UTC calendar month holding ``ts`` (ns) as ``(start, end)`` in ns, end exclusive.

    >>> month_bounds(1_700_000_000 * 10**9)  # 2023-11-14
    (1698796800000000000, 1701388800000000000)
    """
    moment = datetime.fromtimestamp(ts / 1e9, UTC)
    start = datetime(moment.year, moment.month, 1, tzinfo=UTC)
    days = calendar.monthrange(moment.year, moment.month)[1]
    start_ns = int(start.timestamp()) * 10**9
    return start_ns, start_ns + days * DAY_NS


def project_month_end(spent_usd: float, now: int) -> float:
    """The month's spend at its end, if it goes on at the pace so far: month-to-date spend
    divided by the share of the month elapsed at ``now`` (ns).

    >>> project_month_end(10.0, month_bounds(0)[0] + 31 * DAY_NS // 2)  # half of January
    20.0
    """
    start, end = month_bounds(now)
    elapsed = (now - start) / (end - start)
    return spent_usd / elapsed if elapsed > 0 else spent_usd
