"""The rule engine: rules evaluated at a time ``now`` into alert instances and their transitions.

An instance is a rule and one set of labels (one row of a grouped query, one issue). Its state
follows Prometheus' alerting rules (reference/metrics-alerts-health.md §2.7): it becomes
``pending`` when its condition turns true and ``firing`` once the condition has held for the
rule's ``for`` (at once without one); when the condition stops it goes back to ``inactive``
from pending, and *resolves* from firing, unless it was true less than ``keep_firing_for`` ago.
A query with no data, or one that fails, is handled as the rule says (Grafana's states, §2.8):
``NoData``/``Error`` make an instance of their own labelled ``alertstate`` (which honours
``for`` like any other), ``Alerting`` makes the rule's instance fire, ``OK`` counts as the
condition being false, ``KeepLast`` leaves every instance as it was.

The engine keeps the instances in memory (:attr:`Engine.instances`); the evaluator persists
what each :meth:`Engine.evaluate` changed. Nothing here reads a clock: replaying a rule over
past data (``watchkeeper alerts test``) is the same calls with past times.
"""

from __future__ import annotations

import calendar
import hashlib
import json
import logging
import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, Protocol

from watchkeeper.alerts.model import Alert, State
from watchkeeper.alerts.rules import OPS, Rule
from watchkeeper.alerts.templates import render
from watchkeeper.query import catalog

log = logging.getLogger(__name__)

WEEK_NS: Final = 7 * 86_400 * 10**9
DAY_NS: Final = 86_400 * 10**9


class Issues(Protocol):
    """What issue rules read from the metadata store (meta/alerts.py ``AlertStore``)."""

    def new_issues(
        self, project: int, since: int, until: int, severities: Sequence[str]
    ) -> Sequence[Any]:
        """Open issues first seen in ``since <= ts < until``."""

    def regressed_issues(self, project: int, severities: Sequence[str]) -> Sequence[Any]:
        """Issues whose status is ``regressed``."""

    def budget(self, project: int) -> float | None:
        """The project's monthly LLM budget (US dollars)."""


