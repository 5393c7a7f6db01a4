"""The generic webhook against a real HTTP receiver: Alertmanager's v4 payload, the HMAC
signature checked independently, errors as DeliveryError."""

from __future__ import annotations

import asyncio
import email.utils
import hashlib
import hmac
import time
from pathlib import Path
from typing import Any

import pytest
from tests.alerts.notifiers.conftest import Receiver, free_port, make_alert, make_notification

from watchkeeper.alerts.model import DeliveryError
from watchkeeper.alerts.notifiers.webhook import WebhookNotifier


def verify(secret: str, headers: dict[str, str], body: bytes, tolerance: float = 300) -> bool:
    """What a receiver does: recompute the HMAC over "timestamp.body", reject old timestamps."""
    timestamp = headers["x-watchkeeper-timestamp"]
    if abs(time.time() - int(timestamp)) > tolerance:
        return False
    expected = hmac.new(
        secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256
    ).hexdigest()
    return hmac.compare_digest("sha256=" + expected, headers["x-watchkeeper-signature"])


def test_firing_payload_is_alertmanager_v4(receiver: Receiver) -> None:
    """A firing notification arrives as Alertmanager's webhook JSON, version 4, with our
    escalation and each alert's value."""
    alert = make_alert(labels={"model": "gpt-4o"}, starts_at=1_700_000_000_123_000_000)
    hook = WebhookNotifier(name="ops", url=receiver.url + "/hook")
    asyncio.run(hook.send(make_notification(alert, escalation=1)))

    [request] = receiver.wait(1)
    assert request.method == "POST" and request.path == "/hook"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["user-agent"].startswith("watchkeeper/")
    body = request.json()
    assert body == {
        "receiver": "ops",
        "status": "firing",
        "alerts": [
            {
                "status": "firing",
                "labels": {
                    "alertname": "HighErrorRate",
                    "service": "api",
                    "env": "prod",
                    "model": "gpt-4o",
                },
                "annotations": {"summary": "HighErrorRate on api"},
                "startsAt": "2023-11-14T22:13:20.123Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://127.0.0.1:8000/alerts/rules/high-error-rate",
                "fingerprint": alert.fingerprint,
                "value": 0.12,
            }
        ],
        "groupLabels": {"alertname": "HighErrorRate"},
        "commonLabels": dict(alert.labels),
        "commonAnnotations": {"summary": "HighErrorRate on api"},
        "externalURL": "http://127.0.0.1:8000",
        "version": "4",
        "groupKey": '{}:{alertname="HighErrorRate"}',
        "truncatedAlerts": 0,
        "escalation": 1,
    }
    assert "x-watchkeeper-signature" not in request.headers


def test_resolved_alert_carries_its_end(receiver: Receiver) -> None:
    """A resolved notification says resolved at the top and per alert, with a real endsAt."""
    alert = make_alert(starts_at=1_700_000_000_000_000_000, ends_at=1_700_000_060_500_000_000)
    asyncio.run(WebhookNotifier(name="ops", url=receiver.url).send(make_notification(alert)))

    body = receiver.wait(1)[0].json()
    assert body["status"] == "resolved"
    assert body["alerts"][0]["status"] == "resolved"
    assert body["alerts"][0]["endsAt"] == "2023-11-14T22:14:20.500Z"


def test_signature_verifies_independently(receiver: Receiver) -> None:
    """With a secret, the timestamp and HMAC-SHA256 over "timestamp.body" verify with hashlib;
    a changed body, another secret or an old timestamp do not."""
    hook = WebhookNotifier(name="ops", url=receiver.url, secret="s3cret", headers={"X-Team": "llm"})
    asyncio.run(hook.send(make_notification()))

    [request] = receiver.wait(1)
    assert abs(int(request.headers["x-watchkeeper-timestamp"]) - time.time()) < 5
    assert request.headers["x-team"] == "llm"
    assert verify("s3cret", request.headers, request.body)
    assert not verify("s3cret", request.headers, request.body.replace(b"firing", b"resolved"))
    assert not verify("other", request.headers, request.body)
    old = {**request.headers, "x-watchkeeper-timestamp": str(int(time.time()) - 600)}
    assert not verify("s3cret", old, request.body)


