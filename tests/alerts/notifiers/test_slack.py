"""The Slack notifier against a real HTTP receiver answering as Slack does: fallback text,
coloured blocks, resolved messages that look different, Slack's errors as DeliveryError."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from tests.alerts.notifiers.conftest import NOW, Receiver, make_alert, make_notification

from watchkeeper.alerts.model import DeliveryError
from watchkeeper.alerts.notifiers.slack import SlackNotifier


def post(receiver: Receiver, *alerts: Any, escalation: int = 0) -> dict[str, Any]:
    """Send through a SlackNotifier and return the JSON the receiver got."""
    slack = SlackNotifier(name="team", url=receiver.url + "/services/T0/B0/token")
    asyncio.run(slack.send(make_notification(*alerts, escalation=escalation)))
    [request] = receiver.wait(1)
    assert request.path == "/services/T0/B0/token"
    assert request.headers["content-type"].startswith("application/json")
    return json.loads(request.body)


def texts(message: dict[str, Any]) -> str:
    """Every text of the message's blocks, one per line."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("text"), str):
                found.append(node["text"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(message["attachments"])
    return "\n".join(found)


def test_firing_message(receiver: Receiver) -> None:
    """A firing message has the title as fallback text, a red attachment with the alert's name,
    value, summary and labels, and a button to the rule."""
    message = post(receiver, make_alert(value=0.1234567, labels={"model": "gpt-4o"}))

    assert (
        message["text"] == "🔴 [FIRING:1] HighErrorRate (prod gpt-4o api)"
    )  # values sorted by label name
    [attachment] = message["attachments"]
    assert attachment["color"] == "#d13438"
    body = texts(message)
    assert "*HighErrorRate*  value *0.1235*" in body
    assert "HighErrorRate on api" in body
    assert "`env=prod` `model=gpt-4o` `service=api`" in body
    assert f"since <!date^{(NOW - 600 * 10**9) // 10**9}^" in body
    [actions] = [b for b in attachment["blocks"] if b["type"] == "actions"]
    assert actions["elements"][0]["url"] == "http://127.0.0.1:8000/alerts/rules/high-error-rate"


def test_resolved_message_looks_different(receiver: Receiver) -> None:
    """A resolved message is green, strikes the name through and says how long it fired."""
    alert = make_alert(starts_at=NOW - 750 * 10**9, ends_at=NOW)
    message = post(receiver, alert)

    assert message["text"].startswith("✅ [RESOLVED] HighErrorRate")
    assert message["attachments"][0]["color"] == "#2eb67d"
    body = texts(message)
    assert "~HighErrorRate~  resolved" in body
    assert "after 12m 30s" in body
    assert "value" not in body


def test_mrkdwn_is_escaped(receiver: Receiver) -> None:
    """Label values with <, > and & cannot inject links or mentions."""
    message = post(receiver, make_alert(labels={"route": "<!channel> a&b"}))
    body = texts(message)
    assert "<!channel>" not in body
    assert "`route=&lt;!channel&gt; a&amp;b`" in body


def test_long_groups_are_cut(receiver: Receiver) -> None:
    """A group of 25 alerts lists 10 and says how many more, within Slack's block limits."""
    alerts = [make_alert(labels={"route": f"/r{i}"}) for i in range(25)]
    message = post(receiver, *alerts)
    blocks = message["attachments"][0]["blocks"]
    assert len(blocks) <= 50
    assert sum("value *0.12*" in b.get("text", {}).get("text", "") for b in blocks) == 10
    assert "…and 15 more" in texts(message)
    assert message["text"].startswith("🔴 [FIRING:25] HighErrorRate")


def test_escalation_is_said(receiver: Receiver) -> None:
    """An escalation step says so under the title."""
    message = post(receiver, make_alert(), escalation=2)
    assert "Escalation step 2: not acknowledged yet" in texts(message)


@pytest.mark.parametrize(("status", "answer"), [(404, b"no_service"), (400, b"invalid_blocks")])
def test_slack_errors(receiver: Receiver, status: int, answer: bytes) -> None:
    """Slack's error answers become DeliveryError with Slack's reason, not the secret URL."""
    receiver.reply(status, answer)
    slack = SlackNotifier(name="team", url=receiver.url + "/services/T0/B0/token")
    with pytest.raises(DeliveryError, match=f"HTTP {status}: {answer.decode()}") as caught:
        asyncio.run(slack.send(make_notification()))
    assert "token" not in str(caught.value)


def test_rate_limited(receiver: Receiver) -> None:
    """Slack's 429 gives its Retry-After to the policy."""
    receiver.reply(429, b"rate_limited", {"Retry-After": "1"})
    slack = SlackNotifier(name="team", url=receiver.url)
    with pytest.raises(DeliveryError) as caught:
        asyncio.run(slack.send(make_notification()))
    assert caught.value.retry_after == 1.0
