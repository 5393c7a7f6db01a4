from __future__ import annotations

import time

import pytest

from watchkeeper.sdk.redact import (
    REDACTED,
    is_sensitive_key,
    luhn_valid,
    redact_fields,
    redact_text,
    redact_value,
)

JWT = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("key sk-proj-abcdefghijklmnopqrstuvwx1234", "key [REDACTED:key]"),
        ("sk-ant-api03-abcdefghijklmnopqrstuvwxyz012345", "[REDACTED:key]"),
        ("aws AKIAIOSFODNN7EXAMPLE ok", "aws [REDACTED:key] ok"),
        ("ghp_" + "a1" * 18, "[REDACTED:key]"),
        ("github_pat_" + "A" * 30, "[REDACTED:key]"),
        ("xoxb-1234567890-abcdefghij", "[REDACTED:key]"),
        ("AIza" + "B" * 35, "[REDACTED:key]"),
        ("sk_live_" + "c" * 24, "[REDACTED:key]"),
        ("hf_" + "d" * 34, "[REDACTED:key]"),
        ("glpat-" + "e" * 20, "[REDACTED:key]"),
        ("ingest wki_AbCdEfGhIjKlMnOpQrStUvWxYz012345", "ingest [REDACTED:key]"),
        ("read wkr_AbCdEfGhIjKlMnOpQrStUvWxYz012345", "read [REDACTED:key]"),
        (f"token {JWT} end", "token [REDACTED:jwt] end"),
        ("Authorization: Bearer abc.def-123456", "Authorization: [REDACTED]"),
        ("sent Bearer 9f8e7d6c5b4a3210 upstream", "sent Bearer [REDACTED:credential] upstream"),
        ("header Basic dXNlcjpodW50ZXIy", "header Basic [REDACTED:credential]"),
        ("password=hunter2 next", "password=[REDACTED] next"),
        ('{"db_password": "two words", "n": 1}', '{"db_password": [REDACTED], "n": 1}'),
        ("api_key: abc123 x-api-key=zzz", "api_key: [REDACTED] x-api-key=[REDACTED]"),
        ("oauth_token=abc&x=1", "oauth_token=[REDACTED]&x=1"),
        ("client_secret='s3 cr3t'", "client_secret=[REDACTED]"),
        ("Cookie: session=abc; theme=dark", "Cookie: [REDACTED]"),
        ("postgresql://app:hunter2@db:5432/main", "postgresql://app:[REDACTED]@db:5432/main"),
        ("write to bob.smith+tag@mail.example.co.uk now", "write to [REDACTED:email] now"),
        ("visa 4111 1111 1111 1111", "visa [REDACTED:card]"),
        ("mc 5555-5555-5555-4444.", "mc [REDACTED:card]."),
        ("amex 378282246310005", "amex [REDACTED:card]"),
        ("card 4111111111111111 exp 12/26", "card [REDACTED:card] exp 12/26"),
        ("card 4111 1111 1111 1111 12/26", "card [REDACTED:card] 12/26"),
        (
            "-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY----- after",
            "[REDACTED:private_key] after",
        ),
    ],
)
def test_each_pattern_is_redacted(text: str, expected: str) -> None:
    """Provider keys, watchkeeper keys, JWTs, bearer/basic credentials, key=value secrets,
    cookies, URL passwords, emails, Luhn-valid card numbers and private keys are replaced."""
    assert redact_text(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "user signed up plan=pro seats=3",
        "llm done model=gpt-4o tokens=812 max_tokens=1024 input_tokens=700 token_count=5",
        "author: jane, passwordless=true",
        "order 4111111111111112 shipped",  # a card's shape, Luhn fails
        "ts 1732212345678 and 1732212345678901234 ns",  # epoch ms and ns: no card prefix
        "id 9111111111111111 and 0000000000000000",  # Luhn-valid, no issuer starts with 9 or 0
        "long 411111111111111123 number",  # a card prefix inside a longer number
        "trace 4bf92f3577b34da6a3ce929d0e0e4736 span 00f067aa0ba902b7",
        "the Basic information; bearer bonds; basic auth is off",
        "sk-short and AKIA123 and wki_short",
        "email-like text user@localhost and a@b",
        "https://example.com/path?q=1",
        "",
    ],
)
def test_ordinary_text_is_left_alone(text: str) -> None:
    """Usage counts, timestamps, Luhn-failing or prefix-less numbers, ids and prose stay."""
    assert redact_text(text) == text


def test_luhn() -> None:
    """The Luhn check accepts test card numbers and rejects a one-digit change."""
    assert luhn_valid("4111111111111111") and luhn_valid("378282246310005")
    assert not luhn_valid("4111111111111112") and not luhn_valid("378282246310006")


def test_redaction_is_idempotent() -> None:
    """Redacting redacted text changes nothing."""
    once = redact_text("password=x mail a@b.io key sk-" + "a" * 30 + " card 4111111111111111")
    assert redact_text(once) == once


def test_non_ascii_text_is_redacted_at_the_right_place() -> None:
    """Text whose lower-casing changes length (İ) still loses exactly the secret."""
    assert redact_text("İstanbul PASSWORD=Hunter2 ok") == "İstanbul PASSWORD=[REDACTED] ok"


def test_huge_input_stays_linear() -> None:
    """Megabytes of one character or of digits are scanned in well under a second."""
    for blob in ("a@" + "b" * 1_000_000, "k" * 1_000_000, "4" * 1_000_000, "1 " * 500_000):
        started = time.perf_counter()
        assert redact_text(blob) == blob
        assert time.perf_counter() - started < 1.0


@pytest.mark.parametrize(
    "name",
    [
        "password",
        "DB_PASSWORD",
        "passwd",
        "api_key",
        "apiKey",
        "openaiApiKey",
        "X-Api-Key",
        "access_token",
        "refresh_token",
        "X-CSRFToken",
        "Authorization",
        "proxy-authorization",
        "set-cookie",
        "client_secret",
        "aws_secret_access_key",
        "private_key",
        "credentials",
        "card_number",
        "cvv",
        "http.request.header.authorization",
    ],
)
def test_sensitive_keys(name: str) -> None:
    """Names of secrets are recognised whatever their case and separators."""
    assert is_sensitive_key(name)


@pytest.mark.parametrize(
    "name",
    [
        "max_tokens",
        "gen_ai.usage.input_tokens",
        "token_count",
        "tokenizer",
        "author",
        "cache_key",
        "primary_key",
        "key",
        "session_id",
        "user_id",
        "request_id",
        "model",
    ],
)
def test_ordinary_keys(name: str) -> None:
    """Usage counts, ids and ordinary keys are not secrets."""
    assert not is_sensitive_key(name)


def test_fields_redact_by_name_and_by_pattern() -> None:
    """Sensitive names lose their value whatever its type; other strings are scanned."""
    fields = {
        "password": "x",
        "api_key": 1234,
        "token": None,
        "note": "from a@b.io",
        "tags": ["ok", "sk-" + "z" * 24],
        "tokens": 12,
    }
    assert redact_fields(fields) == {
        "password": REDACTED,
        "api_key": REDACTED,
        "token": None,
        "note": "from [REDACTED:email]",
        "tags": ["ok", "[REDACTED:key]"],
        "tokens": 12,
    }
    assert redact_value(3.5) == 3.5
