"""Alert rules: the rules file (channels, policy, rules) and one rule as the UI/API sends it.

Both go through the same checks, so a rule is valid in the UI exactly when it is valid in the
file. Every problem names its field; in a file also its line: ``alerts.yml:14: rules[2].window:
'5 minutes' is not a duration like 30s, 5m, 2h, 7d``. docs/alerts.md describes every field.

>>> rule = parse_rule({"name": "HighErrorRate", "query": "signals.requests",
...                    "value": "error_pct", "threshold": 5, "for": "2m"})
>>> rule.kind, rule.window, rule.for_
('threshold', 300000000000, 120000000000)
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path as FilePath
from typing import Any, Final, Literal, TypeAlias, cast

from watchkeeper.alerts import located, notifiers
from watchkeeper.alerts.dispatch import RateLimit, parse_rate_limit
from watchkeeper.alerts.located import Path, field_name
from watchkeeper.alerts.model import Escalation, PolicyConfig
from watchkeeper.alerts.policy import check_config
from watchkeeper.alerts.templates import TemplateError, compile_template
from watchkeeper.query import catalog, signals

Kind: TypeAlias = Literal["threshold", "new_issue", "issue_regressed", "anomaly"]
KINDS: Final = ("threshold", "new_issue", "issue_regressed", "anomaly")
NO_DATA: Final = ("NoData", "OK", "Alerting", "KeepLast")
ON_ERROR: Final = ("Error", "OK", "Alerting", "KeepLast")
OPS: Final[dict[str, Callable[[float, float], bool]]] = {
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
}
SEVERITIES: Final = ("critical", "major", "minor")
RESERVED_LABELS: Final = ("alertname", "alertstate")
"""Labels the engine sets itself: the rule's name, and NoData/Error for those states."""
ENGINE_PARAMS: Final = ("project", "since", "until")

_UNIT_NS: Final = {
    "ms": 10**6, "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9, "d": 86_400 * 10**9,
    "w": 7 * 86_400 * 10**9,
}  # fmt: skip
_DURATION: Final = re.compile(r"(\d+)(ms|s|m|h|d|w)")
_RULE_NAME: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")
_LABEL: Final = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
_SLUG: Final = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
_CHANNEL: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")

_COMMON: Final = ("name", "project", "kind", "labels", "annotations", "for", "keep_firing_for",
                  "interval", "enabled", "description")  # fmt: skip
_QUERY: Final = ("query", "params", "window", "value", "by", "no_data", "on_error")
FIELDS: Final[dict[str, tuple[str, ...]]] = {
    "threshold": (*_COMMON, *_QUERY, "op", "threshold"),
    "anomaly": (*_COMMON, *_QUERY, "z", "baseline_weeks", "min_baseline", "direction"),
    "new_issue": (*_COMMON, "window", "severity"),
    "issue_regressed": (*_COMMON, "severity"),
}
"""The fields each kind of rule takes."""


def parse_duration(text: object) -> int:
    """A duration (``30s``, ``5m``, ``1h30m``, ``7d``, ``0``) in ns; ValueError otherwise.

    >>> parse_duration("1h30m") // 10**9
    5400
    """
    if text in (0, "0"):
        return 0
    if not isinstance(text, str) or not text or _DURATION.sub("", text) != "":
        raise ValueError(f"{text!r} is not a duration like 30s, 5m, 2h, 7d")
    return sum(int(n) * _UNIT_NS[unit] for n, unit in _DURATION.findall(text))


def format_duration(ns: int) -> str:
    """The shortest spelling of a duration: ``format_duration(90 * 10**9) == '1m30s'``."""
    if ns == 0:
        return "0s"
    out = ""
    for unit in ("w", "d", "h", "m", "s", "ms"):
        size = _UNIT_NS[unit]
        if ns >= size:
            out += f"{ns // size}{unit}"
            ns %= size
    return out or f"{ns}ns"


