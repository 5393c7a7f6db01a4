"""What every channel says about a notification: its title, each alert's status, times and value.

The title follows Alertmanager's default (``[FIRING:2] HighErrorRate (api)``: the status, the
number of firing alerts, the group labels' values, then the other common labels' values in
parentheses), so people who read Alertmanager mail and Slack messages recognise ours.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from watchkeeper.alerts.model import Alert, Notification, Status

ZERO_TIME = "0001-01-01T00:00:00Z"
"""How Alertmanager writes "no end yet" (Go's zero time)."""


def alert_status(alert: Alert) -> Status:
    """``resolved`` once the alert has an end (or left ``firing``), ``firing`` before.

    >>> from watchkeeper.alerts.model import Alert
    >>> alert_status(Alert(1, "HighErrorRate", "f", {}, {}, "firing", 0.1, 1, ends_at=2))
    'resolved'
    """
    return "resolved" if alert.ends_at or alert.state == "inactive" else "firing"


def rfc3339(ns: int) -> str:
    """UTC nanoseconds as RFC 3339 with milliseconds, as Alertmanager writes times; 0 is
    Alertmanager's zero time.

    >>> rfc3339(1_700_000_000_123_456_789), rfc3339(0)
    ('2023-11-14T22:13:20.123Z', '0001-01-01T00:00:00Z')
    """
    if not ns:
        return ZERO_TIME
    moment = datetime.fromtimestamp(ns // 1_000_000_000, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + f".{ns // 1_000_000 % 1000:03d}Z"


def firing(notification: Notification) -> tuple[Alert, ...]:
    """The alerts of the notification that still fire."""
    return tuple(a for a in notification.alerts if alert_status(a) == "firing")


def resolved(notification: Notification) -> tuple[Alert, ...]:
    """The alerts of the notification that have resolved."""
    return tuple(a for a in notification.alerts if alert_status(a) == "resolved")


def title(notification: Notification) -> str:
    """The one-line summary used as email subject and Slack fallback text.

    >>> from watchkeeper.alerts.model import Alert, Notification
    >>> a = Alert(1, "HighErrorRate", "f", {"alertname": "HighErrorRate", "service": "api"},
    ...           {}, "firing", 0.12, 1)
    >>> title(Notification("mail", "g", "firing", (a, a), {"alertname": "HighErrorRate"},
    ...                    a.labels))
    '[FIRING:2] HighErrorRate (api)'
    """
    status = notification.status.upper()
    if notification.status == "firing":
        status += f":{len(firing(notification))}"
    group = notification.group_labels or _rule_names(notification)
    words = [f"[{status}]", *(group[k] for k in sorted(group))]
    rest = {k: v for k, v in notification.common_labels.items() if k not in group}
    if rest:
        words.append("(" + " ".join(rest[k] for k in sorted(rest)) + ")")
    return " ".join(w for w in words if w)


def _rule_names(notification: Notification) -> Mapping[str, str]:
    # A policy grouping by nothing still gives the reader the rule names to go on.
    names = sorted({a.rule for a in notification.alerts})
    return {"alertname": ", ".join(names)} if names else {}


def value_text(value: float | None) -> str:
    """An alert's value for people: up to four significant digits, ``no data`` for None.

    >>> value_text(0.123456), value_text(1234567.0), value_text(None)
    ('0.1235', '1.235e+06', 'no data')
    """
    return "no data" if value is None else f"{value:.4g}"


def label_pairs(labels: Mapping[str, str], skip: tuple[str, ...] = ("alertname",)) -> list[str]:
    """Labels as ``name=value`` pairs, sorted by name, without the ones in ``skip`` (the rule's
    name is shown on its own).

    >>> label_pairs({"service": "api", "alertname": "X", "env": "prod"})
    ['env=prod', 'service=api']
    """
    return [f"{k}={labels[k]}" for k in sorted(labels) if k not in skip]


def link(notification: Notification) -> str:
    """Where a reader should click: the first alert's rule page, else the server's URL."""
    for alert in notification.alerts:
        if alert.generator_url:
            return alert.generator_url
    return notification.external_url


def duration_text(ns: int) -> str:
    """A duration for people, two units at most.

    >>> duration_text(45 * 10**9), duration_text(3725 * 10**9), duration_text(90061 * 10**9)
    ('45s', '1h 2m', '1d 1h')
    """
    seconds = max(0, ns // 1_000_000_000)
    parts: list[str] = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size or (unit == "s" and not parts):
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
        if len(parts) == 2:
            break
    return " ".join(parts)


def summary(alert: Alert) -> str:
    """The alert's ``summary`` annotation, else its ``description``, else nothing."""
    return alert.annotations.get("summary") or alert.annotations.get("description") or ""
