"""Forward alerts to Alertmanager: ``POST /api/v2/alerts`` on each configured Alertmanager.

Like Prometheus, we send to every Alertmanager (an HA cluster deduplicates among its peers) and
count the delivery good when any of them took it. Resolved alerts carry ``endsAt``; firing ones
carry none, so Alertmanager resolves them by itself after its ``resolve_timeout`` (5 m by
default) unless they are posted again: a policy for this channel must repeat more often than
that, as Prometheus re-sends firing alerts every minute (reference/metrics-alerts-health.md §2.6).
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from dataclasses import dataclass, field
from typing import Any

from watchkeeper.alerts.model import DeliveryError, Notification
from watchkeeper.alerts.notifiers.http import post
from watchkeeper.alerts.notifiers.message import alert_status, rfc3339
from watchkeeper.alerts.notifiers.options import Options

API_PATH = "/api/v2/alerts"
_BAD_NAME_CHARS = re.compile(r"[^A-Za-z0-9_]")


def postable_alerts(notification: Notification) -> list[dict[str, Any]]:
    """The notification's alerts as Alertmanager's API v2 takes them.

    >>> from watchkeeper.alerts.model import Alert, Notification
    >>> a = Alert(1, "HighErrorRate", "f", {"http.route": "/chat"}, {}, "firing", 0.2, 10**18)
    >>> postable_alerts(Notification("am", "g", "firing", (a,)))[0]["labels"]
    {'http_route': '/chat', 'alertname': 'HighErrorRate'}
    """
    result = []
    for alert in notification.alerts:
        labels = {label_name(k): v for k, v in alert.labels.items() if v}
        labels.setdefault("alertname", alert.rule)
        item: dict[str, Any] = {
            "labels": labels,
            "annotations": dict(alert.annotations),
            "startsAt": rfc3339(alert.starts_at),
        }
        if alert_status(alert) == "resolved":
            # An end in the past is how a sender resolves an alert in Alertmanager.
            item["endsAt"] = rfc3339(alert.ends_at) if alert.ends_at else rfc3339(time.time_ns())
        if alert.generator_url:
            item["generatorURL"] = alert.generator_url
        result.append(item)
    return result


def label_name(name: str) -> str:
    """A label name Alertmanager 0.25 accepts (``[A-Za-z_][A-Za-z0-9_]*``): other characters
    become ``_``, as Prometheus does with OpenTelemetry attribute names.

    >>> label_name("http.route"), label_name("5xx")
    ('http_route', '_5xx')
    """
    name = _BAD_NAME_CHARS.sub("_", name)
    return f"_{name}" if not name or name[0].isdigit() else name


@dataclass(kw_only=True)
class AlertmanagerNotifier:
    """Posts the alerts to each Alertmanager in ``urls`` (base URLs, e.g.
    ``http://alertmanager:9093``; basic auth as ``http://user:password@host:9093``).

    >>> AlertmanagerNotifier(name="am", urls=("http://127.0.0.1:9093",)).endpoints()
    ['http://127.0.0.1:9093/api/v2/alerts']
    """

    name: str
    urls: tuple[str, ...] = field(repr=False)
    headers: dict[str, str] = field(default_factory=dict, repr=False)
    timeout: float = 10.0
    type: str = field(default="alertmanager", init=False)

    def endpoints(self) -> list[str]:
        """The alerts API URL of each Alertmanager."""
        return [url.rstrip("/") + API_PATH for url in self.urls]

    async def send(self, notification: Notification) -> None:
        """Deliver one notification to every Alertmanager (one attempt each); raise
        DeliveryError only when none took it."""
        body = json.dumps(postable_alerts(notification)).encode()
        headers = {**self.headers, "Content-Type": "application/json"}
        outcomes = await asyncio.gather(
            *(post(url, body, headers, timeout=self.timeout) for url in self.endpoints()),
            return_exceptions=True,
        )
        failures: list[DeliveryError] = []
        for outcome in outcomes:
            if isinstance(outcome, DeliveryError):
                failures.append(outcome)
            elif isinstance(outcome, BaseException):
                raise outcome
        if len(failures) == len(outcomes):
            waits = [f.retry_after for f in failures if f.retry_after is not None]
            raise DeliveryError(
                "; ".join(str(f) for f in failures), retry_after=max(waits) if waits else None
            )


def from_options(name: str, options: Options) -> AlertmanagerNotifier:
    """Build from the rules file's options: url (one or a list), headers, timeout."""
    return AlertmanagerNotifier(
        name=name,
        urls=options.urls("url"),
        headers=options.headers("headers"),
        timeout=options.number("timeout", 10.0),
    )