@dataclass(frozen=True)
class Rule:
    """One rule, checked. Durations in ns; ``definition`` is the mapping it was read from (what
    the metadata store keeps and the API shows)."""

    name: str
    kind: Kind = "threshold"
    project: str = "default"
    query: str = ""
    params: Mapping[str, Any] = field(default_factory=dict)
    window: int = 5 * _UNIT_NS["m"]
    value: str = ""
    by: tuple[str, ...] = ()
    op: str = ">"
    threshold: float | None = None
    budget: float | None = None
    """``threshold: {budget: 0.8}``: 80 % of the monthly LLM budget prorated to the window."""
    for_: int = 0
    keep_firing_for: int = 0
    no_data: str = "NoData"
    on_error: str = "Error"
    interval: int = 0
    """Evaluate at most this often; 0: every cycle of the evaluator."""
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    z: float = 3.0
    baseline_weeks: int = 4
    min_baseline: int = 3
    direction: str = "up"
    severity: tuple[str, ...] = ()
    enabled: bool = True
    description: str = ""
    definition: Mapping[str, Any] = field(default_factory=dict)

    def query_params(self) -> dict[str, Any]:
        """The catalog parameters besides the window: the rule's own, ``group_by`` from ``by``
        for signals queries, ``bucket`` as the whole window where the query needs one."""
        params = dict(self.params)
        if self.by and self.query in signals.GROUP_COLUMNS:
            params["group_by"] = ",".join(self.by)
        query = catalog.CATALOG.get(self.query)
        if query is not None and "bucket" in query.params and "bucket" not in params:
            params["bucket"] = self.window
        return params


@dataclass(frozen=True)
class Channel:
    """A channel as the file declares it; ``options`` go to ``notifiers.build``."""

    name: str
    type: str
    options: Mapping[str, Any] = field(default_factory=dict)
    rate_limit: RateLimit | None = None
    """``rate_limit: 20/h`` on the channel: the dispatcher holds notifications over it."""


@dataclass(frozen=True)
class RuleSet:
    """What a rules file holds."""

    rules: tuple[Rule, ...] = ()
    channels: tuple[Channel, ...] = ()
    policy: PolicyConfig = field(default_factory=PolicyConfig)
    policies: Mapping[str, PolicyConfig] = field(default_factory=dict)
    """Per project slug, replacing ``policy`` for that project."""

    def policy_for(self, project: str) -> PolicyConfig:
        return self.policies.get(project, self.policy)


@dataclass(frozen=True)
class Problem:
    field: str
    message: str
    line: int | None = None

    def format(self, filename: str = "") -> str:
        """``FILE:LINE: field: problem`` (parts that are unknown left out)."""
        where = ":".join(str(p) for p in (filename, self.line) if p not in ("", None))
        return ": ".join(part for part in (where, self.field, self.message) if part)


class RulesError(ValueError):
    """Rules that cannot be used; ``problems`` lists every one found, not just the first."""

    def __init__(self, problems: Sequence[Problem], filename: str = "") -> None:
        self.problems = tuple(problems)
        self.filename = filename
        super().__init__("\n".join(p.format(filename) for p in self.problems))


