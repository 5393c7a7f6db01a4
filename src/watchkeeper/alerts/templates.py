"""Label and annotation templates: a tiny language in Prometheus' spelling, checked at load time.

``{{ $value }}``, ``{{ $labels.service }}``, ``{{ $value | humanize }}`` or
``{{ humanize $value }}``, ``{{ $value | printf "%.1f" }}``. Variables: ``$value`` (the
query's value), ``$labels`` (one with ``.name``), ``$threshold``, ``$z`` and ``$baseline``
(anomaly rules). Functions: humanize, humanizePercentage, humanizeDuration, printf, upper,
lower, default. Nothing else: no loops, attribute access or calls into Python, so a rule
written in the UI cannot run code or spin the evaluator (Jinja2's sandbox blocks the first
but not the second: ``range(10**9)`` is allowed there), and every mistake is found when the
rule is loaded, not when it fires.

>>> render("{{ $labels.service }}: {{ $value | humanizePercentage }}", value=0.0712,
...        labels={"service": "api"})
'api: 7.12%'
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Final

Value = float | str | None


class TemplateError(ValueError):
    """A template that does not parse; the message says what and where."""


_BLOCK = re.compile(r"\{\{(.*?)\}\}", re.S)
_TOKEN = re.compile(r'\s*(?:(\|)|("(?:[^"\\]|\\.)*")|(\$[A-Za-z_][\w.]*)|([A-Za-z]\w*)|(\S+))')
_PRINTF = re.compile(r"%[-+ 0]?\d{0,3}(?:\.\d{1,3})?[dfeEgGs]")
VARIABLES: Final = ("value", "threshold", "z", "baseline")


def _number(value: Value) -> float | None:
    if value is None or isinstance(value, str):
        try:
            return float(value) if value is not None else None
        except ValueError:
            return None
    return float(value)


def humanize(value: Value) -> str:
    """A number with an SI suffix: 1234567 → '1.235M', 0.0042 → '4.2m'.

    >>> humanize(1234567), humanize(0.0042), humanize(12)
    ('1.235M', '4.2m', '12')
    """
    number = _number(value)
    if number is None:
        return "" if value is None else str(value)
    if number == 0 or not math.isfinite(number):
        return f"{number:g}"
    prefixes = (("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3), ("", 1), ("m", 1e-3), ("µ", 1e-6))
    for prefix, scale in prefixes:
        if abs(number) >= scale:
            return f"{number / scale:.4g}{prefix}"
    return f"{number:.4g}"


def humanize_percentage(value: Value) -> str:
    """A ratio as a percentage: 0.0712 → '7.12%'."""
    number = _number(value)
    return "" if number is None else f"{number * 100:.4g}%"


def humanize_duration(value: Value) -> str:
    """Seconds as a duration: 95 → '1m 35s', 0.25 → '250ms'."""
    number = _number(value)
    if number is None:
        return ""
    if abs(number) < 1:
        return f"{number * 1000:.4g}ms"
    seconds = round(number)
    parts = []
    for unit, size in (("d", 86_400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    if seconds or not parts:
        parts.append(f"{seconds}s")
    return " ".join(parts)


def _printf(value: Value, fmt: str) -> str:
    number = _number(value)
    if fmt.endswith("s"):
        return fmt % ("" if value is None else str(value))
    if number is None:
        return ""
    return fmt % (int(number) if fmt.endswith("d") else number)


_FUNCTIONS: Final[dict[str, tuple[int, Callable[..., str]]]] = {
    "humanize": (0, humanize),
    "humanizePercentage": (0, humanize_percentage),
    "humanizeDuration": (0, humanize_duration),
    "printf": (1, _printf),
    "upper": (0, lambda v: ("" if v is None else str(v)).upper()),
    "lower": (0, lambda v: ("" if v is None else str(v)).lower()),
    "default": (1, lambda v, d: d if v in (None, "") else str(v)),
}
"""Function name → (how many string arguments it takes after the piped value, the function)."""


@dataclass(frozen=True)
class _Expr:
    variable: str
    """``value``, ``threshold``… or ``labels.<name>``, or a string literal's text after ``'``."""
    calls: tuple[tuple[str, tuple[str, ...]], ...]


def _literal(token: str) -> str:
    return re.sub(r"\\(.)", r"\1", token[1:-1])


def _tokens(source: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    for match in _TOKEN.finditer(source):
        pipe, string, variable, word, other = match.groups()
        if other:
            raise TemplateError(f"unexpected {other!r} in {{{{{source}}}}}")
        if pipe:
            tokens.append(("|", pipe))
        elif string:
            tokens.append(("str", _literal(string)))
        elif variable:
            tokens.append(("var", variable[1:]))
        elif word:
            tokens.append(("word", word))
    if not tokens:
        raise TemplateError("empty {{ }}")
    # Prometheus' prefix form, `humanize $value`, is the same as `$value | humanize`.
    if tokens[0][0] == "word" and len(tokens) >= 2 and tokens[-1][0] == "var":
        tokens = [tokens[-1], ("|", "|"), *tokens[:-1]]
    return tokens


def _variable(kind: str, text: str, source: str) -> str:
    if kind == "str":
        return "'" + text
    if kind != "var":
        raise TemplateError(f'{{{{{source}}}}} must start with a $variable or a "string"')
    if text not in VARIABLES and text != "labels" and not text.startswith("labels."):
        raise TemplateError(
            f"unknown variable ${text}: use $value, $labels.<name>, $threshold, $z or $baseline"
        )
    if text == "labels" or text.count(".") > 1:
        raise TemplateError(f"${text}: name one label, as in $labels.service")
    return text


def _parse_expr(source: str) -> _Expr:
    tokens = _tokens(source)
    variable = _variable(*tokens[0], source)
    calls: list[tuple[str, tuple[str, ...]]] = []
    rest = tokens[1:]
    while rest:
        if rest[0][0] != "|" or len(rest) < 2 or rest[1][0] != "word":
            raise TemplateError(f"expected '| function' in {{{{{source}}}}}")
        name = rest[1][1]
        if name not in _FUNCTIONS:
            raise TemplateError(
                f"unknown function {name!r}: use one of {', '.join(sorted(_FUNCTIONS))}"
            )
        arity = _FUNCTIONS[name][0]
        args = rest[2 : 2 + arity]
        if len(args) != arity or any(kind != "str" for kind, _ in args):
            raise TemplateError(f"{name} takes {arity} quoted argument(s)")
        if name == "printf" and not _PRINTF.fullmatch(args[0][1]):
            raise TemplateError(f'printf format {args[0][1]!r}: use one like "%.2f" or "%d"')
        calls.append((name, tuple(text for _, text in args)))
        rest = rest[2 + arity :]
    return _Expr(variable, tuple(calls))


@lru_cache(maxsize=4096)
def compile_template(text: str) -> tuple[str | _Expr, ...]:
    """Parse ``text`` into literal parts and expressions; raise :class:`TemplateError`.

    >>> len(compile_template("p95 {{ $value }} ms"))
    3
    """
    parts: list[str | _Expr] = []
    position = 0
    for match in _BLOCK.finditer(text):
        parts.append(text[position : match.start()])
        parts.append(_parse_expr(match[1]))
        position = match.end()
    tail = text[position:]
    if "{{" in tail or "}}" in tail:
        raise TemplateError("unbalanced '{{' or '}}'")
    parts.append(tail)
    return tuple(part for part in parts if part != "")


def render(
    text: str,
    *,
    value: Value = None,
    labels: Mapping[str, str] | None = None,
    extra: Mapping[str, Value] | None = None,
) -> str:
    """Fill ``text`` in; a missing label or variable renders as ''. ``extra`` gives
    ``$threshold``, ``$z`` and ``$baseline``."""
    labels = labels or {}
    variables: dict[str, Value] = {"value": value, **(extra or {})}
    out: list[str] = []
    for part in compile_template(text):
        if isinstance(part, str):
            out.append(part)
            continue
        if part.variable.startswith("'"):
            current: Value = part.variable[1:]
        elif part.variable.startswith("labels."):
            current = labels.get(part.variable[7:])
        else:
            current = variables.get(part.variable)
        for name, args in part.calls:
            current = _FUNCTIONS[name][1](current, *args)
        out.append(_plain(current))
    return "".join(out)


def _plain(value: Value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:g}" if math.isfinite(value) and value != int(value) else f"{value:.15g}"
    return str(value)
