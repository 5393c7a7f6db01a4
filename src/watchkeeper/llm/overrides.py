"""Local LLM prices: a YAML file of rules checked before the genai-prices data (setting
``prices_file``), for models it lacks, negotiated rates, or a price that changed on a date.

The file is a list of rules; the first that matches a call's provider and model wins::

    - match: {starts_with: my-finetune-}   # or equals: / regex: (the whole name, any case)
      provider: openai                     # optional: gen_ai.provider.name as the LLM page shows it
      input_mtok: 3.0                      # USD per million input tokens (required)
      output_mtok: 12.0                    # USD per million output tokens (required)
      cache_read_mtok: 0.3                 # optional: cached input tokens read (else input price)
      cache_write_mtok: 3.75               # optional: input tokens written to the cache
      reasoning_mtok: 12.0                 # optional: reasoning tokens (else output price)
      per_call: 0.001                      # optional: USD per call
      since: 2026-01-01                    # optional: only calls from this day (UTC) on

Prices follow genai-prices' rules (its ``ModelPrice``): input tokens include cached ones, which
are billed at their own price when one is given, and output tokens include reasoning ones. A bad
file is refused with its line and field, at start-up and on each reload.

>>> text = "- match: {equals: gpt-4o}\\n  input_mtok: 2\\n  output_mtok: 8\\n"
>>> rules = parse_rules(text, "prices.yaml")
>>> rules[0].matches("openai", "GPT-4o"), rules[0].matches("openai", "gpt-4o-mini")
(True, False)
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Final

import yaml  # type: ignore[import-untyped]

from watchkeeper.llm.usage import provider as provider_name

PRICE_FIELDS: Final[dict[str, tuple[str, int]]] = {
    "input_mtok": ("input_mtok", 1),
    "output_mtok": ("output_mtok", 1),
    "cache_read_mtok": ("cache_read_mtok", 1),
    "cache_write_mtok": ("cache_write_mtok", 1),
    "reasoning_mtok": ("output_reasoning_mtok", 1),
    "per_call": ("requests_kcount", 1000),
}
"""Our field → (genai-prices ``ModelPrice`` key, factor to its unit)."""
REQUIRED: Final = ("match", "input_mtok", "output_mtok")
FIELDS: Final = ("match", "provider", *PRICE_FIELDS, "since")
MATCH_KINDS: Final = ("equals", "starts_with", "regex")


class PricesFileError(ValueError):
    """A prices file that cannot be used; the message names the file, line and field."""


@dataclass(frozen=True)
class PriceRule:
    """One rule of the prices file."""

    line: int
    kind: str
    """``equals``, ``starts_with`` or ``regex``."""
    pattern: str
    provider: str | None
    prices: Mapping[str, Decimal]
    """genai-prices ``ModelPrice`` keys → USD per their unit."""
    since_ns: int | None = None
    _regex: re.Pattern[str] | None = None

    def matches(self, provider: str | None, model: str) -> bool:
        """Whether a call to ``model`` (any case) of ``provider`` is priced by this rule."""
        if self.provider is not None and self.provider != provider:
            return False
        model = model.lower()
        if self.kind == "equals":
            return model == self.pattern
        if self.kind == "starts_with":
            return model.startswith(self.pattern)
        return self._regex is not None and self._regex.fullmatch(model) is not None

    def describe(self) -> str:
        return f"prices file line {self.line} ({self.kind} {self.pattern!r})"


def load_rules(path: Path) -> tuple[PriceRule, ...]:
    """The rules of the prices file at ``path``; :class:`PricesFileError` when it is unusable."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PricesFileError(f"{path}: cannot be read: {exc}") from None
    return parse_rules(text, str(path))