class _Reader:
    """Collects problems, each with its field and the line of the nearest known path."""

    def __init__(self, lines: Mapping[Path, int] | None = None, base: Path = ()) -> None:
        self.lines = lines or {}
        self.base = base
        self.problems: list[Problem] = []

    def add(self, path: Path, message: str) -> None:
        full = (*self.base, *path)
        line = None
        for end in range(len(full), -1, -1):
            line = self.lines.get(full[:end])
            if line is not None:
                break
        self.problems.append(Problem(field_name(full), message, line if self.lines else None))

    def duration(self, data: Mapping[str, Any], key: str, default: int) -> int:
        if key not in data:
            return default
        try:
            return parse_duration(data[key])
        except ValueError as exc:
            self.add((key,), str(exc))
            return default

    def number(self, data: Mapping[str, Any], key: str, default: float) -> float:
        value = data.get(key, default)
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            self.add((key,), f"must be a number, not {value!r}")
            return default
        return float(value)

    def choice(self, data: Mapping[str, Any], key: str, choices: Sequence[str]) -> str:
        value = data.get(key, choices[0])
        if value not in choices:
            self.add((key,), f"{value!r} is not one of {', '.join(choices)}")
            return choices[0]
        return str(value)

    def names(self, data: Mapping[str, Any], key: str, pattern: re.Pattern[str]) -> tuple[str, ...]:
        value = data.get(key, [])
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
            self.add((key,), "must be a name or a list of names")
            return ()
        for index, item in enumerate(items):
            if not pattern.match(item):
                self.add((key, index), f"{item!r} is not a valid name")
        return tuple(items)

    def templates(self, data: Mapping[str, Any], key: str, labels: bool) -> dict[str, str]:
        value = data.get(key, {})
        if not isinstance(value, dict):
            self.add((key,), "must be a mapping of names to text")
            return {}
        out: dict[str, str] = {}
        for name, text in value.items():
            if not isinstance(name, str) or (labels and not _LABEL.match(name)):
                self.add((key, str(name)), "is not a valid label name (letters, digits, _)")
                continue
            if labels and name in RESERVED_LABELS:
                self.add((key, name), f"{name} is set by the engine")
                continue
            if isinstance(text, bool) or not isinstance(text, str | int | float):
                self.add((key, name), "must be text")
                continue
            try:
                compile_template(str(text))
            except TemplateError as exc:
                self.add((key, name), f"template: {exc}")
                continue
            out[name] = str(text)
        return out


class _Sub(_Reader):
    """A reader for one part of the document that reports into its parent."""

    def __init__(self, parent: _Reader, at: Path) -> None:
        super().__init__(parent.lines, (*parent.base, *at))
        self.problems = parent.problems


def _params(reader: _Reader, data: Mapping[str, Any], query: Any) -> dict[str, Any]:
    params = data.get("params", {})
    if not isinstance(params, dict):
        reader.add(("params",), "must be a mapping of catalog parameters")
        return {}
    for key, value in params.items():
        check = catalog.PARAMETERS.get(key)
        if key in ENGINE_PARAMS:
            reader.add(("params", key), "is set by the engine from the rule's window")
        elif key == "group_by":
            reader.add(("params", key), "use the rule's `by` field")
        elif check is None:
            reader.add(("params", key), "is not a catalog parameter")
        elif problem := check(value):
            reader.add(("params", key), problem)
    for key in query.params if query is not None else ():
        if key not in (*ENGINE_PARAMS, "bucket") and key not in params:
            reader.add(("params",), f"{query.name} needs parameter {key!r}")
    return dict(params)


def _window(reader: _Reader, data: Mapping[str, Any], default: int) -> int:
    window = reader.duration(data, "window", default)
    if window <= 0:
        reader.add(("window",), "must be longer than 0")
    return window


def _query_fields(reader: _Reader, data: Mapping[str, Any]) -> dict[str, Any]:
    name = data.get("query")
    query = catalog.CATALOG.get(name) if isinstance(name, str) else None
    if query is None:
        reader.add(("query",), f"{name!r} is not a catalog query" if name else "is required")
    out: dict[str, Any] = {"query": name if query else ""}
    out["params"] = _params(reader, data, query)
    out["window"] = _window(reader, data, Rule.window)
    value = data.get("value")
    if not isinstance(value, str) or not value:
        reader.add(("value",), "is required: the result column to compare, e.g. error_pct")
    out["value"] = value if isinstance(value, str) else ""
    out["by"] = reader.names(data, "by", _LABEL)
    groups = signals.GROUP_COLUMNS.get(out["query"])
    for index, column in enumerate(out["by"]):
        if groups is not None and column not in groups:
            reader.add(("by", index), f"{out['query']} groups by {', '.join(sorted(groups))}")
        if column in RESERVED_LABELS:
            reader.add(("by", index), f"{column} is set by the engine")
    out["no_data"] = reader.choice(data, "no_data", NO_DATA)
    out["on_error"] = reader.choice(data, "on_error", ON_ERROR)
    return out


