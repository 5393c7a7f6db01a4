"""Issues: the life of a group of errors (status, regressions) and their severity rules.

The rows live in the metadata store (meta/store.py); this module holds the decisions, so they
are the same whoever calls them and testable without a database.

An issue is ``unresolved``, ``resolved``, ``ignored`` or ``regressed`` (an unresolved issue that
came back after being resolved). An event for a resolved issue reopens it as regressed when it
comes from a newer release than the one the fix shipped in, or, for an issue resolved without a
release, whenever it happened after the resolution. Ignored issues stay ignored.

>>> next_status(IssueState("resolved", "1.2.0", 0), release="1.10.0", ts=5)
'regressed'
>>> next_status(IssueState("resolved", "1.2.0", 0), release="1.1.9", ts=5)
'resolved'
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from watchkeeper.records import Error

STATUSES: Final = ("unresolved", "resolved", "ignored", "regressed")
OPEN_STATUSES: Final = ("unresolved", "regressed")
"""Statuses that need attention: ``status=unresolved`` in the API matches both."""

SEVERITIES: Final = ("critical", "major", "minor")
"""Strongest first; an issue keeps the strongest severity any of its events had."""

MATCH_FIELDS: Final = ("level", "handled", "type", "message", "service", "environment")


@dataclass(frozen=True)
class IssueState:
    """What the regression check needs of an issue: its status, the release its fix shipped in
    ('' when resolved without one) and when it was resolved (ns)."""

    status: str
    resolved_in_release: str
    resolved_at: int


def next_status(issue: IssueState, *, release: str, ts: int) -> str:
    """The issue's status after an event of ``release`` at ``ts`` (ns)."""
    if issue.status != "resolved":
        return issue.status
    if issue.resolved_in_release:
        return (
            "regressed" if release and is_newer(release, issue.resolved_in_release) else "resolved"
        )
    return "regressed" if ts > issue.resolved_at else "resolved"


_VERSION = re.compile(
    r"^v?(?P<release>\d+(?:\.\d+)*)"
    r"(?:[-_.]?(?P<pre>dev|a|alpha|b|beta|c|rc|pre|preview|post)[-_.]?(?P<pre_n>\d*))?"
    r"(?:\+[\w.]+)?$",
    re.IGNORECASE,
)
_PRE_RANK: Final = {
    "dev": 0, "a": 1, "alpha": 1, "b": 2, "beta": 2, "c": 3, "rc": 3, "pre": 3, "preview": 3,
    "post": 5,
}  # fmt: skip
_FINAL_RANK: Final = 4


def version_key(release: str) -> tuple[tuple[int, ...], int, int] | None:
    """A sortable key for a PEP 440 or semver-like release (``1.2``, ``v1.2.0-rc.1``,
    ``myapp@2.0.1``), or None when it is not one (a git sha, a date tag).

    >>> version_key("myapp@1.10.0") > version_key("1.9")
    True
    """
    match = _VERSION.match(release.rsplit("@", 1)[-1].strip())
    if match is None:
        return None
    numbers = [int(part) for part in match["release"].split(".")]
    while len(numbers) > 1 and numbers[-1] == 0:
        numbers.pop()  # 1.2 == 1.2.0
    pre = match["pre"]
    rank = _PRE_RANK[pre.lower()] if pre else _FINAL_RANK
    return tuple(numbers), rank, int(match["pre_n"] or 0)


def is_newer(release: str, than: str) -> bool:
    """Whether ``release`` comes after ``than``: by version when both are versions, else any
    other release counts as newer (a git sha says nothing about order)."""
    a, b = version_key(release), version_key(than)
    if a is not None and b is not None:
        return a > b
    return release != than


@dataclass(frozen=True)
class SeverityRule:
    """``match`` is space-separated ``field:value`` conditions, all of which must hold
    (``level:fatal``, ``handled:false``, ``type:TimeoutError``, ``message:quota``)."""

    match: str
    severity: str

    def matches(self, error: Error) -> bool:
        for condition in self.match.split():
            field, _, value = condition.partition(":")
            if field == "handled":
                if str(error.handled).lower() != value.lower():
                    return False
            elif field == "message":
                if value.lower() not in error.message.lower():
                    return False
            elif str(getattr(error, field)) != value:
                return False
        return True


DEFAULT_SEVERITY_RULES: Final = (
    SeverityRule("level:fatal", "critical"),
    SeverityRule("handled:false", "critical"),
    SeverityRule("level:error", "major"),
)
"""Checked after the configured rules: fatal or unhandled is critical, an error major, and
anything else (warning and below) minor."""


def severity(error: Error, rules: Sequence[SeverityRule] = ()) -> str:
    """The severity of ``error``: the first of ``rules`` that matches, then the defaults."""
    for rule in (*rules, *DEFAULT_SEVERITY_RULES):
        if rule.matches(error):
            return rule.severity
    return "minor"


def strongest(a: str, b: str) -> str:
    """The stronger of two severities."""
    return a if SEVERITIES.index(a) <= SEVERITIES.index(b) else b


def parse_severity_rules(value: Any) -> tuple[SeverityRule, ...]:
    """Severity rules from watchkeeper.toml (a list of tables) or an environment variable (the
    same list as TOML text); raise ValueError naming what is wrong.

    >>> parse_severity_rules('[{match = "type:TimeoutError", severity = "minor"}]')
    (SeverityRule(match='type:TimeoutError', severity='minor'),)
    """
    if isinstance(value, str):
        try:
            value = tomllib.loads(f"rules = {value}")["rules"]
        except tomllib.TOMLDecodeError as exc:
            raise ValueError(f"not a TOML list of tables: {exc}") from None
    if isinstance(value, tuple) and all(isinstance(rule, SeverityRule) for rule in value):
        return value
    if not isinstance(value, list):
        raise ValueError('expected a list like [{match = "level:fatal", severity = "critical"}]')
    rules = []
    for index, item in enumerate(value):
        if not isinstance(item, dict) or set(item) != {"match", "severity"}:
            raise ValueError(f"rule {index}: expected exactly the keys match and severity")
        match, level = item["match"], item["severity"]
        if level not in SEVERITIES:
            raise ValueError(f"rule {index}: severity must be one of {', '.join(SEVERITIES)}")
        if not isinstance(match, str) or not match.split():
            raise ValueError(f"rule {index}: match must be conditions like 'level:fatal'")
        for condition in match.split():
            field, colon, _ = condition.partition(":")
            if not colon or field not in MATCH_FIELDS:
                raise ValueError(
                    f"rule {index}: condition {condition!r} must be field:value with a field"
                    f" among {', '.join(MATCH_FIELDS)}"
                )
        rules.append(SeverityRule(match, level))
    return tuple(rules)


@dataclass(frozen=True)
class Occurrence:
    """One error as the issue store needs it: its grouping and what it says about the issue."""

    fingerprint: str
    grouping_key: str
    title: str
    type: str
    culprit: str
    level: str
    severity: str
    ts: int
    release: str
