"""llm/prices.py: costs from genai-prices (compared with its own calc_price), the prices file's
rules first, reported costs kept, unpriced calls never $0, the file reloaded when it changes."""

from __future__ import annotations

import logging
import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from genai_prices import Usage, calc_price
from genai_prices.data_snapshot import get_snapshot

from watchkeeper.llm import prices as prices_module
from watchkeeper.llm.overrides import PricesFileError
from watchkeeper.llm.prices import PriceBook, Rate

NOW = time.time_ns()


def call(provider: str | None, model: str, response: str | None = None, **usage: int) -> dict[str, Any]:  # fmt: skip
    """The attributes of a normalised chat call with these token counts."""
    names = {"input": "gen_ai.usage.input_tokens", "output": "gen_ai.usage.output_tokens",
             "cache_read": "gen_ai.usage.cache_read.input_tokens",
             "cache_write": "gen_ai.usage.cache_write.input_tokens",
             "reasoning": "gen_ai.usage.reasoning.output_tokens"}  # fmt: skip
    attributes: dict[str, Any] = {"gen_ai.operation.name": "chat", "gen_ai.request.model": model}
    if provider:
        attributes["gen_ai.provider.name"] = provider
    if response:
        attributes["gen_ai.response.model"] = response
    attributes.update({names[key]: value for key, value in usage.items()})
    return attributes


def genai(model: str, provider: str, **usage: int) -> float:
    """What genai-prices itself says such a call costs now."""
    keys = {"input": "input_tokens", "output": "output_tokens", "cache_read": "cache_read_tokens",
            "cache_write": "cache_write_tokens", "reasoning": "output_reasoning_tokens"}  # fmt: skip
    price = calc_price(
        Usage(**{keys[k]: v for k, v in usage.items()}),
        model,
        provider_id=provider,
        genai_request_timestamp=datetime.fromtimestamp(NOW / 1e9, tz=UTC),
    )
    return float(price.total_price)


def write(path: Path, text: str, mtime_ns: int | None = None) -> Path:
    path.write_text(text)
    if mtime_ns is not None:
        os.utime(path, ns=(mtime_ns, mtime_ns))
    return path


@pytest.fixture
def book() -> PriceBook:
    return PriceBook()


@pytest.mark.parametrize(
    ("provider", "model", "genai_provider", "genai_model", "usage"),
    [
        ("openai", "gpt-4o", "openai", "gpt-4o", {"input": 1200, "output": 300, "cache_read": 200}),
        ("anthropic", "claude-3-5-sonnet-20240620", "anthropic", "claude-3-5-sonnet-20240620",
         {"input": 5000, "output": 200, "cache_read": 3000, "cache_write": 1000}),
        ("gcp.gemini", "gemini-2.5-flash", "google", "gemini-2.5-flash", {"input": 900, "output": 90}),
        ("aws.bedrock", "anthropic.claude-3-5-sonnet-20240620-v1:0", "aws",
         "anthropic.claude-3-5-sonnet-20240620-v1:0", {"input": 100, "output": 10}),
        ("x_ai", "grok-3", "x-ai", "grok-3", {"input": 100, "output": 10}),
        ("mistral_ai", "mistral-large-latest", "mistral", "mistral-large-latest", {"input": 7, "output": 3}),
        ("moonshot_ai", "kimi-k2", "moonshotai", "kimi-k2", {"input": 7, "output": 3}),
        ("azure.ai.openai", "gpt-4o-mini", "azure", "gpt-4o-mini", {"input": 7, "output": 3}),
        ("openai", "o3-mini", "openai", "o3-mini", {"input": 50, "output": 400, "reasoning": 300}),
        ("anthropic", "claude-sonnet-4-5", "anthropic", "claude-sonnet-4-5", {"input": 300_000, "output": 10}),
        (None, "gpt-4o", "openai", "gpt-4o", {"input": 10, "output": 10}),
    ],
    ids=["openai-cache", "anthropic-cache-write", "gemini", "bedrock", "xai", "mistral",
         "moonshot", "azure", "reasoning", "tier-above-200k", "provider-from-model"],
)  # fmt: skip
def test_computed_costs_match_genai_prices(
    book: PriceBook, provider: str | None, model: str, genai_provider: str, genai_model: str,
    usage: dict[str, int],
) -> None:  # fmt: skip
    """Our cost for a call is what genai_prices.calc_price gives, for each provider's name."""
    usd, source = book.cost(call(provider, model, **usage), NOW)
    assert source == "computed"
    assert usd == pytest.approx(genai(genai_model, genai_provider, **usage), rel=1e-12)
    assert usd is not None and usd > 0


