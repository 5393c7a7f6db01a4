"""The generic JSON webhook: Alertmanager's webhook payload (version "4"), optionally signed.

Any tool that reads Alertmanager webhooks reads ours (reference/metrics-alerts-health.md §2.5);
we add ``escalation`` (0 for the first channels, n for the n-th escalation step) at the top and
``value`` on each alert. With a ``secret``, each request carries

    X-Watchkeeper-Timestamp: <unix seconds>
    X-Watchkeeper-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>." + body)>

The timestamp is inside the signature, so a receiver that rejects old timestamps (say, more than
five minutes off) is safe from replays; docs/alerts.md shows the check.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import time
from dataclasses import dataclass, field
from typing import Any, Final

from watchkeeper.alerts.model import Notification
from watchkeeper.alerts.notifiers.http import post
from watchkeeper.alerts.notifiers.message import alert_status, rfc3339
from watchkeeper.alerts.notifiers.options import Options

TIMESTAMP_HEADER: Final = "X-Watchkeeper-Timestamp"
SIGNATURE_HEADER: Final = "X-Watchkeeper-Signature"


def payload(notification: Notification, *, max_alerts: int = 0) -> dict[str, Any]:
    """The notification in Alertmanager's webhook format, version "4"; ``max_alerts`` (0: all)
    keeps the first alerts and counts the rest in ``truncatedAlerts``, as Alertmanager does.

    >>> from watchkeeper.alerts.model import Notification
    >>> payload(Notification("ops", "{}:{}", "firing", ()))["version"]
    '4'
    """
    alerts = notification.alerts
    kept = alerts[:max_alerts] if max_alerts else alerts
    return {
        "receiver": notification.channel,
        "status": notification.status,
        "alerts": [
            {
                "status": alert_status(a),
                "labels": dict(a.labels),
                "annotations": dict(a.annotations),
                "startsAt": rfc3339(a.starts_at),
                "endsAt": rfc3339(a.ends_at),
                "generatorURL": a.generator_url,
                "fingerprint": a.fingerprint,
                # JSON has no NaN or Infinity; a receiver's parser would reject the body.
                "value": a.value if a.value is not None and math.isfinite(a.value) else None,
            }
            for a in kept
        ],
        "groupLabels": dict(notification.group_labels),
        "commonLabels": dict(notification.common_labels),
        "commonAnnotations": dict(notification.common_annotations),
        "externalURL": notification.external_url,
        "version": "4",
        "groupKey": notification.group_key,
        "truncatedAlerts": len(alerts) - len(kept),
        "escalation": notification.escalation,
    }


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header's value: HMAC-SHA256 over ``"<timestamp>." + body``, hex.

    >>> sign("s3cret", 1700000000, b"{}")[:15]
    'sha256=97926816'
    """
    message = str(timestamp).encode() + b"." + body
    return "sha256=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


@dataclass(kw_only=True)
class WebhookNotifier:
    """POSTs the payload as JSON to ``url``; non-2xx raises DeliveryError.

    >>> WebhookNotifier(name="ops", url="https://example.test/hook", secret="s").type
    'webhook'
    """

    name: str
    url: str = field(repr=False)
    secret: str = field(default="", repr=False)
    headers: dict[str, str] = field(default_factory=dict, repr=False)
    timeout: float = 10.0
    max_alerts: int = 0
    type: str = field(default="webhook", init=False)

    async def send(self, notification: Notification) -> None:
        """Deliver one notification (one attempt)."""
        body = json.dumps(
            payload(notification, max_alerts=self.max_alerts), allow_nan=False
        ).encode()
        headers = {**self.headers, "Content-Type": "application/json"}
        if self.secret:
            now = int(time.time())
            headers[TIMESTAMP_HEADER] = str(now)
            headers[SIGNATURE_HEADER] = sign(self.secret, now, body)
        await post(self.url, body, headers, timeout=self.timeout)


def from_options(name: str, options: Options) -> WebhookNotifier:
    """Build from the rules file's options: url, secret, headers, timeout, max_alerts."""
    return WebhookNotifier(
        name=name,
        url=options.url("url"),
        secret=options.string("secret", ""),
        headers=options.headers("headers"),
        timeout=options.number("timeout", 10.0),
        max_alerts=options.integer("max_alerts", 0),
    )
