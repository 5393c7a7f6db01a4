"""The notification policy: which alerts are told to which channels, and when.

The engine calls :meth:`Policy.process` once per evaluation cycle with the project's current
alert instances (pending, firing, and those that resolved this cycle) and hands what it returns
to the dispatcher. The policy follows Alertmanager's route (reference/metrics-alerts-health.md
§2.2, §2.5): alerts are grouped by the values of the ``group_by`` labels; a new group waits
``group_wait`` before its first notification; the group is then looked at every
``group_interval`` and notified when its firing set grew, when alerts resolved (with
``send_resolved``), or when nothing changed for ``repeat_interval``. Around that, from §3:

* silenced alerts are left out; a group with nothing left to tell sends nothing;
* an alert that flaps (Nagios' weighted percent state change over its last 21 cycles above
  20 %, until it falls below 5 %) is held: the group keeps the state it had when the flapping
  began, and tells the final state once the alert is stable again;
* an acknowledged alert is not repeated and does not escalate; its resolution is still told;
* an escalation step sends a firing, unacknowledged group to more channels ``after`` its first
  alert fired, once per step; those channels hear the group's resolution too.

Nothing here reads a clock or does I/O: ``now`` (ns) comes in, notifications go out, and the
state is plain data (:meth:`Policy.snapshot`, :meth:`Policy.restore`), so a restart neither
repeats nor forgets, and tests run hours of alerting in microseconds. A notification counts as
told when it is returned; delivery and its retries are the dispatcher's (dispatch.py).

>>> from watchkeeper.alerts.model import Alert, PolicyConfig
>>> policy = Policy(PolicyConfig(channels=("ops",), group_wait=10))
>>> alert = Alert(1, "HighLatency", "f1", {"alertname": "HighLatency"}, {}, "firing", 0.9, 0)
>>> policy.process([alert], now=0), len(policy.process([alert], now=10))
([], 1)
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Final

from watchkeeper.alerts.model import (
    Acknowledgement,
    Alert,
    Notification,
    PolicyConfig,
    Silence,
    Status,
)
from watchkeeper.alerts.silences import silenced

SNAPSHOT_VERSION: Final = 1
ALL_LABELS: Final = "..."
FLAPPING_ANNOTATION: Final = "flapping"
"""Set to ``"true"`` on a flapping alert in the notifications that carry it."""


@dataclass(frozen=True)
class FlapDetection:
    """Nagios' flap detection (naemon.io/documentation/usersguide/flapping): over an alert's last
    ``samples`` observations (one per :meth:`Policy.process` call, firing or not), each state
    change weighs from 0.8 (oldest) to 1.2 (newest); their sum over the possible changes is the
    percent state change. Flapping starts above ``high`` and stops below ``low``. With the
    defaults (Nagios' sample service thresholds) four recent changes (fire, resolve, fire,
    resolve) start it, and it stops once at most one change older than ten cycles is left.

    >>> detection = FlapDetection()
    >>> detection.percent([False, True, False, True, False, True])
    28.947...
    """

    samples: int = 21
    high: float = 20.0
    low: float = 5.0

    def __post_init__(self) -> None:
        if self.samples < 3:
            raise ValueError("samples: at least 3 observations are needed to see flapping")
        if not 0 <= self.low < self.high:
            raise ValueError("low, high: need 0 <= low < high (percent state change)")

    def percent(self, history: Sequence[bool]) -> float:
        """The weighted percent state change of ``history`` (oldest first)."""
        possible = self.samples - 1
        total = 0.0
        last = len(history) - 1
        for index in range(max(1, len(history) - possible), len(history)):
            if history[index] != history[index - 1]:
                age = last - index
                total += 1.2 - 0.4 * age / (possible - 1)
        return 100.0 * total / possible


@dataclass
class _Told:
    """What the channels were last told about a group (Alertmanager's notification log)."""

    firing: frozenset[str]
    resolved: frozenset[str]
    at: int


@dataclass
class _Group:
    key: str
    labels: dict[str, str]
    since: int
    """When the group got its first firing alert: the escalation clock starts here."""
    next_flush: int
    alerts: dict[str, Alert] = field(default_factory=dict)
    """Firing alerts, and resolved ones not yet looked at by a flush."""
    told: _Told | None = None
    escalated: set[int] = field(default_factory=set)


@dataclass
class _Flap:
    history: list[bool]
    flapping: bool = False


class Policy:
    """One project's notification policy and its state; see the module docstring.

    ``flap_detection=None`` turns flap detection off; ``external_url`` goes into every
    notification (the server's ``public_url``).
    """

    def __init__(
        self,
        config: PolicyConfig,
        *,
        flap_detection: FlapDetection | None = FlapDetection(),
        external_url: str = "",
    ) -> None:
        self.config = check_config(config)
        self.flap_detection = flap_detection
        self.external_url = external_url
        self._groups: dict[str, _Group] = {}
        self._flaps: dict[str, _Flap] = {}
        self._now: int | None = None

    @property
    def flapping(self) -> frozenset[str]:
        """Fingerprints of the alerts flapping now (for the Alerts page)."""
        return frozenset(fp for fp, flap in self._flaps.items() if flap.flapping)

    def group_key(self, alert: Alert) -> str:
        """The stable key of the alert's group, Alertmanager-shaped with the project as route.

        >>> from watchkeeper.alerts.model import Alert, PolicyConfig
        >>> alert = Alert(3, "Down", "f", {"alertname": "Down", "env": "prod"}, {}, "firing", 1, 0)
        >>> Policy(PolicyConfig()).group_key(alert)
        '{project="3"}:{alertname="Down"}'
        """
        return self._group_of(alert)[0]

    def process(
        self,
        alerts: Sequence[Alert],
        *,
        now: int,
        silences: Sequence[Silence] = (),
        acks: Mapping[str, Acknowledgement] | None = None,
    ) -> list[Notification]:
        """Take this cycle's alert instances; return the notifications due at ``now`` (ns).

        ``acks`` maps fingerprints to acknowledgements; one made before the alert's current
        ``starts_at`` belongs to an earlier episode and is ignored.
        """
        acks = acks or {}
        self._now = now
        firing = {a.fingerprint: a for a in alerts if _is_firing(a)}
        resolved = {a.fingerprint: a for a in alerts if a.ends_at}
        self._observe(firing.keys())
        self._apply(firing, resolved, now)
        notifications: list[Notification] = []
        for key in sorted(self._groups):
            group = self._groups[key]
            muted = silenced(group.alerts.values(), silences, now)
            visible = [a for fp, a in group.alerts.items() if fp not in muted]
            if now >= group.next_flush:
                notifications += self._flush(group, visible, now, acks)
            notifications += self._escalate(group, visible, now, acks)
            if not group.alerts:
                del self._groups[key]
        return notifications

    def next_due(self) -> int | None:
        """The earliest time (ns) a :meth:`process` call may notify without new alerts: a
        group's next flush or a coming escalation; None when no group is open. (An escalation
        whose time passed while the group was acknowledged waits for news, not for a time.)"""
        due = [group.next_flush for group in self._groups.values()]
        last = -1 if self._now is None else self._now
        for group in self._groups.values():
            if group.told is not None:
                due += [
                    group.since + step.after
                    for number, step in enumerate(self.config.escalations, 1)
                    if number not in group.escalated and group.since + step.after > last
                ]
        return min(due, default=None)

    # -- the cycle ---------------------------------------------------------------------------

    def _observe(self, firing: Iterable[str]) -> None:
        detection = self.flap_detection
        if detection is None:
            return
        now_firing = set(firing)
        for fp in sorted(now_firing - self._flaps.keys()):
            self._flaps[fp] = _Flap([False])
        for fp, flap in list(self._flaps.items()):
            flap.history.append(fp in now_firing)
            del flap.history[: -detection.samples]
            percent = detection.percent(flap.history)
            if flap.flapping and percent < detection.low:
                flap.flapping = False
            elif not flap.flapping and percent > detection.high:
                flap.flapping = True
            if not flap.flapping and not any(flap.history):
                del self._flaps[fp]

    def _held(self, fp: str) -> bool:
        flap = self._flaps.get(fp)
        return flap is not None and flap.flapping

    def _apply(self, firing: Mapping[str, Alert], resolved: Mapping[str, Alert], now: int) -> None:
        keys: dict[str, str] = {}
        for fp, alert in firing.items():
            key, labels = self._group_of(alert)
            keys[fp] = key
            if self._held(fp):
                continue
            group = self._groups.get(key)
            if group is None:
                group = _Group(key, labels, since=now, next_flush=now + self.config.group_wait)
                self._groups[key] = group
            group.alerts[fp] = alert
        for group in self._groups.values():
            for fp, alert in list(group.alerts.items()):
                if fp in keys and keys[fp] != group.key:
                    del group.alerts[fp]  # regrouped by a new group_by: it lives on elsewhere
                elif _is_firing(alert) and fp not in firing and not self._held(fp):
                    # The engine sends a resolved instance once; one that simply vanished
                    # (its rule deleted, say) resolves now.
                    group.alerts[fp] = resolved.get(fp) or replace(
                        alert, state="inactive", ends_at=now
                    )

    def _flush(
        self, group: _Group, visible: list[Alert], now: int, acks: Mapping[str, Acknowledgement]
    ) -> list[Notification]:
        firing = frozenset(a.fingerprint for a in visible if _is_firing(a))
        resolved = frozenset(a.fingerprint for a in visible if not _is_firing(a))
        notifications: list[Notification] = []
        if self._needs_update(group, visible, firing, resolved, now, acks):
            notifications = self._tell(group, visible)
            group.told = _Told(firing, resolved, now)
        # Every resolved alert has now been told, or never fired as far as the channels know.
        group.alerts = {fp: a for fp, a in group.alerts.items() if _is_firing(a)}
        group.next_flush = now + self.config.group_interval
        return notifications

    def _needs_update(
        self,
        group: _Group,
        visible: list[Alert],
        firing: frozenset[str],
        resolved: frozenset[str],
        now: int,
        acks: Mapping[str, Acknowledgement],
    ) -> bool:
        # Alertmanager's DedupStage: the same firing set is not told twice within the repeat.
        told = group.told
        if told is None:
            return bool(firing)
        if not firing <= told.firing:
            return True
        if not firing:
            return bool(told.firing)
        if self.config.send_resolved and not resolved <= told.resolved:
            return True
        if now - told.at < self.config.repeat_interval:
            return False
        return any(_is_firing(a) and not _acked(a, acks) for a in visible)

    def _tell(self, group: _Group, visible: list[Alert]) -> list[Notification]:
        firing = [a for a in visible if _is_firing(a)]
        resolved = [a for a in visible if not _is_firing(a)] if self.config.send_resolved else []
        if not firing and not resolved:
            return []
        status: Status = "firing" if firing else "resolved"
        targets = [(channel, 0) for channel in self.config.channels]
        if status == "resolved":
            for number in sorted(group.escalated):
                if number <= len(self.config.escalations):
                    step = self.config.escalations[number - 1]
                    targets += [(channel, number) for channel in step.channels]
        return [
            self._notification(group, firing + resolved, status, channel, step)
            for channel, step in targets
        ]

    def _escalate(
        self, group: _Group, visible: list[Alert], now: int, acks: Mapping[str, Acknowledgement]
    ) -> list[Notification]:
        if group.told is None:
            return []
        firing = [a for a in visible if _is_firing(a)]
        if all(_acked(a, acks) for a in firing):  # also when nothing visible fires
            return []
        notifications = []
        for number, step in enumerate(self.config.escalations, 1):
            if number not in group.escalated and now >= group.since + step.after:
                group.escalated.add(number)
                notifications += [
                    self._notification(group, firing, "firing", channel, number)
                    for channel in step.channels
                ]
        return notifications

    def _notification(
        self, group: _Group, alerts: list[Alert], status: Status, channel: str, escalation: int
    ) -> Notification:
        shown = tuple(self._shown(a) for a in sorted(alerts, key=_order))
        return Notification(
            channel=channel,
            group_key=group.key,
            status=status,
            alerts=shown,
            group_labels=dict(group.labels),
            common_labels=_common(a.labels for a in shown),
            common_annotations=_common(a.annotations for a in shown),
            external_url=self.external_url,
            escalation=escalation,
        )

    def _shown(self, alert: Alert) -> Alert:
        if not self._held(alert.fingerprint):
            return alert
        return replace(alert, annotations={**alert.annotations, FLAPPING_ANNOTATION: "true"})

    def _group_of(self, alert: Alert) -> tuple[str, dict[str, str]]:
        source = {"alertname": alert.rule, **alert.labels}
        if self.config.group_by == (ALL_LABELS,):
            labels = dict(source)
        else:
            labels = {name: source[name] for name in self.config.group_by if name in source}
        body = ",".join(
            f"{name}={json.dumps(value, ensure_ascii=False)}"
            for name, value in sorted(labels.items())
        )
        return f'{{project="{alert.project}"}}:{{{body}}}', labels

    # -- state -------------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """The policy's state as JSON-able data, for the metadata store."""
        return {
            "version": SNAPSHOT_VERSION,
            "groups": [
                {
                    "key": g.key,
                    "labels": g.labels,
                    "since": g.since,
                    "next_flush": g.next_flush,
                    "alerts": [_alert_data(a) for a in g.alerts.values()],
                    "told": None
                    if g.told is None
                    else {
                        "firing": sorted(g.told.firing),
                        "resolved": sorted(g.told.resolved),
                        "at": g.told.at,
                    },
                    "escalated": sorted(g.escalated),
                }
                for g in self._groups.values()
            ],
            "flaps": {
                fp: {
                    "history": "".join("1" if s else "0" for s in f.history),
                    "flapping": f.flapping,
                }
                for fp, f in self._flaps.items()
            },
        }

    @classmethod
    def restore(
        cls,
        config: PolicyConfig,
        snapshot: Mapping[str, Any],
        *,
        flap_detection: FlapDetection | None = FlapDetection(),
        external_url: str = "",
    ) -> Policy:
        """A policy that carries on from :meth:`snapshot` (under a possibly edited config).

        >>> from watchkeeper.alerts.model import PolicyConfig
        >>> Policy.restore(PolicyConfig(), Policy(PolicyConfig()).snapshot()).snapshot()["groups"]
        []
        """
        policy = cls(config, flap_detection=flap_detection, external_url=external_url)
        if snapshot.get("version") != SNAPSHOT_VERSION:
            raise ValueError(f"snapshot.version: expected {SNAPSHOT_VERSION}")
        try:
            for data in snapshot["groups"]:
                told = data["told"]
                group = _Group(
                    key=str(data["key"]),
                    labels={str(k): str(v) for k, v in data["labels"].items()},
                    since=int(data["since"]),
                    next_flush=int(data["next_flush"]),
                    alerts={a["fingerprint"]: _alert_from(a) for a in data["alerts"]},
                    told=None
                    if told is None
                    else _Told(
                        frozenset(told["firing"]), frozenset(told["resolved"]), int(told["at"])
                    ),
                    escalated={int(n) for n in data["escalated"]},
                )
                policy._groups[group.key] = group
            for fp, data in snapshot["flaps"].items():
                history = [c == "1" for c in data["history"]]
                policy._flaps[str(fp)] = _Flap(history, bool(data["flapping"]))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ValueError(f"snapshot: malformed ({type(exc).__name__}: {exc})") from None
        return policy


def check_config(config: PolicyConfig) -> PolicyConfig:
    """The config itself when usable; ValueError naming the field otherwise.

    >>> check_config(PolicyConfig(group_by=("...", "service")))
    Traceback (most recent call last):
    ...
    ValueError: group_by: '...' groups by every label and must stand alone
    """
    for name in ("group_wait", "group_interval", "repeat_interval"):
        if getattr(config, name) < 0:
            raise ValueError(f"{name}: must not be negative")
    if config.group_interval == 0 or config.repeat_interval == 0:
        raise ValueError("group_interval, repeat_interval: must be positive")
    if ALL_LABELS in config.group_by and len(config.group_by) > 1:
        raise ValueError("group_by: '...' groups by every label and must stand alone")
    for index, step in enumerate(config.escalations):
        if step.after < 0:
            raise ValueError(f"escalate[{index}].after: must not be negative")
        if not step.channels:
            raise ValueError(f"escalate[{index}].channels: name at least one channel")
    return config


def _is_firing(alert: Alert) -> bool:
    return alert.state == "firing" and not alert.ends_at


def _acked(alert: Alert, acks: Mapping[str, Acknowledgement]) -> bool:
    ack = acks.get(alert.fingerprint)
    return ack is not None and ack.at >= alert.starts_at


def _order(alert: Alert) -> tuple[list[tuple[str, str]], str]:
    return sorted(alert.labels.items()), alert.fingerprint


def _common(maps: Iterable[Mapping[str, str]]) -> dict[str, str]:
    common: dict[str, str] | None = None
    for labels in maps:
        if common is None:
            common = dict(labels)
        else:
            common = {k: v for k, v in common.items() if labels.get(k) == v}
    return common or {}


def _alert_data(alert: Alert) -> dict[str, Any]:
    value: float | str | None = alert.value
    if alert.value is not None and not math.isfinite(alert.value):
        value = repr(alert.value)  # JSON has no NaN or infinity; float() reads these back
    return {
        "project": alert.project,
        "rule": alert.rule,
        "fingerprint": alert.fingerprint,
        "labels": dict(alert.labels),
        "annotations": dict(alert.annotations),
        "state": alert.state,
        "value": value,
        "starts_at": alert.starts_at,
        "ends_at": alert.ends_at,
        "generator_url": alert.generator_url,
    }


def _alert_from(data: Mapping[str, Any]) -> Alert:
    value = data["value"]
    state = data["state"]
    if state not in ("inactive", "pending", "firing"):
        raise ValueError(f"alert state {state!r}")
    return Alert(
        project=int(data["project"]),
        rule=str(data["rule"]),
        fingerprint=str(data["fingerprint"]),
        labels={str(k): str(v) for k, v in data["labels"].items()},
        annotations={str(k): str(v) for k, v in data["annotations"].items()},
        state=state,
        value=None if value is None else float(value),
        starts_at=int(data["starts_at"]),
        ends_at=int(data["ends_at"]),
        generator_url=str(data.get("generator_url", "")),
    )
