"""The cost of an LLM call (R-LLM4): local rules (llm/overrides.py) first, then the genai-prices
data pinned with this release. Never the network: its ``UpdatePrices`` is not called.

A call is priced by its response model (what answered: often a dated snapshot), else by its
request model; a name genai-prices does not know is tried without a ``provider/`` prefix
(OpenRouter, LiteLLM) and without a date or version suffix. The cost source says where a cost
came from: ``reported`` when the call carried one (OpenLIT, Logfire, OpenInference),
``computed`` when priced here, ``unpriced`` (cost None, never a silent $0) when no price is known.

Finding a price is cached per (provider, models); a price is kept as the few per-token numbers
genai-prices' own arithmetic gives, so pricing a call is a few multiplications.

>>> book = PriceBook()
>>> attributes = {"gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o",
...               "gen_ai.usage.input_tokens": 1000, "gen_ai.usage.output_tokens": 100}
>>> usd, source = book.cost(attributes, ts=1_760_000_000 * 10**9)
>>> source, usd > 0
('computed', True)
"""

from __future__ import annotations

import logging
import math
import re
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Final

from genai_prices import Usage
from genai_prices.data_snapshot import find_provider_by_id, get_snapshot
from genai_prices.types import ClauseEquals, ModelInfo, ModelPrice, TieredPrices

from watchkeeper.llm.overrides import PriceRule, PricesFileError, load_rules
from watchkeeper.llm.usage import provider as provider_name
from watchkeeper.llm.usage import token_count

log = logging.getLogger(__name__)

GENAI_PROVIDERS: Final[dict[str, str | None]] = {
    "openai": "openai", "anthropic": "anthropic", "gcp.gemini": "google",
    "gcp.vertex_ai": "google", "gcp.gen_ai": "google", "aws.bedrock": "aws",
    "azure.ai.openai": "azure", "azure.ai.inference": "azure", "mistral_ai": "mistral",
    "groq": "groq", "deepseek": "deepseek", "cohere": "cohere", "x_ai": "x-ai",
    "perplexity": "perplexity", "moonshot_ai": "moonshotai", "ibm.watsonx.ai": None,
}  # fmt: skip
"""``gen_ai.provider.name`` → genai-prices provider id (None: it has no prices for it). Other
names are looked up as genai-prices ids (openrouter, together, fireworks…)."""

SEMCONV_NAMES: Final = {
    genai_id: name
    for name, genai_id in reversed(GENAI_PROVIDERS.items())
    if genai_id is not None and name not in ("gcp.gemini", "gcp.vertex_ai", "azure.ai.inference")
}
"""genai-prices provider id → the ``gen_ai.provider.name`` it stands for (google: gcp.gen_ai)."""

RELOAD_CHECK_S: Final = 2.0
"""How often, at most, the prices file's modification time is checked."""
CACHE_SIZE: Final = 10_000
"""Distinct (provider, models) remembered; past it the cache starts again (odd names can't
grow it without bound)."""

_SUFFIX: Final = re.compile(r"(?:-v\d+(?::\d+)?|:\d+)$|[-@](?:\d{4}-\d{2}-\d{2}|\d{8})$")
_USAGE_KEYS: Final = (
    "input_tokens", "cache_read_tokens", "cache_write_tokens", "output_tokens",
    "output_reasoning_tokens",
)  # fmt: skip


@dataclass(frozen=True)
class Rate:
    """A price as per-token numbers: ``base`` per call plus a coefficient per usage key
    (:data:`_USAGE_KEYS`), as genai-prices' arithmetic makes it for calls of at most
    ``linear_until`` input tokens (the first pricing tier); larger calls go to genai-prices."""

    price: ModelPrice
    base: float
    per_token: tuple[float, ...]
    linear_until: float

    @classmethod
    def of(cls, price: ModelPrice) -> Rate:
        def total(**usage: int) -> Decimal:
            return price.calc_price(Usage(**usage))["total_price"]

        # One-token probes: the cost is linear in each count below the first tier, and a cache
        # or reasoning token costs its own price minus the input (output) price it replaces.
        base = total()
        probes = (
            total(input_tokens=1) - base,
            total(input_tokens=1, cache_read_tokens=1) - total(input_tokens=1),
            total(input_tokens=1, cache_write_tokens=1) - total(input_tokens=1),
            total(output_tokens=1) - base,
            total(output_tokens=1, output_reasoning_tokens=1) - total(output_tokens=1),
        )
        tiers = [
            tier.start
            for value in price.__dict__.values()
            if isinstance(value, TieredPrices)
            for tier in value.tiers
        ]
        return cls(price, float(base), tuple(map(float, probes)), min(tiers, default=math.inf))

    def cost(self, counts: tuple[int, int, int, int, int]) -> float:
        """USD for ``counts`` in :data:`_USAGE_KEYS` order."""
        if counts[0] <= self.linear_until:
            return self.base + sum(c * k for c, k in zip(counts, self.per_token, strict=True))
        usage = Usage(**dict(zip(_USAGE_KEYS, counts, strict=True)))
        return float(self.price.calc_price(usage)["total_price"])


