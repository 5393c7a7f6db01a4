"""Slack incoming webhooks: a plain-text fallback, and blocks in a coloured attachment.

Slack answers 200 ``ok`` on success and 429 with ``Retry-After`` past about one message per
second (reference/metrics-alerts-health.md §7.1). Firing messages are red and give each alert's
value and labels; resolved ones are green, strike the alert names through and say how long they
fired, so the two read differently at a glance in a busy channel.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any, Final

from watchkeeper.alerts.model import Alert, Notification
from watchkeeper.alerts.notifiers.http import post
from watchkeeper.alerts.notifiers.message import (
    alert_status,
    duration_text,
    label_pairs,
    link,
    summary,
    title,
    value_text,
)
from watchkeeper.alerts.notifiers.options import Options

COLOURS: Final = {"firing": "#d13438", "resolved": "#2eb67d"}
MARKS: Final = {"firing": "\N{LARGE RED CIRCLE}", "resolved": "\N{WHITE HEAVY CHECK MARK}"}

# Slack refuses a message with more than 50 blocks and section texts over 3000 characters
# (api.slack.com/reference/block-kit/blocks); a long list is cut with a count of the rest.
MAX_LISTED: Final = 10
_MAX_TEXT: Final = 2900


def message(notification: Notification) -> dict[str, Any]:
    """The Slack message for a notification.

    >>> from watchkeeper.alerts.model import Alert, Notification
    >>> a = Alert(1, "HighErrorRate", "f", {"alertname": "HighErrorRate"}, {}, "firing", 0.2, 1)
    >>> message(Notification("ops", "g", "firing", (a,), {"alertname": "HighErrorRate"}))["text"]
    '🔴 [FIRING:1] HighErrorRate'
    """
    status = notification.status
    head = f"{MARKS[status]} {title(notification)}"
    url = link(notification)
    heading = f"*<{url}|{_escape(head)}>*" if url else f"*{_escape(head)}*"
    blocks: list[dict[str, Any]] = [_section(heading)]
    if notification.escalation:
        blocks.append(_context(f"Escalation step {notification.escalation}: not acknowledged yet"))
    # Firing alerts first: they are what the reader must act on.
    ordered = sorted(notification.alerts, key=lambda a: alert_status(a) != "firing")
    blocks += [_section(_alert_text(a)) for a in ordered[:MAX_LISTED]]
    if len(ordered) > MAX_LISTED:
        blocks.append(_context(f"…and {len(ordered) - MAX_LISTED} more"))
    if url:
        button = {"type": "plain_text", "text": "Open in watchkeeper"}
        blocks.append(
            {"type": "actions", "elements": [{"type": "button", "text": button, "url": url}]}
        )
    return {
        "text": head,
        "attachments": [{"color": COLOURS[status], "fallback": head, "blocks": blocks}],
    }


def _alert_text(alert: Alert) -> str:
    name = _escape(alert.rule)
    labels = label_pairs(alert.labels)
    if alert_status(alert) == "firing":
        lines = [f"{MARKS['firing']} *{name}*  value *{value_text(alert.value)}*"]
        since = _date(alert.starts_at, "since")
    else:
        lines = [f"{MARKS['resolved']} ~{name}~  resolved"]
        fired = duration_text(alert.ends_at - alert.starts_at) if alert.ends_at else ""
        since = _date(alert.ends_at, "at") + (f" after {fired}" if fired else "")
    note = summary(alert)
    if note:
        lines.append(_escape(note))
    if labels:
        lines.append(" ".join(_code(pair) for pair in labels))
    if since:
        lines.append(since)
    text = "\n".join(lines)
    return text if len(text) <= _MAX_TEXT else text[: _MAX_TEXT - 1] + "…"


def _date(ns: int, word: str) -> str:
    # Slack shows <!date^…> in each reader's time zone; the part after | is the fallback.
    if not ns:
        return ""
    seconds = ns // 1_000_000_000
    fallback = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(seconds))
    return f"{word} <!date^{seconds}^{{date_short_pretty}} {{time}}|{fallback}>"


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": _escape(text)}]}


def _code(text: str) -> str:
    # Inline code cannot hold a backtick: one in a label value would end it early.
    return "`" + _escape(text).replace("`", "'") + "`"


def _escape(text: str) -> str:
    # The three characters Slack's mrkdwn reserves (api.slack.com/reference/surfaces/formatting).
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


@dataclass(kw_only=True)
class SlackNotifier:
    """Posts to a Slack incoming-webhook URL (a secret: keep it in ``${SLACK_WEBHOOK_URL}``).

    >>> SlackNotifier(name="team", url="https://hooks.slack.com/services/T/B/x")
    SlackNotifier(name='team', timeout=10.0, type='slack')
    """

    name: str
    url: str = field(repr=False)
    timeout: float = 10.0
    type: str = field(default="slack", init=False)

    async def send(self, notification: Notification) -> None:
        """Deliver one notification (one attempt)."""
        body = json.dumps(message(notification), ensure_ascii=False).encode()
        await post(
            self.url,
            body,
            {"Content-Type": "application/json; charset=utf-8"},
            timeout=self.timeout,
        )


def from_options(name: str, options: Options) -> SlackNotifier:
    """Build from the rules file's options: url, timeout."""
    return SlackNotifier(name=name, url=options.url("url"), timeout=options.number("timeout", 10.0))