def parse_rules(text: str, name: str) -> tuple[PriceRule, ...]:
    """The rules in YAML ``text`` (``name`` is used in errors)."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{name}:{mark.line + 1}" if mark is not None else name
        raise PricesFileError(f"{where}: not valid YAML: {exc}") from None
    if root is None or data is None:
        return ()
    if not isinstance(root, yaml.SequenceNode) or not isinstance(data, list):
        raise PricesFileError(f"{name}:1: expected a list of rules (- match: ...)")
    return tuple(
        _rule(item, node, name, index + 1)
        for index, (item, node) in enumerate(zip(data, root.value, strict=True))
    )


class _Fail:
    """Builds the error of one rule: the line of the field's value (else the rule's) and the
    field."""

    def __init__(self, node: Any, name: str, number: int) -> None:
        self.node, self.name, self.number = node, name, number
        self.line: int = node.start_mark.line + 1

    def __call__(self, field: str | None, problem: str) -> PricesFileError:
        at = self.line
        if field is not None and isinstance(self.node, yaml.MappingNode):
            lines = (v.start_mark.line + 1 for k, v in self.node.value if k.value == field)
            at = next(lines, self.line)
        what = f"rule {self.number}, field {field}" if field else f"rule {self.number}"
        return PricesFileError(f"{self.name}:{at}: {what}: {problem}")


def _rule(item: Any, node: Any, name: str, number: int) -> PriceRule:
    fail = _Fail(node, name, number)
    if not isinstance(item, dict):
        raise fail(None, "expected a mapping with match, input_mtok and output_mtok")
    for key in item:
        if key not in FIELDS:
            raise fail(str(key), f"unknown field; expected some of {', '.join(FIELDS)}")
    for key in REQUIRED:
        if key not in item:
            raise fail(key, "is required")
    kind, pattern, regex = _match(item["match"], fail)
    provider = item.get("provider")
    if provider is not None and not (isinstance(provider, str) and provider.strip()):
        raise fail("provider", "must be a provider name such as openai")
    return PriceRule(
        line=fail.line,
        kind=kind,
        pattern=pattern if kind == "regex" else pattern.lower(),
        provider=provider_name(provider) if provider is not None else None,
        prices=_prices(item, fail),
        since_ns=_since(item.get("since"), fail),
        _regex=regex,
    )


def _match(match: Any, fail: _Fail) -> tuple[str, str, re.Pattern[str] | None]:
    if not isinstance(match, dict) or len(match) != 1 or next(iter(match)) not in MATCH_KINDS:
        raise fail("match", "expected one of {equals: name}, {starts_with: prefix}, {regex: re}")
    kind, pattern = next(iter(match.items()))
    if not isinstance(pattern, str) or not pattern:
        raise fail("match", f"{kind} needs a model name as text")
    if kind != "regex":
        return kind, pattern, None
    try:
        return kind, pattern, re.compile(pattern, re.IGNORECASE)
    except re.error as exc:
        raise fail("match", f"not a valid regular expression: {exc}") from None


def _prices(item: dict[str, Any], fail: _Fail) -> dict[str, Decimal]:
    prices: dict[str, Decimal] = {}
    for field, (key, factor) in PRICE_FIELDS.items():
        if field in item:
            value = item[field]
            valid = isinstance(value, int | float) and not isinstance(value, bool)
            if not valid or not math.isfinite(value) or value < 0:
                raise fail(field, f"must be a number ≥ 0 (USD), not {value!r}")
            prices[key] = Decimal(str(value)) * factor
    return prices


def _since(since: Any, fail: _Fail) -> int | None:
    """The first ns of the day ``since`` (UTC), or None."""
    if since is None:
        return None
    try:
        day = since if isinstance(since, date) else date.fromisoformat(str(since))
    except ValueError:
        raise fail("since", f"must be a date like 2026-01-31, not {since!r}") from None
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()) * 10**9


def parse_prices_file(value: Any) -> Path | None:
    """The ``prices_file`` setting: a readable, valid prices file, or None (empty: no file).

    >>> parse_prices_file("") is None
    True
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    path = Path(value)
    if not path.is_file():
        raise ValueError(f"no such file: {path}")
    load_rules(path)
    return path