def _threshold_fields(reader: _Reader, data: Mapping[str, Any]) -> dict[str, Any]:
    out = _query_fields(reader, data)
    out["op"] = reader.choice(data, "op", tuple(OPS))
    limit = data.get("threshold")
    if isinstance(limit, dict):
        if set(limit) != {"budget"}:
            reader.add(("threshold",), "the budget form is {budget: <fraction>}, e.g. 0.8")
        else:
            out["budget"] = _Sub(reader, ("threshold",)).number(limit, "budget", 1.0)
            if out["budget"] <= 0:
                reader.add(("threshold", "budget"), "must be above 0")
    elif limit is None:
        reader.add(("threshold",), "is required: a number or {budget: <fraction>}")
    else:
        out["threshold"] = reader.number(data, "threshold", 0.0)
    return out


def _whole(
    reader: _Reader, data: Mapping[str, Any], key: str, low: int, high: int, default: int
) -> int:
    value = data.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        reader.add((key,), f"must be a whole number in {low}..{high}")
        return max(low, min(default, high))
    return value


def _anomaly_fields(reader: _Reader, data: Mapping[str, Any]) -> dict[str, Any]:
    out = _query_fields(reader, data)
    out["z"] = reader.number(data, "z", 3.0)
    if out["z"] <= 0:
        reader.add(("z",), "must be above 0")
    weeks = out["baseline_weeks"] = _whole(reader, data, "baseline_weeks", 1, 12, 4)
    out["min_baseline"] = _whole(reader, data, "min_baseline", 2, max(weeks, 2), min(3, weeks))
    out["direction"] = reader.choice(data, "direction", ("up", "down", "both"))
    return out


