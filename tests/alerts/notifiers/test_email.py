"""The email notifier against a real SMTP server (aiosmtpd): plain, STARTTLS and implicit TLS
with a throw-away CA made here with ``cryptography``, login, and the failures."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import ssl
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from tests.alerts.notifiers.conftest import NOW, free_port, make_alert, make_notification

from watchkeeper.alerts.model import DeliveryError
from watchkeeper.alerts.notifiers.email import EmailNotifier


@dataclass
class Certs:
    ca: Path
    """The CA a client trusts (PEM)."""
    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, self.key)
        return context


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    """A CA and a certificate for 127.0.0.1 signed by it, valid for an hour."""
    folder = tmp_path_factory.mktemp("certs")
    now = datetime.datetime.now(datetime.UTC)

    def issue(subject: str, key: Any, issuer: x509.Name, signer: Any, ca: bool) -> x509.Certificate:
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(issuer)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if ca:
            builder = builder.add_extension(
                x509.KeyUsage(False, False, False, False, False, True, True, False, False),
                critical=True,
            ).add_extension(
                x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
            )
        else:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False,
            ).add_extension(
                x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
            )
        return builder.sign(signer, hashes.SHA256())

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "watchkeeper test CA")])
    ca_cert = issue("watchkeeper test CA", ca_key, ca_name, ca_key, ca=True)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = issue("127.0.0.1", key, ca_name, ca_key, ca=False)
    paths = Certs(folder / "ca.pem", folder / "cert.pem", folder / "key.pem")
    paths.ca.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    paths.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return paths


@dataclass
class Mailbox:
    """What the SMTP server received."""

    port: int
    messages: list[tuple[str, list[str], EmailMessage, bool]] = field(default_factory=list)
    """(envelope sender, envelope recipients, message, whether the session was TLS)."""
    logins: list[str] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = message_from_bytes(envelope.content, _class=EmailMessage, policy=policy.default)
        tls = session.ssl is not None and bool(session.ssl)
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), message, tls))
        return "250 Message accepted for delivery"

    def authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        if isinstance(data, LoginPassword) and (data.login, data.password) == (b"alerts", b"pa55"):
            self.logins.append(data.login.decode())
            return AuthResult(success=True)
        return AuthResult(success=False, handled=False)


@pytest.fixture
def smtp_server() -> Iterator[Callable[..., Mailbox]]:
    """Starts aiosmtpd Controllers on free ports of 127.0.0.1 (port 0 does not work with it)."""
    controllers: list[Controller] = []

    def start(**kwargs: Any) -> Mailbox:
        mailbox = Mailbox(free_port())
        controller = Controller(
            mailbox,
            hostname="127.0.0.1",
            port=mailbox.port,
            authenticator=mailbox.authenticate,
            **kwargs,
        )
        controller.start()
        controllers.append(controller)
        return mailbox

    yield start
    for controller in controllers:
        controller.stop()


def notifier(port: int, **options: Any) -> EmailNotifier:
    return EmailNotifier(
        name="oncall",
        host="127.0.0.1",
        port=port,
        sender="watchkeeper <alerts@example.test>",
        to=("oncall@example.test", "lead@example.test"),
        timeout=5,
        **options,
    )


def send(mail: EmailNotifier, *alerts: Any) -> None:
    asyncio.run(mail.send(make_notification(*alerts)))


def parts(message: EmailMessage) -> tuple[str, str]:
    """The text and HTML parts of a message."""
    assert message.get_content_type() == "multipart/alternative"
    text = message.get_body(("plain",))
    markup = message.get_body(("html",))
    assert text is not None and markup is not None
    return text.get_content(), markup.get_content()


def test_plain_smtp_delivers_both_parts(smtp_server: Callable[..., Mailbox]) -> None:
    """Over plain SMTP, the message reaches every recipient with the Alertmanager-style subject,
    a text part and an HTML part."""
    mailbox = smtp_server()
    send(notifier(mailbox.port, tls="none"), make_alert(), make_alert(labels={"route": "/chat"}))

    [(sender, recipients, message, tls)] = mailbox.messages
    assert sender == "alerts@example.test"
    assert recipients == ["oncall@example.test", "lead@example.test"]
    assert not tls
    assert message["Subject"] == "[FIRING:2] HighErrorRate (prod api)"
    assert message["From"] == "watchkeeper <alerts@example.test>"
    assert message["To"] == "oncall@example.test, lead@example.test"
    assert message["Message-ID"].endswith("@example.test>")
    text, markup = parts(message)
    assert "Firing (2)" in text
    assert "- HighErrorRate  value 0.12, since" in text
    assert "env=prod route=/chat service=api" in text
    assert "Open in watchkeeper: http://127.0.0.1:8000" in text
    assert "<h3" in markup and "Firing (2)" in markup
    assert 'href="http://127.0.0.1:8000/alerts/rules/high-error-rate"' in markup


def test_resolved_mail_and_html_escaping(smtp_server: Callable[..., Mailbox]) -> None:
    """A resolved mail says RESOLVED with how long it fired; label values are escaped in HTML
    and cannot break the subject line."""
    mailbox = smtp_server()
    alert = make_alert(
        labels={"route": "<script>x</script>", "note": "a\nb"},
        starts_at=NOW - 3600 * 10**9,
        ends_at=NOW,
    )
    send(notifier(mailbox.port, tls="none"), alert)

    [(_, _, message, _)] = mailbox.messages
    assert message["Subject"] == "[RESOLVED] HighErrorRate (prod a b <script>x</script> api)"
    text, markup = parts(message)
    assert "Resolved (1)" in text and "after 1h" in text
    assert "<script>" not in markup
    assert "&lt;script&gt;" in markup


def test_starttls_with_login(smtp_server: Callable[..., Mailbox], certs: Certs) -> None:
    """tls: starttls upgrades the connection (the server requires it) and logs in."""
    mailbox = smtp_server(
        tls_context=certs.server_context(), require_starttls=True, auth_required=True
    )
    send(
        notifier(
            mailbox.port, tls="starttls", username="alerts", password="pa55", ca_file=str(certs.ca)
        ),
        make_alert(),
    )

    [(_, _, message, tls)] = mailbox.messages
    assert tls
    assert mailbox.logins == ["alerts"]
    assert message["Subject"].startswith("[FIRING:1] HighErrorRate")


def test_implicit_tls_with_login(smtp_server: Callable[..., Mailbox], certs: Certs) -> None:
    """tls: ssl speaks TLS from the first byte and logs in."""
    # aiosmtpd only counts STARTTLS as encryption for AUTH (and warns when AUTH is required
    # without it); this whole session is TLS, so AUTH is offered without STARTTLS.
    mailbox = smtp_server(ssl_context=certs.server_context(), auth_require_tls=False)
    send(
        notifier(
            mailbox.port, tls="ssl", username="alerts", password="pa55", ca_file=str(certs.ca)
        ),
        make_alert(),
    )

    assert len(mailbox.messages) == 1
    assert mailbox.logins == ["alerts"]


def test_untrusted_certificate_is_refused(
    smtp_server: Callable[..., Mailbox], certs: Certs
) -> None:
    """Without the CA, the server's certificate is not trusted: DeliveryError, nothing sent."""
    mailbox = smtp_server(ssl_context=certs.server_context())
    with pytest.raises(DeliveryError, match="CERTIFICATE_VERIFY_FAILED"):
        send(notifier(mailbox.port, tls="ssl"), make_alert())
    assert mailbox.messages == []


def test_starttls_never_falls_back_to_clear(smtp_server: Callable[..., Mailbox]) -> None:
    """A server without STARTTLS is refused, not written to in clear."""
    mailbox = smtp_server()
    with pytest.raises(DeliveryError, match="does not offer STARTTLS"):
        send(notifier(mailbox.port, tls="starttls"), make_alert())
    assert mailbox.messages == []


def test_wrong_password(smtp_server: Callable[..., Mailbox], certs: Certs) -> None:
    """A refused login is a DeliveryError with the server's reply code."""
    mailbox = smtp_server(tls_context=certs.server_context(), auth_required=True)
    mail = notifier(
        mailbox.port, tls="starttls", username="alerts", password="wrong", ca_file=str(certs.ca)
    )
    with pytest.raises(DeliveryError, match="535"):
        send(mail, make_alert())
    assert mailbox.messages == []


def test_unreachable_server() -> None:
    """Nobody listening is a DeliveryError naming the server."""
    port = free_port()
    with pytest.raises(DeliveryError, match=f"smtp://127.0.0.1:{port}: ConnectionRefusedError"):
        send(notifier(port, tls="none"), make_alert())
