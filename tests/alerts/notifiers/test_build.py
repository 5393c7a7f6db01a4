"""build(): a channel as written in the rules file becomes a notifier; bad options raise a
ValueError starting with the field's name; ``${NAME}`` comes from the environment."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from typing import Any

import pytest
from tests.alerts.notifiers.conftest import Receiver, make_notification

from watchkeeper.alerts.notifiers import TYPES, build
from watchkeeper.alerts.notifiers.alertmanager import AlertmanagerNotifier
from watchkeeper.alerts.notifiers.email import EmailNotifier
from watchkeeper.alerts.notifiers.slack import SlackNotifier
from watchkeeper.alerts.notifiers.webhook import WebhookNotifier

MAIL = {"host": "smtp.example.test", "from": "alerts@example.test", "to": "oncall@example.test"}


def test_types() -> None:
    """The four channel types of R-AL2 are the supported ones."""
    assert TYPES == ("alertmanager", "email", "slack", "webhook")


def test_minimal_channels() -> None:
    """Each type builds from its required options with documented defaults."""
    hook = build("ops", "webhook", {"url": "https://example.test/hook"})
    assert isinstance(hook, WebhookNotifier)
    assert (hook.name, hook.type, hook.timeout, hook.secret, hook.max_alerts) == (
        "ops",
        "webhook",
        10.0,
        "",
        0,
    )
    slack = build("team", "slack", {"url": "https://hooks.slack.com/services/T/B/x"})
    assert isinstance(slack, SlackNotifier) and slack.type == "slack"
    mail = build("oncall", "email", MAIL)
    assert isinstance(mail, EmailNotifier)
    assert (mail.tls, mail.port, mail.to, mail.sender) == (
        "starttls",
        587,
        ("oncall@example.test",),
        "alerts@example.test",
    )
    manager = build("am", "alertmanager", {"url": ["http://am1:9093", "http://am2:9093/"]})
    assert isinstance(manager, AlertmanagerNotifier)
    assert manager.endpoints() == ["http://am1:9093/api/v2/alerts", "http://am2:9093/api/v2/alerts"]


def test_full_options() -> None:
    """Every option is read into the notifier."""
    hook = build(
        "ops",
        "webhook",
        {
            "url": "http://127.0.0.1:9/h",
            "secret": "s",
            "headers": {"X-Team": "llm"},
            "timeout": 2.5,
            "max_alerts": 20,
        },
    )
    assert isinstance(hook, WebhookNotifier)
    assert (hook.secret, hook.headers, hook.timeout, hook.max_alerts) == (
        "s",
        {"X-Team": "llm"},
        2.5,
        20,
    )
    mail = build(
        "oncall",
        "email",
        {
            **MAIL,
            "tls": "ssl",
            "username": "u",
            "password": "p",
            "to": ["a@x.test", "b@x.test"],
            "timeout": 3,
        },
    )
    assert isinstance(mail, EmailNotifier)
    assert (mail.port, mail.username, mail.password, mail.to, mail.timeout) == (
        465,
        "u",
        "p",
        ("a@x.test", "b@x.test"),
        3.0,
    )
    relay = build("oncall", "email", {**MAIL, "tls": "none"})
    assert isinstance(relay, EmailNotifier) and relay.port == 25


@pytest.mark.parametrize(
    ("type_", "options", "message"),
    [
        (
            "pagerduty",
            {},
            "type: unknown channel type 'pagerduty' (one of: alertmanager, email, slack, webhook)",
        ),
        ("webhook", [], "options: must be a mapping"),
        ("webhook", {}, "url: is required"),
        ("webhook", {"url": "ftp://example.test"}, "url: must be an http(s) URL"),
        ("webhook", {"url": "https://"}, "url: must be an http(s) URL"),
        ("webhook", {"url": 42}, "url: must be a string, not int"),
        ("webhook", {"url": "http://h/x", "timeout": 0}, "timeout: must be greater than 0"),
        ("webhook", {"url": "http://h/x", "timeout": "10s"}, "timeout: must be a number, not str"),
        (
            "webhook",
            {"url": "http://h/x", "timeout": True},
            "timeout: must be a number, not a boolean",
        ),
        ("webhook", {"url": "http://h/x", "max_alerts": -1}, "max_alerts: must be at least 0"),
        ("webhook", {"url": "http://h/x", "headers": ["X: y"]}, "headers: must be a mapping"),
        (
            "webhook",
            {"url": "http://h/x", "headers": {"Bad Name": "y"}},
            "headers: 'Bad Name' is not a valid header name",
        ),
        (
            "webhook",
            {"url": "http://h/x", "headers": {"X-A": "y\r\nX-B: z"}},
            "headers.X-A: must not contain line breaks",
        ),
        (
            "webhook",
            {"url": "http://h/x", "headers": {"X-A": "café"}},
            "headers.X-A: must be ASCII",
        ),
        (
            "webhook",
            {"url": "http://h/x", "secrt": "s"},
            "secrt: unknown option (known: headers, max_alerts, secret, timeout, url)",
        ),
        (
            "slack",
            {"url": "https://hooks.slack.com/services/T/B/x", "channel": "#ops"},
            "channel: unknown option",
        ),
        ("email", {**MAIL, "tls": "tls"}, "tls: must be one of none, starttls, ssl, not 'tls'"),
        ("email", {**MAIL, "port": 70000}, "port: must be at most 65535"),
        ("email", {**MAIL, "port": 0}, "port: must be at least 1"),
        ("email", {k: v for k, v in MAIL.items() if k != "host"}, "host: is required"),
        ("email", {**MAIL, "host": " "}, "host: must not be empty"),
        ("email", {**MAIL, "username": "u"}, "password: is required when username is set"),
        ("email", {**MAIL, "password": "p"}, "username: is required when password is set"),
        (
            "email",
            {**MAIL, "tls": "none", "username": "u", "password": "p"},
            "username: tls none would send the password in clear",
        ),
        ("email", {**MAIL, "from": "alerts"}, "from: must be an email address"),
        ("email", {**MAIL, "to": ["a@x.test", "nobody"]}, "to[1]: must be an email address"),
        ("email", {**MAIL, "to": []}, "to: must be a string or a non-empty list"),
        ("email", {**MAIL, "ca_file": "/nonexistent/ca.pem"}, "ca_file: no such file"),
        ("alertmanager", {"url": []}, "url: must be a URL or a non-empty list of URLs"),
        ("alertmanager", {"url": ["http://am:9093", "am2:9093"]}, "url[1]: must be an http(s) URL"),
    ],
)
def test_bad_options(type_: str, options: Any, message: str) -> None:
    """A bad option raises ValueError whose message starts with the field's name."""
    with pytest.raises(ValueError) as caught:
        build("ch", type_, options)
    assert str(caught.value).startswith(message)


