"""The types the alerting parts share: an alert instance, a notification, a notifier.

The engine (engine.py) makes :class:`Alert` s from rules; the policy (policy.py) groups them
into :class:`Notification` s for channels; a channel is a :class:`Notifier` (notifiers/).
Times are UTC nanoseconds since the epoch, as everywhere in the telemetry store.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, Protocol, TypeAlias

State: TypeAlias = Literal["inactive", "pending", "firing"]
"""Where an alert instance stands. An instance leaving ``firing`` is *resolved*: the transition
is recorded in the history and notified, and the instance becomes ``inactive`` again."""

Status: TypeAlias = Literal["firing", "resolved"]
"""What a notification says about its alerts (Alertmanager's vocabulary)."""


@dataclass(frozen=True)
class Alert:
    """One alert instance: a rule and one set of labels (one row of a grouped query).

    ``fingerprint`` is stable for a rule and its labels (sha256 of both, hex), so repeats of the
    same alert are recognised across cycles and server restarts and deduplicated.
    """

    project: int
    rule: str
    """The rule's name (``alertname`` in its labels)."""
    fingerprint: str
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    state: State
    value: float | None
    """The query's value at the last evaluation; None for no data or rule kinds without one."""
    starts_at: int
    """When it became pending (or firing, for rules without ``for``)."""
    ends_at: int = 0
    """When it resolved; 0 while it has not."""
    generator_url: str = ""
    """A link back to the rule on the Alerts page."""


@dataclass(frozen=True)
class Notification:
    """A group of alerts sent to one channel: what every notifier formats and delivers."""

    channel: str
    """The channel's name in the rules file."""
    group_key: str
    """Stable for a policy's group (its group_by labels' values): the dedup key of the group."""
    status: Status
    """``firing`` while any alert of the group fires, ``resolved`` when all have resolved."""
    alerts: tuple[Alert, ...]
    group_labels: Mapping[str, str] = field(default_factory=dict)
    common_labels: Mapping[str, str] = field(default_factory=dict)
    common_annotations: Mapping[str, str] = field(default_factory=dict)
    external_url: str = ""
    """The server's public URL (the ``public_url`` setting), for links in messages."""
    escalation: int = 0
    """0 for the first channels of the policy, n for the n-th escalation step."""


class DeliveryError(Exception):
    """A notifier could not deliver; the policy retries with backoff and records the failure.
    ``retry_after`` (seconds) is set when the receiver said when to retry (HTTP 429)."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Notifier(Protocol):
    """A channel. ``send`` delivers one notification or raises :class:`DeliveryError`; it must
    not retry by itself (the policy does, and records every attempt)."""

    name: str
    type: str

    async def send(self, notification: Notification) -> None: ...


MatchOp: TypeAlias = Literal["=", "!=", "=~", "!~"]


@dataclass(frozen=True)
class Matcher:
    """A label matcher as Alertmanager writes it: ``service="api"``, ``env!="dev"``,
    ``model=~"gpt-.*"`` (regexes are anchored: they match the whole value)."""

    name: str
    op: MatchOp
    value: str


@dataclass(frozen=True)
class Silence:
    """Mutes the alerts whose labels match every matcher, from ``starts_at`` to ``ends_at``."""

    id: int
    project: int
    matchers: tuple[Matcher, ...]
    starts_at: int
    ends_at: int
    created_by: str = ""
    comment: str = ""


@dataclass(frozen=True)
class Acknowledgement:
    """Someone took an alert: its repeats and escalation stop until it resolves."""

    fingerprint: str
    by: str
    at: int
    comment: str = ""


@dataclass(frozen=True)
class Escalation:
    """Send to ``channels`` too when a firing group is still unacknowledged ``after`` ns after
    it first fired."""

    after: int
    channels: tuple[str, ...]


@dataclass(frozen=True)
class PolicyConfig:
    """The notification policy of a project (Alertmanager's route, simplified to one level):
    durations in ns. ``group_by`` ``("...",)`` groups by every label (one group per alert)."""

    channels: tuple[str, ...] = ()
    group_by: tuple[str, ...] = ("alertname",)
    group_wait: int = 30 * 1_000_000_000
    group_interval: int = 5 * 60 * 1_000_000_000
    repeat_interval: int = 4 * 3600 * 1_000_000_000
    escalations: tuple[Escalation, ...] = ()
    send_resolved: bool = True