class Source:
    """The data one cycle reads: catalog queries on the telemetry store, each distinct query
    run once per cycle however many rules ask it (rules sharing a query, window and
    parameters share its rows), and the metadata the issue and budget rules need."""

    def __init__(self, store: Any, meta: Issues) -> None:
        self.store = store
        self.meta = meta
        self._rows: dict[str, list[dict[str, Any]] | Exception] = {}
        self.queries_run = 0

    def rows(self, query: str, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        """The query's rows (cached for the cycle); raises what the query raised."""
        key = json.dumps([query, sorted(params.items())], default=str)
        found = self._rows.get(key)
        if found is None:
            self.queries_run += 1
            try:
                found = catalog.run(self.store, query, **params)
            except Exception as exc:  # a rule's failure is its own state, never the cycle's
                found = exc
            self._rows[key] = found
        if isinstance(found, Exception):
            raise found
        return found

    def clear(self) -> None:
        """Forget the cached rows (a new cycle)."""
        self._rows.clear()


@dataclass
class Instance:
    """One alert instance as the engine tracks it; times in ns."""

    project: int
    rule: str
    fingerprint: str
    labels: dict[str, str]
    annotations: dict[str, str]
    state: State
    active_at: int
    """When its condition became true (pending began)."""
    fired_at: int = 0
    last_true: int = 0
    value: float | None = None
    last_eval: int = 0

    def alert(self, *, ends_at: int = 0) -> Alert:
        state: State = "inactive" if ends_at else self.state
        return Alert(
            project=self.project, rule=self.rule, fingerprint=self.fingerprint,
            labels=dict(self.labels), annotations=dict(self.annotations), state=state,
            value=self.value, starts_at=self.active_at, ends_at=ends_at,
        )  # fmt: skip


@dataclass(frozen=True)
class Transition:
    """An instance moving: ``inactive`` → ``pending`` → ``firing`` → ``resolved`` (or pending
    back to ``inactive``); written to the history."""

    project: int
    rule: str
    fingerprint: str
    labels: Mapping[str, str]
    from_state: str
    to_state: str
    at: int
    value: float | None


@dataclass(frozen=True)
class Health:
    """How a rule's last evaluation went: ``ok``, ``nodata`` or ``error`` (with the message)."""

    project: int
    rule: str
    at: int
    health: str
    error: str = ""


@dataclass
class Cycle:
    """What one :meth:`Engine.evaluate` produced."""

    alerts: dict[int, list[Alert]] = field(default_factory=dict)
    """Per project: pending and firing instances, and those that resolved now (the policy's
    input)."""
    transitions: list[Transition] = field(default_factory=list)
    changed: list[Instance] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    health: list[Health] = field(default_factory=list)


@dataclass(frozen=True)
class _Hit:
    labels: dict[str, str]
    value: float | None
    extra: Mapping[str, float | str | None] = field(default_factory=dict)


@dataclass
class _Outcome:
    hits: list[_Hit]
    health: str = "ok"
    error: str = ""
    keep_last: bool = False


class RuleError(Exception):
    """A rule that cannot be evaluated now (a missing column, no budget); the message names
    the field."""


def fingerprint(project: int, rule: str, labels: Mapping[str, str]) -> str:
    """sha256 hex of the project, rule name and sorted labels: stable across restarts.

    >>> fingerprint(1, "Down", {"alertname": "Down"})[:12]
    '46268a35db8c'
    """
    data = json.dumps([project, rule, sorted(labels.items())], separators=(",", ":"))
    return hashlib.sha256(data.encode()).hexdigest()


def month_ns(now: int) -> int:
    """The length of the UTC calendar month holding ``now`` (ns)."""
    moment = datetime.fromtimestamp(now / 1e9, UTC)
    return calendar.monthrange(moment.year, moment.month)[1] * DAY_NS


class Engine:
    """Evaluates rules and keeps their instances. ``instances`` may be loaded from the
    metadata store before the first cycle."""

    def __init__(self, instances: Sequence[Instance] = ()) -> None:
        self.instances: dict[str, Instance] = {i.fingerprint: i for i in instances}
        self.last_eval: dict[tuple[int, str], int] = {}

    def evaluate(self, rules: Sequence[tuple[int, Rule]], now: int, source: Source) -> Cycle:
        """Evaluate each enabled rule that is due at ``now`` for its project id; resolve the
        instances of rules that are gone or disabled."""
        cycle = Cycle()
        by_rule: dict[tuple[int, str], list[Instance]] = {}
        for instance in self.instances.values():
            by_rule.setdefault((instance.project, instance.rule), []).append(instance)
        live = {(project, rule.name) for project, rule in rules if rule.enabled}
        for key, instances in by_rule.items():
            if key not in live:
                self._apply(cycle, key[0], None, _Outcome([]), instances, now)
        for project, rule in rules:
            if not rule.enabled:
                continue
            key = (project, rule.name)
            instances = by_rule.get(key, [])
            last = self.last_eval.get(key)
            if last is not None and rule.interval and now - last < rule.interval:
                for instance in instances:
                    cycle.alerts.setdefault(project, []).append(instance.alert())
                continue
            self.last_eval[key] = now
            outcome = self._outcome(project, rule, now, source)
            cycle.health.append(Health(project, rule.name, now, outcome.health, outcome.error))
            self._apply(cycle, project, rule, outcome, instances, now)
        return cycle

    # -- one rule's condition -----------------------------------------------------------------

    def _outcome(self, project: int, rule: Rule, now: int, source: Source) -> _Outcome:
        try:
            if rule.kind == "new_issue":
                return _Outcome(_new_issues(project, rule, now, source))
            if rule.kind == "issue_regressed":
                return _Outcome(_regressed(project, rule, now, source))
            hits = (
                _anomalies(project, rule, now, source)
                if rule.kind == "anomaly"
                else _thresholds(project, rule, now, source)
            )
        except Exception as exc:  # the rule's own Error state; other rules go on
            message = str(exc) or type(exc).__name__
            log.info("alert rule %s (project %d) failed: %s", rule.name, project, message)
            return _special(rule.on_error, "Error", "error", message)
        if hits is None:
            return _special(rule.no_data, "NoData", "nodata", "")
        return _Outcome(hits)

    # -- states -----------------------------------------------------------------------------

    def _apply(
        self,
        cycle: Cycle,
        project: int,
        rule: Rule | None,
        outcome: _Outcome,
        instances: Sequence[Instance],
        now: int,
    ) -> None:
        alerts = cycle.alerts.setdefault(project, [])
        if outcome.keep_last:
            for instance in instances:
                instance.last_eval = now
                alerts.append(instance.alert())
            return
        seen = set()
        if rule is not None:
            for hit in outcome.hits:
                instance = self._hold(cycle, project, rule, hit, outcome.error, now)
                seen.add(instance.fingerprint)
                alerts.append(instance.alert())
        keep_for = rule.keep_firing_for if rule is not None else 0
        for instance in instances:
            if instance.fingerprint in seen:
                continue
            instance.last_eval = now
            if instance.state == "firing" and now - instance.last_true < keep_for:
                cycle.changed.append(instance)
                alerts.append(instance.alert())
                continue
            if instance.state == "firing":
                alerts.append(instance.alert(ends_at=now))
                self._move(cycle, instance, "resolved", now)
            else:
                self._move(cycle, instance, "inactive", now)
            del self.instances[instance.fingerprint]
            cycle.removed.append(instance.fingerprint)

    def _hold(
        self, cycle: Cycle, project: int, rule: Rule, hit: _Hit, error: str, now: int
    ) -> Instance:
        """The instance of a true condition, moved on to pending or firing as due."""
        labels, annotations = _labels(rule, hit, error)
        fp = fingerprint(project, rule.name, labels)
        instance = self.instances.get(fp)
        if instance is None:
            instance = Instance(project, rule.name, fp, labels, annotations, "inactive", now)
            self.instances[fp] = instance
        instance.annotations = annotations
        instance.value, instance.last_true, instance.last_eval = hit.value, now, now
        if instance.state == "inactive":
            instance.active_at = now
            # Without `for` an instance fires on its first evaluation: one transition.
            self._move(cycle, instance, "pending" if rule.for_ else "firing", now)
        elif instance.state == "pending" and now - instance.active_at >= rule.for_:
            self._move(cycle, instance, "firing", now)
        if instance.state == "firing" and not instance.fired_at:
            instance.fired_at = now
        cycle.changed.append(instance)
        return instance

    def _move(self, cycle: Cycle, instance: Instance, to: str, now: int) -> None:
        labels = dict(instance.labels)
        transition = Transition(
            instance.project, instance.rule, instance.fingerprint, labels, instance.state, to, now,
            instance.value,
        )  # fmt: skip
        cycle.transitions.append(transition)
        instance.state = (
            "firing" if to == "firing" else "pending" if to == "pending" else "inactive"
        )


def _special(mode: str, own_state: str, health: str, error: str) -> _Outcome:
    """The outcome of no data (``own_state`` NoData) or an error (Error) under ``mode``."""
    if mode == own_state:
        return _Outcome([_Hit({"alertstate": own_state}, None)], health, error)
    if mode == "Alerting":
        return _Outcome([_Hit({}, None)], health, error)
    if mode == "KeepLast":
        return _Outcome([], health, error, keep_last=True)
    return _Outcome([], health, error)


def _labels(rule: Rule, hit: _Hit, error: str) -> tuple[dict[str, str], dict[str, str]]:
    """The instance's labels (the row's, then the rule's own, then ``alertname``) and its
    annotations, templated."""
    labels = dict(hit.labels)
    extra = dict(hit.extra)
    for name, text in rule.labels.items():
        labels[name] = render(text, value=hit.value, labels=hit.labels, extra=extra)
    labels["alertname"] = rule.name
    annotations = {
        name: render(text, value=hit.value, labels=labels, extra=extra)
        for name, text in rule.annotations.items()
    }
    if error:
        annotations["error"] = error
    return labels, annotations


def _series(rule: Rule, rows: Sequence[Mapping[str, Any]]) -> dict[tuple[str, ...], float]:
    """The rule's value per label set (the last row of each wins); RuleError naming the field
    when the query lacks a column."""
    series: dict[tuple[str, ...], float] = {}
    for row in rows:
        if rule.value not in row:
            raise RuleError(f"value: {rule.query} has no column {rule.value!r} ({', '.join(row)})")
        missing = [name for name in rule.by if name not in row]
        if missing:
            raise RuleError(f"by: {rule.query} has no column {missing[0]!r} ({', '.join(row)})")
        value = row[rule.value]
        if value is None:
            continue
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise RuleError(f"value: column {rule.value!r} is not a number ({value!r})") from None
        if math.isfinite(number):
            series[tuple("" if row[n] is None else str(row[n]) for n in rule.by)] = number
    return series


def _rows(project: int, rule: Rule, until: int, source: Source) -> list[dict[str, Any]]:
    params = {"project": project, "since": until - rule.window, "until": until}
    return source.rows(rule.query, {**rule.query_params(), **params})


def _limit(project: int, rule: Rule, now: int, source: Source) -> float:
    if rule.budget is None:
        return rule.threshold if rule.threshold is not None else 0.0
    monthly = source.meta.budget(project)
    if monthly is None:
        raise RuleError("threshold: the project has no monthly LLM budget; set one first")
    return rule.budget * monthly * rule.window / month_ns(now)


def _thresholds(project: int, rule: Rule, now: int, source: Source) -> list[_Hit] | None:
    series = _series(rule, _rows(project, rule, now, source))
    if not series:
        return None
    limit = _limit(project, rule, now, source)
    compare = OPS[rule.op]
    return [
        _Hit(dict(zip(rule.by, key, strict=True)), value, {"threshold": limit})
        for key, value in series.items()
        if compare(value, limit)
    ]


def z_score(value: float, baseline: Sequence[float]) -> float:
    """How many standard deviations ``value`` lies from the baseline's mean (sample stdev);
    ±inf when the baseline never varies and the value differs from it.

    >>> z_score(14.0, [10.0, 12.0, 8.0, 10.0])
    2.449...
    """
    mean = statistics.fmean(baseline)
    spread = statistics.stdev(baseline)
    if spread == 0:
        return 0.0 if value == mean else math.copysign(math.inf, value - mean)
    return (value - mean) / spread


def _anomalies(project: int, rule: Rule, now: int, source: Source) -> list[_Hit] | None:
    current = _series(rule, _rows(project, rule, now, source))
    if not current:
        return None
    weeks = [
        _series(rule, _rows(project, rule, now - week * WEEK_NS, source))
        for week in range(1, rule.baseline_weeks + 1)
    ]
    hits = []
    for key, value in current.items():
        baseline = [week[key] for week in weeks if key in week]
        if len(baseline) < rule.min_baseline:
            continue  # too little history to call anything unusual
        z = z_score(value, baseline)
        if (
            (rule.direction == "up" and z > rule.z)
            or (rule.direction == "down" and z < -rule.z)
            or (rule.direction == "both" and abs(z) > rule.z)
        ):
            extra = {"z": z, "baseline": statistics.fmean(baseline), "threshold": rule.z}
            hits.append(_Hit(dict(zip(rule.by, key, strict=True)), value, extra))
    return hits


def _issue_hit(issue: Any) -> _Hit:
    labels = {"issue_id": str(issue.id), "title": issue.title[:200], "severity": issue.severity}
    return _Hit(labels, float(issue.times_seen))


def _new_issues(project: int, rule: Rule, now: int, source: Source) -> list[_Hit]:
    found = source.meta.new_issues(project, now - rule.window, now + 1, rule.severity)
    return [_issue_hit(issue) for issue in found]


def _regressed(project: int, rule: Rule, now: int, source: Source) -> list[_Hit]:
    hits = []
    for issue in source.meta.regressed_issues(project, rule.severity):
        if issue.last_seen > now:
            # A replay of the past: the issue regressed with its first event after it was
            # resolved, which may lie after `now`.
            rows = source.rows(
                "errors.by_issue",
                {"project": project, "since": issue.resolved_at + 1, "until": now + 1,
                 "issue_id": issue.id},
            )  # fmt: skip
            if not rows:
                continue
        hits.append(_issue_hit(issue))
    return hits
