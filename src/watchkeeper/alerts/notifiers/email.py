"""Email over SMTP: a text and an HTML part, the subject as Alertmanager writes it.

The stdlib ``smtplib`` runs in a worker thread (``asyncio.to_thread``): no async SMTP client
is a dependency of ours, a notification is one short conversation, and smtplib has done TLS,
STARTTLS and AUTH for decades. ``tls`` is ``ssl`` (implicit TLS, port 465), ``starttls``
(the default, port 587; refuses to go on in clear if the server does not offer it) or ``none``
(port 25, for a relay on the same host or network; no password then).
"""

from __future__ import annotations

import asyncio
import html
import smtplib
import ssl
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from pathlib import Path
from typing import Final, Literal, cast

from watchkeeper.alerts.model import Alert, DeliveryError, Notification
from watchkeeper.alerts.notifiers.message import (
    alert_status,
    duration_text,
    firing,
    label_pairs,
    resolved,
    summary,
    title,
    value_text,
)
from watchkeeper.alerts.notifiers.options import Options

Tls = Literal["none", "starttls", "ssl"]
PORTS: Final[dict[str, int]] = {"none": 25, "starttls": 587, "ssl": 465}
_COLOURS: Final = {"firing": "#d13438", "resolved": "#2eb67d"}


def compose(notification: Notification, sender: str, to: tuple[str, ...]) -> EmailMessage:
    """The message for a notification: subject, a text part and an HTML alternative.

    >>> from watchkeeper.alerts.model import Notification
    >>> compose(Notification("mail", "g", "resolved", ()), "a@x.test", ("b@x.test",))["Subject"]
    '[RESOLVED]'
    """
    msg = EmailMessage()
    # Header values must not hold line breaks; a label value could.
    msg["Subject"] = " ".join(title(notification).split())
    msg["From"] = sender
    msg["To"] = ", ".join(to)
    msg["Date"] = format_datetime(datetime.now(UTC))
    msg["Message-ID"] = make_msgid(domain=parseaddr(sender)[1].rpartition("@")[2] or None)
    msg.set_content(text_body(notification))
    msg.add_alternative(html_body(notification), subtype="html")
    return msg


def text_body(notification: Notification) -> str:
    """The plain-text part: the firing alerts, then the resolved ones, then a link."""
    lines = [title(notification)]
    if notification.escalation:
        lines.append(f"Escalation step {notification.escalation}: not acknowledged yet")
    for heading, alerts in (("Firing", firing(notification)), ("Resolved", resolved(notification))):
        if not alerts:
            continue
        lines += ["", f"{heading} ({len(alerts)})"]
        for alert in alerts:
            lines.append(f"- {alert.rule}  {_when(alert)}")
            lines += [f"  {line}" for line in _details(alert, with_link=True)]
    if notification.external_url:
        lines += ["", f"Open in watchkeeper: {notification.external_url}"]
    return "\n".join(lines) + "\n"


def html_body(notification: Notification) -> str:
    """The HTML part: the same content, with the status in colour (inline styles: mail clients
    drop style sheets)."""
    e = html.escape
    colour = _COLOURS[notification.status]
    out = [
        '<!doctype html><html><body style="font-family:sans-serif;font-size:14px">',
        f'<h2 style="color:{colour};margin:0 0 8px">{e(title(notification))}</h2>',
    ]
    if notification.escalation:
        out.append(f"<p><b>Escalation step {notification.escalation}</b>: not acknowledged yet</p>")
    for heading, alerts in (("Firing", firing(notification)), ("Resolved", resolved(notification))):
        if not alerts:
            continue
        out.append(
            f'<h3 style="color:{_COLOURS[alert_status(alerts[0])]}">{heading} ({len(alerts)})</h3>'
        )
        out.append('<table cellpadding="4" style="border-collapse:collapse">')
        for alert in alerts:
            name = e(alert.rule)
            if alert.generator_url:
                name = f'<a href="{e(alert.generator_url)}">{name}</a>'
            details = "<br>".join(e(line) for line in _details(alert, with_link=False))
            out.append(
                f'<tr style="border-top:1px solid #ddd"><td><b>{name}</b><br>{e(_when(alert))}</td>'
                f"<td>{details}</td></tr>"
            )
        out.append("</table>")
    if notification.external_url:
        url = e(notification.external_url)
        out.append(f'<p><a href="{url}">Open in watchkeeper</a></p>')
    out.append("</body></html>")
    return "\n".join(out)