def _issue_fields(reader: _Reader, data: Mapping[str, Any], kind: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if kind == "new_issue":
        out["window"] = _window(reader, data, 3600 * 10**9)
    out["severity"] = reader.names(data, "severity", re.compile(r"^[a-z]+$"))
    for index, severity in enumerate(out["severity"]):
        if severity not in SEVERITIES:
            reader.add(("severity", index), f"is not one of {', '.join(SEVERITIES)}")
    return out


def _kind_fields(reader: _Reader, kind: str, data: Mapping[str, Any]) -> dict[str, Any]:
    if kind == "threshold":
        return _threshold_fields(reader, data)
    if kind == "anomaly":
        return _anomaly_fields(reader, data)
    return _issue_fields(reader, data, kind)


def _read_rule(reader: _Reader, data: object) -> Rule | None:
    if not isinstance(data, dict):
        reader.add((), "a rule must be a mapping of fields")
        return None
    before = len(reader.problems)
    name = data.get("name")
    if not isinstance(name, str) or not _RULE_NAME.match(name):
        reader.add(("name",), "is required: letters, digits, _ . : - (at most 128)")
    project = data.get("project", "default")
    if not isinstance(project, str) or not _SLUG.match(project):
        reader.add(("project",), f"{project!r} is not a project slug")
    kind = data.get("kind", "threshold")
    if kind not in KINDS:
        reader.add(("kind",), f"{kind!r} is not one of {', '.join(KINDS)}")
        return None
    for key in data:
        if key not in FIELDS[kind]:
            reader.add((str(key),), f"is not a field of {kind} rules")
    values = _kind_fields(reader, kind, data)
    values["for_"] = reader.duration(data, "for", 0)
    values["keep_firing_for"] = reader.duration(data, "keep_firing_for", 0)
    values["interval"] = reader.duration(data, "interval", 0)
    values["labels"] = reader.templates(data, "labels", labels=True)
    values["annotations"] = reader.templates(data, "annotations", labels=False)
    enabled = data.get("enabled", True)
    if not isinstance(enabled, bool):
        reader.add(("enabled",), "must be true or false")
    description = data.get("description", "")
    if not isinstance(description, str):
        reader.add(("description",), "must be text")
    if len(reader.problems) > before:
        return None
    return Rule(
        name=cast(str, name), kind=kind, project=project, enabled=enabled,
        description=description, definition=dict(data), **values,
    )  # fmt: skip


def parse_rule(data: object, *, field_prefix: Path = ()) -> Rule:
    """One rule from a mapping (the API's JSON body); :class:`RulesError` naming each bad field.

    >>> parse_rule({"name": "x", "kind": "new_issue", "window": "soon"})
    Traceback (most recent call last):
    ...
    watchkeeper.alerts.rules.RulesError: window: 'soon' is not a duration like 30s, 5m, 2h, 7d
    """
    reader = _Reader(base=field_prefix)
    rule = _read_rule(reader, data)
    if rule is None:
        raise RulesError(reader.problems or [Problem("", "not a rule")])
    return rule


def _read_channel(
    reader: _Reader, item: object, build: Callable[..., Any] | None
) -> Channel | None:
    if not isinstance(item, dict):
        reader.add((), "must be a mapping with name, type and the type's options")
        return None
    name, kind = item.get("name"), item.get("type")
    if not isinstance(name, str) or not _CHANNEL.match(name):
        reader.add(("name",), "is required: letters, digits, _ . - (at most 64)")
        return None
    if not isinstance(kind, str) or not kind:
        reader.add(("type",), "is required, e.g. webhook, slack, email, alertmanager")
        return None
    options = {k: v for k, v in item.items() if k not in ("name", "type", "rate_limit")}
    rate_limit = None
    if "rate_limit" in item:
        try:
            rate_limit = parse_rate_limit(str(item["rate_limit"]))
        except ValueError as exc:
            reader.add(("rate_limit",), str(exc).partition(": ")[2])
    if build is not None:
        try:
            build(name, kind, options)
        except ValueError as exc:
            key, _, message = str(exc).partition(": ")
            if message and key in item:
                reader.add((key,), message)
            else:
                reader.add((), str(exc))
    return Channel(name, kind, options, rate_limit)


def _read_channels(
    reader: _Reader, data: object, build: Callable[..., Any] | None
) -> list[Channel]:
    if data is None:
        return []
    if not isinstance(data, list):
        reader.add(("channels",), "must be a list of channels (name, type, options)")
        return []
    channels: list[Channel] = []
    for index, item in enumerate(data):
        channel = _read_channel(_Sub(reader, ("channels", index)), item, build)
        if channel is None:
            continue
        if any(c.name == channel.name for c in channels):
            reader.add(("channels", index, "name"), f"another channel is named {channel.name!r}")
        channels.append(channel)
    return channels


def _read_policy(reader: _Reader, data: object, at: Path, channels: Sequence[str]) -> PolicyConfig:
    if data is None:
        return PolicyConfig(channels=tuple(channels))
    if not isinstance(data, dict):
        reader.add(at, "must be a mapping (channels, group_by, group_wait, …)")
        return PolicyConfig()
    sub = _Sub(reader, at)
    known = ("channels", "group_by", "group_wait", "group_interval", "repeat_interval",
             "escalate", "send_resolved")  # fmt: skip
    for key in data:
        if key not in known:
            sub.add((str(key),), f"is not a policy field ({', '.join(known)})")

    def channel_list(part: _Reader, values: Mapping[str, Any]) -> tuple[str, ...]:
        names = part.names(values, "channels", _CHANNEL)
        for index, name in enumerate(names):
            if name not in channels:
                part.add(("channels", index), f"no channel named {name!r} in channels")
        return names

    listed = channel_list(sub, {"channels": list(channels)} | data)
    group_by = sub.names(data, "group_by", re.compile(r"^(\.\.\.|[A-Za-z_][A-Za-z0-9_]*)$"))
    escalations: list[Escalation] = []
    steps = data.get("escalate", [])
    if not isinstance(steps, list):
        sub.add(("escalate",), "must be a list of {after, channels}")
        steps = []
    for index, step in enumerate(steps):
        if not isinstance(step, dict) or set(step) != {"after", "channels"}:
            sub.add(("escalate", index), "must be {after: <duration>, channels: [names]}")
            continue
        part = _Sub(sub, ("escalate", index))
        after = part.duration(step, "after", 0)
        escalations.append(Escalation(after=after, channels=channel_list(part, step)))
    send_resolved = data.get("send_resolved", True)
    if not isinstance(send_resolved, bool):
        sub.add(("send_resolved",), "must be true or false")
    default = PolicyConfig()
    config = PolicyConfig(
        channels=listed,
        group_by=group_by or default.group_by,
        group_wait=sub.duration(data, "group_wait", default.group_wait),
        group_interval=sub.duration(data, "group_interval", default.group_interval),
        repeat_interval=sub.duration(data, "repeat_interval", default.repeat_interval),
        escalations=tuple(escalations),
        send_resolved=send_resolved is not False,
    )
    try:
        check_config(config)
    except ValueError as exc:
        keys, _, message = str(exc).partition(": ")
        named = [key for key in keys.split(", ") if key in data]
        sub.add((named[0],) if named else (), message if named else str(exc))
    return config


def _read_policies(reader: _Reader, data: object, channels: Sequence[str]) -> dict[str, Any]:
    if not isinstance(data, dict):
        reader.add(("policies",), "must map project slugs to policies")
        return {}
    policies: dict[str, PolicyConfig] = {}
    for slug, spec in data.items():
        if not isinstance(slug, str) or not _SLUG.match(slug):
            reader.add(("policies", str(slug)), "is not a project slug")
            continue
        policies[slug] = _read_policy(reader, spec, ("policies", slug), channels)
    return policies


def _read_rules(reader: _Reader, items: object) -> list[Rule]:
    if not isinstance(items, list):
        reader.add(("rules",), "must be a list of rules")
        return []
    rules: list[Rule] = []
    seen: set[tuple[str, str]] = set()
    for index, item in enumerate(items):
        rule = _read_rule(_Sub(reader, ("rules", index)), item)
        if rule is None:
            continue
        if (rule.project, rule.name) in seen:
            reader.add(("rules", index, "name"), f"another rule of {rule.project} is named so")
        seen.add((rule.project, rule.name))
        rules.append(rule)
    return rules


def parse_rules(
    text: str, filename: str = "", *, build: Callable[..., Any] | None = None
) -> RuleSet:
    """A rules file's text, checked; :class:`RulesError` lists every problem with its line.
    ``build`` checks each channel's options (``notifiers.build``; :func:`load_rules` passes it).
    """
    try:
        data, lines = located.load(text)
    except located.LocatedError as exc:
        raise RulesError([Problem(field_name(exc.path), str(exc), exc.line)], filename) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        problem = Problem("", "the file must be a mapping: channels, policy, policies, rules", 1)
        raise RulesError([problem], filename)
    reader = _Reader(lines)
    for key in data:
        if key not in ("channels", "policy", "policies", "rules"):
            reader.add((str(key),), "is not a section (channels, policy, policies, rules)")
    channels = _read_channels(reader, data.get("channels"), build)
    names = [channel.name for channel in channels]
    policy = _read_policy(reader, data.get("policy"), ("policy",), names)
    policies = _read_policies(reader, data.get("policies", {}), names)
    rules = _read_rules(reader, data.get("rules", []))
    if reader.problems:
        raise RulesError(sorted(reader.problems, key=lambda p: p.line or 0), filename)
    return RuleSet(tuple(rules), tuple(channels), policy, policies)


def load_rules(path: FilePath | str) -> RuleSet:
    """Read and check a rules file, channels included (with ``notifiers.build``).

    >>> load_rules("alerts.yml").rules[0].name  # doctest: +SKIP
    'HighErrorRate'
    """
    path = FilePath(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RulesError([Problem("", f"cannot read: {exc}")], str(path)) from None
    return parse_rules(text, str(path), build=notifiers.build)


def parse_rules_file(value: object) -> FilePath | None:
    """The ``rules_file`` setting: the path, after checking the file loads (so a bad file stops
    the server at start-up with every problem listed); ''/None for none."""
    if value in (None, ""):
        return None
    path = FilePath(str(value))
    load_rules(path)
    return path


def parse_interval(value: object) -> float:
    """The ``alerts_interval`` setting: seconds (a number) or a duration (``1m``); at least 1 s.

    >>> parse_interval("1m"), parse_interval(15)
    (60.0, 15.0)
    """
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if number or (isinstance(value, str) and value.replace(".", "", 1).isdigit()):
        seconds = float(value)  # type: ignore[arg-type]
    else:
        seconds = parse_duration(value) / 1e9
    if not seconds >= 1:
        raise ValueError("must be at least 1 second")
    return seconds
