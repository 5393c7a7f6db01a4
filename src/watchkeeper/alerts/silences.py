"""Silences: label matchers in Alertmanager's syntax, and which alerts a silence mutes.

A matcher is ``name op value`` with ``op`` one of ``=``, ``!=``, ``=~``, ``!~``; a list of them
is comma-separated, optionally in braces: ``{service="api", env!=dev, model=~"gpt-.*"}``.
Values may be double-quoted (``\\"`` and ``\\\\`` are the escapes) or bare when they hold no
space, comma, brace or quote. Regexes are anchored, as in Alertmanager: ``model=~"gpt-4"``
does not match ``gpt-4o``. A label the alert lacks has the value ``""``, so ``env!="dev"``
matches an alert without ``env`` (reference/metrics-alerts-health.md §2.2, §2.4).

>>> rules = parse_matchers('{service="api", model=~"gpt-.*"}')
>>> matches(rules, {"service": "api", "model": "gpt-4o"}), matches(rules, {"service": "api"})
(True, False)
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Final, Literal, cast

from watchkeeper.alerts.model import Alert, Matcher, MatchOp, Silence

OPS: Final[tuple[MatchOp, ...]] = ("=~", "!~", "!=", "=")
"""Longest first, so ``!=`` is not read as a name ending in ``!``."""

_NAME: Final = re.compile(r'"((?:[^"\\]|\\.)*)"|([A-Za-z_][\w.:-]*)')
_OP: Final = re.compile("|".join(re.escape(op) for op in OPS))
_VALUE: Final = re.compile(r'"((?:[^"\\]|\\.)*)"|([^\s,{}"]*)')
_ESCAPE: Final = re.compile(r"\\([\"\\])")


def parse_matcher(text: str) -> Matcher:
    """One matcher from its text form.

    >>> parse_matcher('model=~"gpt-.*"')
    Matcher(name='model', op='=~', value='gpt-.*')
    """
    found = parse_matchers(text)
    if len(found) != 1:
        raise ValueError(f"matcher {text!r}: expected exactly one matcher, found {len(found)}")
    return found[0]


def parse_matchers(spec: str | Sequence[str | Mapping[str, object]]) -> tuple[Matcher, ...]:
    """Matchers from text (``a="b", c!~"d|e"``, braces optional) or from a list whose items
    are matcher texts, ``{name, op, value}`` maps or Alertmanager's API form
    ``{name, value, isRegex, isEqual}``. Every matcher is validated; ValueError names the bad one.

    >>> parse_matchers([{"name": "env", "op": "!=", "value": "dev"}, 'a!~"b|c"'])
    (Matcher(name='env', op='!=', value='dev'), Matcher(name='a', op='!~', value='b|c'))
    """
    if isinstance(spec, str):
        return tuple(validate_matcher(m) for m in _scan(spec))
    found: list[Matcher] = []
    for index, item in enumerate(spec):
        if isinstance(item, str):
            found.append(parse_matcher(item))
        elif isinstance(item, Mapping):
            found.append(validate_matcher(_from_mapping(item, index)))
        else:
            raise ValueError(f"matchers[{index}]: expected a string or a mapping, got {item!r}")
    return tuple(found)


def _scan(text: str) -> list[Matcher]:
    body = text.strip()
    if body.startswith("{"):
        if not body.endswith("}"):
            raise ValueError(f"matchers {text!r}: missing closing '}}'")
        body = body[1:-1]
    found: list[Matcher] = []
    pos = _skip_space(body, 0)
    while pos < len(body):
        name = _NAME.match(body, pos)
        if name is None:
            raise ValueError(f"matchers {text!r}: expected a label name at {body[pos:]!r}")
        op = _OP.match(body, _skip_space(body, name.end()))
        if op is None:
            raise ValueError(f"matchers {text!r}: expected = != =~ !~ after {name.group(0)!r}")
        value = _VALUE.match(body, _skip_space(body, op.end()))
        if value is None:  # pragma: no cover - the bare alternative matches the empty string
            raise ValueError(f"matchers {text!r}: expected a value after {op.group(0)!r}")
        found.append(
            Matcher(
                name.group(2) or _unescape(name.group(1)),
                cast(MatchOp, op.group(0)),
                value.group(2) if value.group(1) is None else _unescape(value.group(1)),
            )
        )
        pos = _skip_space(body, value.end())
        if pos < len(body):
            if body[pos] != ",":
                raise ValueError(
                    f"matchers {text!r}: expected ',' between matchers at {body[pos:]!r}"
                )
            pos = _skip_space(body, pos + 1)
    return found


def _skip_space(text: str, pos: int) -> int:
    while pos < len(text) and text[pos].isspace():
        pos += 1
    return pos


def _unescape(text: str) -> str:
    return _ESCAPE.sub(r"\1", text)


def _from_mapping(item: Mapping[str, object], index: int) -> Matcher:
    name, value = item.get("name"), item.get("value", "")
    if not isinstance(name, str) or not isinstance(value, str):
        raise ValueError(f"matchers[{index}]: 'name' and 'value' must be strings")
    if "op" in item:
        op = item["op"]
        if op not in OPS:
            raise ValueError(f"matchers[{index}].op: expected one of {', '.join(OPS)}, got {op!r}")
        return Matcher(name, op, value)
    regex, equal = item.get("isRegex", False), item.get("isEqual", True)
    if not isinstance(regex, bool) or not isinstance(equal, bool):
        raise ValueError(f"matchers[{index}]: 'isRegex' and 'isEqual' must be booleans")
    op_: MatchOp = ("=~" if equal else "!~") if regex else ("=" if equal else "!=")
    return Matcher(name, op_, value)


def validate_matcher(matcher: Matcher) -> Matcher:
    """The matcher itself when valid; ValueError naming it otherwise (empty name, unknown
    operator, a regex that does not compile).

    >>> validate_matcher(Matcher("model", "=~", "gpt-(4"))
    Traceback (most recent call last):
    ...
    ValueError: matcher model=~"gpt-(4": bad regex: missing ), unterminated subpattern at position 0
    """
    if not matcher.name:
        raise ValueError(f"matcher {format_matcher(matcher)}: the label name is empty")
    if matcher.op not in OPS:
        raise ValueError(f"matcher {format_matcher(matcher)}: unknown operator {matcher.op!r}")
    if matcher.op in ("=~", "!~"):
        try:
            _regex(matcher.value)
        except re.error as exc:
            raise ValueError(f"matcher {format_matcher(matcher)}: bad regex: {exc}") from None
    return matcher


def format_matcher(matcher: Matcher) -> str:
    """The text form, value quoted; :func:`parse_matcher` reads it back.

    >>> format_matcher(Matcher("summary", "=", 'say "hi"'))
    'summary="say \\\\"hi\\\\""'
    """
    value = matcher.value.replace("\\", "\\\\").replace('"', '\\"')
    return f'{matcher.name}{matcher.op}"{value}"'


@functools.lru_cache(maxsize=1024)
def _regex(value: str) -> re.Pattern[str]:
    # Grouped so an alternation stays inside the anchors fullmatch adds.
    return re.compile(f"(?:{value})")


def matches(matchers: Iterable[Matcher], labels: Mapping[str, str]) -> bool:
    """True when the labels satisfy every matcher (a missing label reads as ``""``).

    >>> matches(parse_matchers('env!="dev"'), {"service": "api"})
    True
    """
    for matcher in matchers:
        value = labels.get(matcher.name, "")
        op = matcher.op
        if op == "=":
            ok = value == matcher.value
        elif op == "!=":
            ok = value != matcher.value
        else:
            ok = (_regex(matcher.value).fullmatch(value) is not None) == (op == "=~")
        if not ok:
            return False
    return True


SilenceState = Literal["pending", "active", "expired"]


def state(silence: Silence, now: int) -> SilenceState:
    """Alertmanager's word for where a silence stands at ``now`` (ns).

    >>> state(Silence(1, 1, (), starts_at=10, ends_at=20), 15)
    'active'
    """
    if now < silence.starts_at:
        return "pending"
    return "active" if now < silence.ends_at else "expired"


def active(silence: Silence, now: int) -> bool:
    """True from ``starts_at`` (included) to ``ends_at`` (excluded)."""
    return silence.starts_at <= now < silence.ends_at


def silenced_by(labels: Mapping[str, str], silences: Iterable[Silence], now: int) -> Silence | None:
    """The first silence active at ``now`` whose matchers all match the labels, else None.

    >>> mute = Silence(7, 1, parse_matchers('service="api"'), starts_at=0, ends_at=100)
    >>> silenced_by({"service": "api"}, [mute], now=50).id
    7
    >>> silenced_by({"service": "api"}, [mute], now=100) is None
    True
    """
    for silence in silences:
        if active(silence, now) and matches(silence.matchers, labels):
            return silence
    return None


def silenced(alerts: Iterable[Alert], silences: Sequence[Silence], now: int) -> dict[str, Silence]:
    """The muted alerts, by fingerprint, with the silence that mutes each (for the Alerts page;
    a silence only mutes its own project's alerts).

    >>> from watchkeeper.alerts.model import Alert
    >>> alert = Alert(1, "HighLatency", "f1", {"service": "api"}, {}, "firing", 0.9, 0)
    >>> mute = Silence(7, 1, parse_matchers('service="api"'), starts_at=0, ends_at=100)
    >>> {fingerprint: s.id for fingerprint, s in silenced([alert], [mute], 50).items()}
    {'f1': 7}
    """
    found: dict[str, Silence] = {}
    for alert in alerts:
        own = (s for s in silences if s.project == alert.project)
        silence = silenced_by(alert.labels, own, now)
        if silence is not None:
            found[alert.fingerprint] = silence
    return found


def validate_silence(silence: Silence) -> Silence:
    """The silence itself when it may be saved; ValueError naming the field otherwise.

    Like Alertmanager it needs at least one matcher that does not match the empty string: a
    silence of only ``env!="prod"``-style matchers would also mute every alert lacking the label.

    >>> validate_silence(Silence(1, 1, parse_matchers('env!="prod"'), starts_at=0, ends_at=9))
    Traceback (most recent call last):
    ...
    ValueError: matchers: at least one matcher must not match the empty string
    """
    if not silence.matchers:
        raise ValueError("matchers: at least one matcher is required")
    for matcher in silence.matchers:
        validate_matcher(matcher)
    if all(matches((m,), {}) for m in silence.matchers):
        raise ValueError("matchers: at least one matcher must not match the empty string")
    if silence.ends_at <= silence.starts_at:
        raise ValueError("ends_at: must be after starts_at")
    return silence