def _when(alert: Alert) -> str:
    if alert_status(alert) == "firing":
        return f"value {value_text(alert.value)}, since {_clock(alert.starts_at)}"
    if not alert.ends_at:
        return "resolved"
    fired = duration_text(alert.ends_at - alert.starts_at)
    return f"resolved at {_clock(alert.ends_at)}, after {fired}"


def _details(alert: Alert, *, with_link: bool) -> list[str]:
    lines = [summary(alert), " ".join(label_pairs(alert.labels))]
    if with_link:
        lines.append(alert.generator_url)
    return [line for line in lines if line]


def _clock(ns: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(ns // 1_000_000_000))


@dataclass(kw_only=True)
class EmailNotifier:
    """Sends each notification as one email to ``to`` through an SMTP server.

    >>> EmailNotifier(name="oncall", host="smtp.example.test", sender="a@x.test", to=("b@x",)).port
    587
    """

    name: str
    host: str
    port: int = 587
    sender: str
    to: tuple[str, ...]
    tls: Tls = "starttls"
    username: str = ""
    password: str = field(default="", repr=False)
    timeout: float = 10.0
    ca_file: str = ""
    """A PEM file of the CAs to trust instead of the system's (a private mail server)."""
    type: str = field(default="email", init=False)

    async def send(self, notification: Notification) -> None:
        """Deliver one notification (one attempt)."""
        msg = compose(notification, self.sender, self.to)
        await asyncio.to_thread(self._deliver, msg)

    def _deliver(self, msg: EmailMessage) -> None:
        where = f"smtp://{self.host}:{self.port}"
        try:
            with self._connect() as smtp:
                if self.username:
                    smtp.login(self.username, self.password)
                # Recipients refused while others accepted are not an error: a retry would mail
                # the accepted ones twice. All refused raises SMTPRecipientsRefused.
                smtp.send_message(msg, from_addr=parseaddr(self.sender)[1], to_addrs=list(self.to))
        except smtplib.SMTPNotSupportedError:
            raise DeliveryError(f"{where}: the server does not offer STARTTLS") from None
        except smtplib.SMTPResponseException as exc:
            reply = (
                exc.smtp_error.decode("utf-8", "replace")
                if isinstance(exc.smtp_error, bytes)
                else str(exc.smtp_error)
            )
            raise DeliveryError(f"{where}: {exc.smtp_code} {reply}") from None
        except smtplib.SMTPRecipientsRefused as exc:
            raise DeliveryError(
                f"{where}: every recipient was refused: {sorted(exc.recipients)}"
            ) from None
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryError(f"{where}: {type(exc).__name__}: {exc}") from None

    def _connect(self) -> smtplib.SMTP:
        if self.tls == "ssl":
            return smtplib.SMTP_SSL(
                self.host, self.port, timeout=self.timeout, context=self._context()
            )
        smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        try:
            if self.tls == "starttls":
                smtp.ehlo()
                smtp.starttls(context=self._context())
                smtp.ehlo()
        except BaseException:
            smtp.close()
            raise
        return smtp

    def _context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.ca_file or None)


def from_options(name: str, options: Options) -> EmailNotifier:
    """Build from the rules file's options: host, port, tls, username, password, from, to,
    timeout, ca_file."""
    tls = options.choice("tls", ("none", "starttls", "ssl"), "starttls")
    host = options.string("host")
    port = options.integer("port", PORTS[tls], minimum=1)
    if port > 65535:
        raise ValueError("port: must be at most 65535")
    username = options.string("username", "")
    password = options.string("password", "")
    if username and not password:
        raise ValueError("password: is required when username is set")
    if password and not username:
        raise ValueError("username: is required when password is set")
    if username and tls == "none":
        raise ValueError("username: tls none would send the password in clear; use starttls or ssl")
    sender = _address("from", options.string("from"))
    to = tuple(_address(f"to[{i}]", a) for i, a in enumerate(options.strings("to")))
    ca_file = options.string("ca_file", "")
    if ca_file and not Path(ca_file).is_file():
        raise ValueError(f"ca_file: no such file: {ca_file}")
    return EmailNotifier(
        name=name,
        host=host,
        port=port,
        tls=cast(Tls, tls),  # choice() checked it
        username=username,
        password=password,
        sender=sender,
        to=to,
        timeout=options.number("timeout", 10.0),
        ca_file=ca_file,
    )


def _address(field_name: str, value: str) -> str:
    address = parseaddr(value)[1]
    local, _, domain = address.rpartition("@")
    if (
        not local
        or ("." not in domain and domain != "localhost")
        or any(c in value for c in "\r\n")
    ):
        raise ValueError(f"{field_name}: must be an email address, not {value!r}")
    return value.strip()