def test_max_alerts_truncates_and_counts(receiver: Receiver) -> None:
    """max_alerts keeps the first alerts and counts the rest in truncatedAlerts."""
    alerts = [make_alert(labels={"route": f"/r{i}"}) for i in range(5)]
    hook = WebhookNotifier(name="ops", url=receiver.url, max_alerts=2)
    asyncio.run(hook.send(make_notification(*alerts)))

    body = receiver.wait(1)[0].json()
    assert [a["labels"]["route"] for a in body["alerts"]] == ["/r0", "/r1"]
    assert body["truncatedAlerts"] == 3


def test_server_error_is_a_delivery_error(receiver: Receiver) -> None:
    """A 500 raises DeliveryError naming the status and the answer, without retry_after, and
    the notifier does not retry by itself."""
    receiver.reply(500, b"database is down")
    hook = WebhookNotifier(name="ops", url=receiver.url + "/hook")
    with pytest.raises(DeliveryError, match="HTTP 500: database is down") as caught:
        asyncio.run(hook.send(make_notification()))
    assert caught.value.retry_after is None
    time.sleep(0.2)
    assert len(receiver.requests) == 1


@pytest.mark.parametrize(
    ("retry_after", "expected"),
    [("7", 7.0), ("date in 30 s", 30.0)],
)
def test_429_gives_retry_after(receiver: Receiver, retry_after: str, expected: float) -> None:
    """A 429's Retry-After (seconds or an HTTP date) becomes the error's retry_after."""
    if retry_after.startswith("date"):
        retry_after = email.utils.formatdate(time.time() + expected, usegmt=True)
    receiver.reply(429, b"slow down", {"Retry-After": retry_after})
    with pytest.raises(DeliveryError, match="HTTP 429") as caught:
        asyncio.run(WebhookNotifier(name="ops", url=receiver.url).send(make_notification()))
    assert caught.value.retry_after == pytest.approx(expected, abs=2)


def test_timeout_is_a_delivery_error(receiver: Receiver) -> None:
    """A receiver slower than the timeout raises DeliveryError after about the timeout."""
    receiver.reply(200, b"ok", delay=1.0)
    hook = WebhookNotifier(name="ops", url=receiver.url, timeout=0.3)
    started = time.monotonic()
    with pytest.raises(DeliveryError, match=r"no answer within 0\.3 s"):
        asyncio.run(hook.send(make_notification()))
    assert time.monotonic() - started < 1.5


def test_unreachable_receiver_hides_the_url_path() -> None:
    """Connection refused raises DeliveryError naming the host but not the URL's secret path."""
    url = f"http://127.0.0.1:{free_port()}/hooks/secret-token"
    with pytest.raises(DeliveryError) as caught:
        asyncio.run(WebhookNotifier(name="ops", url=url).send(make_notification()))
    assert "127.0.0.1" in str(caught.value)
    assert "secret-token" not in str(caught.value)


def test_non_finite_value_is_null(receiver: Receiver) -> None:
    """A NaN or infinite value is sent as null: JSON has no way to write it."""
    alerts = [
        make_alert(value=float("nan")),
        make_alert(value=float("inf"), labels={"route": "/x"}),
    ]
    asyncio.run(WebhookNotifier(name="ops", url=receiver.url).send(make_notification(*alerts)))
    body = receiver.wait(1)[0].json()
    assert [a["value"] for a in body["alerts"]] == [None, None]


def test_documented_verification_accepts_our_signature(receiver: Receiver) -> None:
    """The verification snippet in docs/alerts.md accepts a signed request and refuses a changed one."""
    docs = (Path(__file__).parents[3] / "docs" / "alerts.md").read_text()
    snippet = docs.split("```python\n", 1)[1].split("```", 1)[0]
    namespace: dict[str, Any] = {}
    exec(snippet, namespace)
    asyncio.run(
        WebhookNotifier(name="ops", url=receiver.url, secret="k3y").send(make_notification())
    )
    [request] = receiver.wait(1)
    headers = {
        "X-Watchkeeper-Timestamp": request.headers["x-watchkeeper-timestamp"],
        "X-Watchkeeper-Signature": request.headers["x-watchkeeper-signature"],
    }
    assert namespace["verify"]("k3y", headers, request.body)
    assert not namespace["verify"]("k3y", headers, request.body + b" ")