def test_response_model_first_then_request(book: PriceBook) -> None:
    """The model that answered prices the call; the requested one when that is unknown."""
    answered = call("openai", "gpt-4o", response="gpt-4o-mini-2024-07-18", input=1000, output=100)
    assert book.cost(answered, NOW)[0] == pytest.approx(genai("gpt-4o-mini", "openai", input=1000, output=100))  # fmt: skip
    odd = call("openai", "gpt-4o", response="gpt-4o-custom-router-name", input=1000, output=100)
    assert book.cost(odd, NOW)[0] == pytest.approx(genai("gpt-4o", "openai", input=1000, output=100))  # fmt: skip


@pytest.mark.parametrize(
    ("provider", "model", "genai_provider", "plain"),
    [
        ("openai", "openai/gpt-4o", "openai", "gpt-4o"),
        (None, "anthropic/claude-3-5-haiku-20241022", "anthropic", "claude-3-5-haiku-20241022"),
        ("gcp.gemini", "models/gemini-2.0-flash", "google", "gemini-2.0-flash"),
        ("gcp.vertex_ai", "claude-3-5-sonnet@20240620", "google", "claude-3-5-sonnet"),
        ("gcp.vertex_ai", "gemini-2.0-flash-001", "google", "gemini-2.0-flash"),
        ("gemini", "gemini-2.0-flash", "google", "gemini-2.0-flash"),
    ],
)
def test_prefixes_and_suffixes(
    book: PriceBook, provider: str | None, model: str, genai_provider: str, plain: str
) -> None:
    """provider/ prefixes, dated and versioned suffixes and old provider names find the model
    genai-prices finds for the plain name."""
    found = get_snapshot().find_provider_model(plain, None, genai_provider, None)
    quote = book.quote(provider, model)
    assert quote is not None and quote.source == f"genai-prices {found[0].id}/{found[1].id}"


@pytest.mark.parametrize(
    ("provider", "model"),
    [("ollama", "llama3"), ("openai", "my-own-finetune"), ("ibm.watsonx.ai", "granite-3-8b"),
     (None, "no-such-model-anywhere")],
)  # fmt: skip
def test_unpriced_calls_have_no_cost(book: PriceBook, provider: str | None, model: str) -> None:
    """An unknown model, or a provider genai-prices has no prices for, is unpriced: cost None,
    never $0 (and not guessed from another provider's price)."""
    assert book.cost(call(provider, model, input=100, output=10), NOW) == (None, "unpriced")


def test_reported_costs_are_kept(book: PriceBook) -> None:
    """A cost the call carried is reported as is; one we computed earlier is computed again."""
    reported = {**call("openai", "gpt-4o", input=10, output=1), "gen_ai.usage.cost": 0.25}
    assert book.cost(reported, NOW) == (0.25, "reported")
    ours = {**reported, "watchkeeper.cost_source": "computed"}
    assert book.cost(ours, NOW) == (pytest.approx(genai("gpt-4o", "openai", input=10, output=1)), "computed")  # fmt: skip
    nan = {**call("openai", "gpt-4o", input=10, output=1), "gen_ai.usage.cost": float("nan")}
    assert book.cost(nan, NOW)[1] == "computed"


def test_cache_counted_apart_from_input(book: PriceBook) -> None:
    """Cache reads larger than the input tokens mean input without the cache (Anthropic's own
    usage): they are added, as genai-prices' Anthropic extractor does."""
    apart = call("anthropic", "claude-3-5-sonnet-20240620", input=100, output=10, cache_read=3000)
    expected = genai("claude-3-5-sonnet-20240620", "anthropic", input=3100, output=10, cache_read=3000)  # fmt: skip
    assert book.cost(apart, NOW)[0] == pytest.approx(expected)


RULES = """\
- match: {equals: gpt-4o}
  provider: openai
  input_mtok: 1
  output_mtok: 2
- match: {starts_with: acme-}
  input_mtok: 10
  output_mtok: 20
  cache_read_mtok: 5
  per_call: 0.5
- match: {regex: 'claude-3-5-sonnet-\\d{8}'}
  input_mtok: 100
  output_mtok: 100
  since: 2030-01-01
"""