def test_secrets_are_not_shown() -> None:
    """Errors and reprs do not show a secret URL path, password or signing secret."""
    with pytest.raises(ValueError) as caught:
        build("team", "slack", {"url": "hooks.slack.com/services/T0/B0/tokenvalue"})
    assert "tokenvalue" not in str(caught.value)
    slack = build("team", "slack", {"url": "https://hooks.slack.com/services/T0/B0/tokenvalue"})
    hook = build("ops", "webhook", {"url": "https://example.test/h", "secret": "hmac-key"})
    mail = build("m", "email", {**MAIL, "username": "u", "password": "pass-word"})
    assert "tokenvalue" not in repr(slack)
    assert "hmac-key" not in repr(hook)
    assert "pass-word" not in repr(mail)


def test_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    """${NAME} in string options, lists and header values comes from the environment."""
    monkeypatch.setenv("WK_TEST_SLACK", "https://hooks.slack.com/services/T/B/x")
    monkeypatch.setenv("WK_TEST_TOKEN", "abc")
    monkeypatch.setenv("WK_TEST_TEAM", "oncall")
    slack = build("team", "slack", {"url": "${WK_TEST_SLACK}"})
    assert (
        isinstance(slack, SlackNotifier) and slack.url == "https://hooks.slack.com/services/T/B/x"
    )
    hook = build(
        "ops",
        "webhook",
        {
            "url": "https://example.test/h?t=${WK_TEST_TOKEN}",
            "headers": {"Authorization": "Bearer ${WK_TEST_TOKEN}"},
        },
    )
    assert isinstance(hook, WebhookNotifier)
    assert hook.url == "https://example.test/h?t=abc"
    assert hook.headers == {"Authorization": "Bearer abc"}
    mail = build(
        "m",
        "email",
        {
            **MAIL,
            "to": ["${WK_TEST_TEAM}@example.test"],
            "password": "$not{a var}",
            "username": "u",
        },
    )
    assert isinstance(mail, EmailNotifier)
    assert mail.to == ("oncall@example.test",)
    assert mail.password == "$not{a var}"


def test_missing_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    """An unset variable is an error naming the field and the variable, not an empty string."""
    monkeypatch.delenv("WK_TEST_UNSET", raising=False)
    with pytest.raises(
        ValueError, match=r"^secret: environment variable WK_TEST_UNSET is not set$"
    ):
        build("ops", "webhook", {"url": "https://example.test/h", "secret": "${WK_TEST_UNSET}"})
    with pytest.raises(ValueError, match=r"^headers\.X-Key: environment variable WK_TEST_UNSET"):
        build(
            "ops",
            "webhook",
            {"url": "https://example.test/h", "headers": {"X-Key": "${WK_TEST_UNSET}"}},
        )


def test_built_webhook_signs_with_the_environment_secret(receiver: Receiver) -> None:
    """A webhook built with secret ${NAME} (from an explicit environ) signs with that value."""
    hook = build(
        "ops",
        "webhook",
        {"url": receiver.url + "/h", "secret": "${HOOK_SECRET}"},
        environ={"HOOK_SECRET": "from-env"},
    )
    asyncio.run(hook.send(make_notification()))
    [request] = receiver.wait(1)
    timestamp = request.headers["x-watchkeeper-timestamp"]
    digest = hmac.new(
        b"from-env", timestamp.encode() + b"." + request.body, hashlib.sha256
    ).hexdigest()
    assert request.headers["x-watchkeeper-signature"] == f"sha256={digest}"
