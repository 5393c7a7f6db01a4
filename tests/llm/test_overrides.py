"""llm/overrides.py: the prices file's rules, and errors naming the line and field of a bad one."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from watchkeeper.llm.overrides import PricesFileError, load_rules, parse_prices_file, parse_rules

GOOD = """\
# negotiated rates
- match: {equals: GPT-4o}
  provider: openai
  input_mtok: 2
  output_mtok: 8.5
  cache_read_mtok: 0.5
  per_call: 0.001
- match: {starts_with: ft:gpt-4o-mini}
  input_mtok: 0.3
  output_mtok: 1.2
  reasoning_mtok: 2
  cache_write_mtok: 0.4
- match: {regex: 'llama-3\\.\\d+-70b.*'}
  provider: az.ai.inference
  input_mtok: 0.7
  output_mtok: 0.9
  since: 2026-01-15
"""


def test_rules_are_read_in_order_with_their_prices() -> None:
    """Each rule keeps its line, match, provider (current semconv name) and prices in
    genai-prices' keys and units."""
    first, second, third = parse_rules(GOOD, "prices.yaml")
    assert (first.line, first.kind, first.pattern, first.provider) == (2, "equals", "gpt-4o", "openai")  # fmt: skip
    assert first.prices == {
        "input_mtok": Decimal(2),
        "output_mtok": Decimal("8.5"),
        "cache_read_mtok": Decimal("0.5"),
        "requests_kcount": Decimal("1.000"),
    }
    assert second.prices["output_reasoning_mtok"] == Decimal(2)
    assert second.prices["cache_write_mtok"] == Decimal("0.4")
    assert second.provider is None
    assert third.provider == "azure.ai.inference"
    assert third.since_ns == 1_768_435_200 * 10**9


def test_matching_ignores_case_and_checks_the_provider() -> None:
    """equals, starts_with and regex (whole name) match any case; a rule's provider must be
    the call's."""
    equals, starts, regex = parse_rules(GOOD, "prices.yaml")
    assert equals.matches("openai", "gpt-4o") and not equals.matches("anthropic", "gpt-4o")
    assert not equals.matches("openai", "gpt-4o-mini")
    assert starts.matches(None, "FT:GPT-4o-mini:acme::abc") and starts.matches(
        "x", "ft:gpt-4o-mini"
    )
    assert not starts.matches(None, "gpt-4o-mini")
    assert regex.matches("azure.ai.inference", "Llama-3.3-70B-Instruct")
    assert not regex.matches("azure.ai.inference", "my-llama-3.3-70b")


def test_an_empty_file_has_no_rules() -> None:
    """An empty or comment-only file is no rules."""
    assert parse_rules("", "p.yaml") == ()
    assert parse_rules("# nothing yet\n", "p.yaml") == ()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("- match: {equals: a}\n  input_mtok: 1\n  output_mtok: x\n", r"p\.yaml:3: rule 1, field output_mtok: must be a number"),
        ("- match: {equals: a}\n  input_mtok: 1\n  output_mtok: -2\n", r":3: rule 1, field output_mtok: must be a number ≥ 0"),
        ("- match: {equals: a}\n  input_mtok: true\n  output_mtok: 2\n", r":2: rule 1, field input_mtok"),
        ("- match: {equals: a}\n  input_mtok: 1\n", r":1: rule 1, field output_mtok: is required"),
        ("- match: {equals: a}\n  input_mtok: 1\n  output_mtok: 2\n  inptu_mtok: 3\n", r":4: rule 1, field inptu_mtok: unknown field"),
        ("- match: {contains: a}\n  input_mtok: 1\n  output_mtok: 2\n", r":1: rule 1, field match: expected one of"),
        ("- match: {regex: '(unclosed'}\n  input_mtok: 1\n  output_mtok: 2\n", r"field match: not a valid regular expression"),
        ("- match: {equals: 3}\n  input_mtok: 1\n  output_mtok: 2\n", r"field match: equals needs a model name"),
        ("- match: {equals: a}\n  input_mtok: 1\n  output_mtok: 2\n- match: {equals: b}\n  input_mtok: 1\n  output_mtok: 2\n  since: soon\n", r":7: rule 2, field since: must be a date"),
        ("- match: {equals: a}\n  provider: ''\n  input_mtok: 1\n  output_mtok: 2\n", r":2: rule 1, field provider"),
        ("- just a string\n", r":1: rule 1: expected a mapping"),
        ("match: {equals: a}\n", r"p\.yaml:1: expected a list of rules"),
        ("- match: {equals: a\n  input_mtok: 1\n", r"p\.yaml:\d+: not valid YAML"),
    ],
    ids=["not-a-number", "negative", "bool", "missing", "unknown", "match-kind", "bad-regex",
         "match-not-text", "since", "provider", "not-a-mapping", "not-a-list", "bad-yaml"],
)  # fmt: skip
def test_bad_files_name_the_line_and_field(text: str, message: str) -> None:
    """A bad rule is refused with FILE:LINE, the rule's number and the field."""
    with pytest.raises(PricesFileError, match=message):
        parse_rules(text, "p.yaml")


def test_the_setting_checks_the_file(tmp_path: Path) -> None:
    """prices_file: empty means none; a missing or bad file is refused; a good one is its path."""
    assert parse_prices_file(None) is None and parse_prices_file(" ") is None
    with pytest.raises(ValueError, match="no such file"):
        parse_prices_file(str(tmp_path / "missing.yaml"))
    path = tmp_path / "prices.yaml"
    path.write_text("- match: {equals: a}\n  input_mtok: 1\n")
    with pytest.raises(PricesFileError, match=rf"{path}:1: rule 1, field output_mtok"):
        parse_prices_file(str(path))
    path.write_text(GOOD)
    assert parse_prices_file(str(path)) == path
    assert len(load_rules(path)) == 3