def test_rules_come_before_genai_prices(tmp_path: Path) -> None:
    """A matching rule prices the call; starts_with and regex rules too; a rule for another
    provider does not apply; a dated rule applies only from its day."""
    book = PriceBook(write(tmp_path / "prices.yaml", RULES))
    assert book.cost(call("openai", "GPT-4o", input=1_000_000, output=1_000_000), NOW) == (3.0, "computed")  # fmt: skip
    azure = call("azure.ai.openai", "gpt-4o", input=1000, output=100)
    assert book.cost(azure, NOW)[0] == pytest.approx(genai("gpt-4o", "azure", input=1000, output=100))  # fmt: skip
    acme = call("openai", "acme-large", input=2_000_000, output=1_000_000, cache_read=1_000_000)
    assert book.cost(acme, NOW) == (pytest.approx(10 + 5 + 20 + 0.5), "computed")
    sonnet = call("anthropic", "claude-3-5-sonnet-20240620", input=1_000_000, output=0)
    assert book.cost(sonnet, NOW)[0] == pytest.approx(genai("claude-3-5-sonnet-20240620", "anthropic", input=1_000_000))  # fmt: skip
    later = int(datetime(2030, 6, 1, tzinfo=UTC).timestamp()) * 10**9
    assert book.cost(sonnet, later)[0] == pytest.approx(100.0)
    quote = book.quote("openai", "gpt-4o")
    assert quote is not None and quote.source == "prices file line 1 (equals 'gpt-4o')"


def test_the_file_is_reloaded_when_it_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A changed file is read again at the next check; not before the check interval."""
    path = write(tmp_path / "prices.yaml", "", mtime_ns=1_000_000_000)
    book = PriceBook(path)
    attributes = call("openai", "acme-1", input=1_000_000, output=0)
    assert book.cost(attributes, NOW) == (None, "unpriced")
    write(path, RULES, mtime_ns=2_000_000_000)
    assert book.cost(attributes, NOW) == (None, "unpriced"), "checked again within the interval"
    monkeypatch.setattr(prices_module, "RELOAD_CHECK_S", 0.0)
    assert book.cost(attributes, NOW) == (pytest.approx(10.5), "computed")
    write(path, RULES.replace("input_mtok: 10", "input_mtok: 40"), mtime_ns=3_000_000_000)
    assert book.cost(attributes, NOW) == (pytest.approx(40.5), "computed")


def test_a_bad_file_fails_at_start_and_is_ignored_on_reload(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A bad file stops the start with its line and field; a file that turns bad later keeps
    the previous prices in use and says why."""
    path = write(tmp_path / "prices.yaml", "- match: {equals: a}\n  input_mtok: 1\n  output_mtok: lots\n")  # fmt: skip
    with pytest.raises(PricesFileError, match=r"prices\.yaml:3: rule 1, field output_mtok"):
        PriceBook(path)
    write(path, RULES, mtime_ns=1_000_000_000)
    book = PriceBook(path)
    write(path, RULES + "- match: {equals: b}\n  input_mtok: 1\n", mtime_ns=2_000_000_000)
    with caplog.at_level(logging.ERROR, logger="watchkeeper.llm.prices"):
        book.reload()
    assert book.error is not None and "field output_mtok: is required" in book.error
    assert "previous prices stay" in caplog.text
    assert book.cost(call("openai", "acme-x", input=1_000_000), NOW)[0] == pytest.approx(10.5)


def test_per_token_rates_match_genai_prices_for_every_model() -> None:
    """For every model genai-prices has, the per-token numbers give what its own arithmetic
    gives for a call with cache and reasoning tokens (tiers included)."""
    checked = 0
    when = datetime.fromtimestamp(NOW / 1e9, tz=UTC)
    for index, (provider, model) in enumerate(
        (p, m) for p in get_snapshot().providers for m in p.models
    ):
        price = model.get_prices(when)
        counts = (150_000 + index * 97 % 100_000, 20_000, 10_000, 3_000, 1_000)
        usage = Usage(input_tokens=counts[0], cache_read_tokens=counts[1],
                      cache_write_tokens=counts[2], output_tokens=counts[3],
                      output_reasoning_tokens=counts[4])  # fmt: skip
        expected = float(price.calc_price(usage)["total_price"])
        got = Rate.of(price).cost(counts)
        assert got == pytest.approx(expected, rel=1e-9, abs=1e-12), (provider.id, model.id)
        checked += 1
    assert checked > 1000


def test_provider_from_the_model_name(book: PriceBook) -> None:
    """A call naming only its model gets the provider genai-prices finds for it, as a
    gen_ai.provider.name value; none for a model it does not know."""
    assert book.provider_for("claude-3-5-haiku-20241022") == "anthropic"
    assert book.provider_for("openai/gpt-4o") == "openai"
    assert book.provider_for("gemini-2.5-flash") == "gcp.gen_ai"
    assert book.provider_for("llama3") is None
    assert book.provider_for(None) is None