@dataclass(frozen=True)
class Quote:
    """Where a call's price comes from, valid from ``since_ns`` (None: always). A rule of the
    prices file is a genai-prices model of its own, so both price alike."""

    source: str
    """``prices file line 3 (equals 'gpt-4o')`` or ``genai-prices openai/gpt-4o``."""
    since_ns: int | None
    model: ModelInfo

    def price(self, ts: int) -> ModelPrice:
        """The price at ``ts`` (ns): genai-prices holds dated prices for some models."""
        prices = self.model.prices
        return prices if isinstance(prices, ModelPrice) else self.model.get_prices(_utc(ts))


@dataclass
class _State:
    """The rules of one version of the prices file and what was found with them."""

    rules: tuple[PriceRule, ...]
    stamp: tuple[int, int] | None
    quotes: dict[tuple[str | None, str | None, str | None], tuple[Quote, ...]] = field(
        default_factory=dict
    )
    models: dict[int, ModelInfo] = field(default_factory=dict)
    """Each rule as a genai-prices model, by its line."""


class PriceBook:
    """Prices of LLM calls: the prices file's rules, then genai-prices. Safe to share between
    threads; the file is read again when it changes (checked every :data:`RELOAD_CHECK_S`).

    >>> PriceBook().quote("anthropic", "claude-3-5-sonnet-20240620").source
    'genai-prices anthropic/claude-3-5-sonnet'
    """

    def __init__(self, prices_file: Path | None = None) -> None:
        self.prices_file = prices_file
        self.error: str | None = None
        """Why the last reload of the prices file failed (the previous rules stay in use)."""
        self._snapshot = get_snapshot()
        self._rates: dict[int, Rate] = {}
        self._providers: dict[str, str | None] = {}
        self._lock = threading.Lock()
        self._checked = time.monotonic()
        rules = load_rules(prices_file) if prices_file is not None else ()
        self._state = _State(rules, self._stamp())

    def cost(self, attributes: Mapping[str, Any], ts: int) -> tuple[float | None, str]:
        """USD and source (``reported``, ``computed`` or ``unpriced``) of the call with these
        (normalised) attributes at ``ts`` (ns). Input tokens include cached ones; when the
        cache counts exceed them, the instrumentation counted input without the cache
        (Anthropic's own usage does), so they are added."""
        source = attributes.get("watchkeeper.cost_source")
        if source not in ("computed", "unpriced"):
            reported = attributes.get("gen_ai.usage.cost")
            if (
                isinstance(reported, int | float)
                and not isinstance(reported, bool)
                and math.isfinite(reported)
                and reported >= 0
            ):
                return float(reported), "reported"
        quote = self.quote(
            attributes.get("gen_ai.provider.name"),
            attributes.get("gen_ai.response.model"),
            attributes.get("gen_ai.request.model"),
            ts=ts,
        )
        if quote is None:
            return None, "unpriced"
        counts = [
            token_count(attributes.get(key)) or 0
            for key in (
                "gen_ai.usage.input_tokens",
                "gen_ai.usage.cache_read.input_tokens",
                "gen_ai.usage.cache_write.input_tokens",
                "gen_ai.usage.output_tokens",
                "gen_ai.usage.reasoning.output_tokens",
            )
        ]
        if counts[1] + counts[2] > counts[0]:
            counts[0] += counts[1] + counts[2]
        if counts[4] > counts[3]:
            counts[3] += counts[4]
        return self.rate(quote.price(ts)).cost(
            (counts[0], counts[1], counts[2], counts[3], counts[4])
        ), ("computed")

    def quote(
        self,
        provider: Any,
        response_model: Any,
        request_model: Any = None,
        *,
        ts: int | None = None,
    ) -> Quote | None:
        """The price of calls to these models at ``ts`` (ns, default now); None when unknown."""
        self._reload_if_changed()
        state = self._state
        key = (_text(provider), _text(response_model), _text(request_model))
        quotes = state.quotes.get(key)
        if quotes is None:
            quotes = self._find(state, *key)
            if len(state.quotes) >= CACHE_SIZE:
                state.quotes.clear()
            state.quotes[key] = quotes
        when = time.time_ns() if ts is None else ts
        return next((q for q in quotes if q.since_ns is None or when >= q.since_ns), None)

    def provider_for(self, model: Any) -> str | None:
        """The ``gen_ai.provider.name`` of a call that names its model but not its provider, as
        genai-prices finds it from the model name; None when it does not.

        >>> PriceBook().provider_for("claude-3-5-haiku-20241022")
        'anthropic'
        """
        name = _text(model)
        if name is None:
            return None
        if name not in self._providers:
            found = self._genai(None, name)
            if len(self._providers) >= CACHE_SIZE:
                self._providers.clear()
            self._providers[name] = SEMCONV_NAMES.get(found[0], found[0]) if found else None
        return self._providers[name]

    def _find(
        self,
        state: _State,
        provider: str | None,
        response_model: str | None,
        request_model: str | None,
    ) -> tuple[Quote, ...]:
        """Every quote that may price these calls, in order: matching rules (up to the first
        without a date), then genai-prices."""
        name = provider_name(provider) if provider else None
        models = [m for m in dict.fromkeys((response_model, request_model)) if m]
        quotes: list[Quote] = []
        for rule in state.rules:
            if any(rule.matches(name, model) for model in models):
                own = state.models.get(rule.line)
                if own is None:
                    own = state.models[rule.line] = ModelInfo(
                        id=rule.describe(),
                        match=ClauseEquals(equals=rule.pattern),
                        prices=ModelPrice(**rule.prices),
                    )
                quotes.append(Quote(rule.describe(), rule.since_ns, own))
                if rule.since_ns is None:
                    return tuple(quotes)
        for model in models:
            found = self._genai(name, model)
            if found is not None:
                genai_provider, info = found
                quotes.append(Quote(f"genai-prices {genai_provider}/{info.id}", None, info))
                break
        return tuple(quotes)

    def _genai(self, provider: str | None, model: str) -> tuple[str, ModelInfo] | None:
        """genai-prices' provider id and model for ``model`` of ``provider`` (semconv name);
        the provider found from the model when none is given."""
        genai_id: str | None = None
        if provider is not None:
            if provider in GENAI_PROVIDERS:
                genai_id = GENAI_PROVIDERS[provider]
            else:
                known = find_provider_by_id(self._snapshot.providers, provider)
                genai_id = known.id if known is not None else None
            if genai_id is None:
                return None
        for candidate_provider, ref in _refs(genai_id, model):
            try:
                found, info = self._snapshot.find_provider_model(
                    ref, None, candidate_provider, None
                )
            except LookupError:
                continue
            return found.id, info
        return None

    def rate(self, price: ModelPrice) -> Rate:
        """``price`` as per-token numbers (made once per price)."""
        rate = self._rates.get(id(price))
        if rate is None or rate.price is not price:
            rate = self._rates[id(price)] = Rate.of(price)
        return rate

    def _stamp(self) -> tuple[int, int] | None:
        if self.prices_file is None:
            return None
        try:
            stat = self.prices_file.stat()
        except OSError:
            return None
        return stat.st_mtime_ns, stat.st_size

    def _reload_if_changed(self) -> None:
        if self.prices_file is None or time.monotonic() - self._checked < RELOAD_CHECK_S:
            return
        with self._lock:
            self._checked = time.monotonic()
            stamp = self._stamp()
            if stamp is None or stamp == self._state.stamp:
                return
            try:
                rules = load_rules(self.prices_file)
            except PricesFileError as exc:
                if self.error != str(exc):
                    log.error("prices file not reloaded, the previous prices stay: %s", exc)
                self.error = str(exc)
                return
            self.error = None
            self._state = _State(rules, stamp)
            log.info("prices file reloaded: %d rules", len(rules))

    def reload(self) -> None:
        """Check the prices file for changes now (tests, the CLI, the Recompute button)."""
        self._checked = -math.inf
        self._reload_if_changed()


def _refs(provider: str | None, model: str) -> list[tuple[str | None, str]]:
    """(genai-prices provider, model name) to try for ``model``: as it is, without a
    ``provider/`` prefix (whose provider is used when none is given), without a date or
    version suffix."""
    refs = [(provider, model)]
    if "/" in model:
        prefix, _, rest = model.rpartition("/")
        first = prefix.partition("/")[0]
        named = GENAI_PROVIDERS.get(provider_name(first) or "", None)
        refs.append((provider or named, rest))
        model = rest
    while (shorter := _SUFFIX.sub("", model)) != model:
        model = shorter
        refs.append((refs[-1][0], model))
    return refs


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _utc(ts: int) -> datetime:
    return datetime.fromtimestamp(ts / 1e9, tz=UTC)
