"""Secrets and personal data found and replaced before anything leaves the process (R-L7).

Two layers, as reference/errors-logging-tracing.md §4.4 describes: values of fields whose *name*
says they hold a secret (``password``, ``api_key``, ``Authorization``…) are replaced whole, and
free text is scanned for what a secret or PII *looks like*: provider keys (``sk-…``, ``AKIA…``,
``ghp_…``, watchkeeper's ``wki_``/``wkr_``), bearer and basic credentials, JWTs, private-key
blocks, passwords in URLs and ``key=value`` pairs, emails, and card numbers that pass the Luhn
check and start like a card (so timestamps and order numbers are left alone).

Each match becomes ``[REDACTED:<kind>]``, so a reader sees that something was removed and what.

>>> redact_text("login bob@example.com with key sk-proj-abcdefghijklmnopqrstuvwx")
'login [REDACTED:email] with key [REDACTED:key]'
>>> is_sensitive_key("X-Api-Key"), is_sensitive_key("max_tokens")
(True, False)
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Final

from watchkeeper.records import AttributeValue

REDACTED: Final = "[REDACTED]"
"""What the value of a sensitive field becomes."""

# Each rule runs only when its trigger (a few substrings of the lower-cased text) is present:
# most log lines trigger none, and a clean line costs about a microsecond. Case-insensitive
# rules match against the lower-cased copy (Python's `(?i)` alternations are ~8x slower) and
# splice into the original, whose positions are the same whenever lowering kept the length.
# Possessive quantifiers and look-behinds keep every pattern linear: a 10 MB base64 blob must
# not make a log line take minutes (`[\w.]+@` retried from every position of a long word is
# quadratic).
_PRIVATE_KEY: Final = re.compile(
    r"-----BEGIN[ A-Z]*PRIVATE KEY-----.*?(?:-----END[ A-Z]*PRIVATE KEY-----|\Z)", re.DOTALL
)
_JWT: Final = re.compile(r"\beyJ[\w-]{4,}+\.eyJ[\w-]{4,}+\.[\w-]*+")
_URL_PASSWORD: Final = re.compile(r"(?<=://)([^\s/:@]++:)[^\s/@]++(?=@)")
# Matched on the lower-cased text where the dict's key occurs: `password=…`,
# `"api_key": "…"`, `Authorization: Bearer …`, cookie headers whole. The key must end with the
# word, so `tokens=812` and `author: x` stay. (Anchored matches at a few `str.find` hits cost a
# fraction of a regex search, which tries every position.)
_SEPARATOR_AND_VALUE: Final = (
    r"""["']?[\t ]*[:=][\t ]*"""
    r"""(?P<value>(?:(?:bearer|basic)[\t ]+)?(?:"[^"\r\n]*+"|'[^'\r\n]*+'|[^\s"'&,;]++))"""
)
_PAIR_AT: Final = {
    word: re.compile(key + _SEPARATOR_AND_VALUE)
    for word, key in (
        ("pass", "pass(?:word|wd|phrase)"),
        ("pwd", "pwd"),
        ("secret", "secret"),
        ("token", "token"),
        (
            "key",
            "(?:(?<=api)|(?<=access)|(?<=private)|(?<=api[_-])|(?<=access[_-])|(?<=private[_-]))key",
        ),
        ("auth", "auth(?:orization)?"),
        ("credential", "credentials?"),
    )
}
_PAIR_AT["cookie"] = re.compile(r"""cookie["']?[\t ]*:[\t ]*(?P<value>[^\r\n]++)""")
_PAIR_ANYWHERE: Final = re.compile(
    "|".join(f"(?:{pattern.pattern})".replace("?P<value>", "") for pattern in _PAIR_AT.values()),
    re.IGNORECASE,
)
_SCHEME: Final = re.compile(r"\b(bearer|basic)[\t ]+([\w.~+/=-]{8,}+)")
_PROVIDER_KEY: Final = re.compile(
    r"\bsk-(?:ant-|proj-|svcacct-|admin-)?[\w-]{20,}+"  # OpenAI, Anthropic
    r"|\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"  # AWS access key ids
    r"|\bgh[pousr]_[A-Za-z0-9]{36,}+|\bgithub_pat_\w{22,}+"  # GitHub
    r"|\bxox[abposr]-[A-Za-z0-9-]{10,}+"  # Slack
    r"|\bAIza[\w-]{35}"  # Google
    r"|\b[rs]k_(?:live|test)_[A-Za-z0-9]{16,}+"  # Stripe
    r"|\bwk[ir]_[\w-]{20,}+"  # watchkeeper ingest keys and read tokens
    r"|\bhf_[A-Za-z0-9]{30,}+"  # Hugging Face
    r"|\bglpat-[\w-]{20,}+"  # GitLab
)
_PROVIDER_WORDS: Final = (
    "sk-",
    "akia",
    "asia",
    "gh",
    "github_pat_",
    "xox",
    "aiza",
    "k_live_",
    "k_test_",
    "wki_",
    "wkr_",
    "hf_",
    "glpat-",
)
_EMAIL: Final = re.compile(
    r"(?<![\w.%+-])[\w.%+-]{1,64}+@[A-Za-z0-9-]++(?:\.[A-Za-z0-9-]++)*\.[A-Za-z]{2,}\b"
)
# The look-behind after the first digit skips the inside of a long number in O(1) per digit.
_CARD: Final = re.compile(r"[2-6](?<![\d-][2-6])(?:[ -]?\d){12,18}+(?!\d)")


def redact_text(text: str) -> str:
    """Replace every secret or PII pattern in ``text`` by ``[REDACTED:<kind>]``; of a
    ``key=value`` pair or a URL's password only the value goes.

    >>> redact_text("password=hunter2 tokens=812 card 4111 1111 1111 1111")
    'password=[REDACTED] tokens=812 card [REDACTED:card]'
    >>> redact_text("order 4111111111111112 at 1732212345678")  # fails Luhn; a timestamp
    'order 4111111111111112 at 1732212345678'
    """
    if text in _clean:
        return text
    original = text
    low = text.lower()
    if "-----begin" in low:
        text = _PRIVATE_KEY.sub("[REDACTED:private_key]", text)
    if "eyj" in low:
        text = _JWT.sub("[REDACTED:jwt]", text)
    if "://" in low:
        text = _URL_PASSWORD.sub(r"\1" + REDACTED, text)
    for word in _PAIR_AT:
        if word in low:
            text = _pairs(text)
            break
    if "bearer" in low or "basic" in low:
        text = _on_lower(text, _SCHEME, _scheme)
    for word in _PROVIDER_WORDS:
        if word in low:
            text = _PROVIDER_KEY.sub("[REDACTED:key]", text)
            break
    if "@" in low:
        text = _EMAIL.sub("[REDACTED:email]", text)
    text = _CARD.sub(_card, text)
    if len(text) <= _CLEAN_LENGTH and text == original:
        if len(_clean) >= _CLEAN_SIZE:
            _clean.clear()
        _clean.add(text)
    return text


# Strings found clean, short ones only: field values and messages repeat ("pro", "gpt-4o",
# "cache miss"), and a set lookup is ~20x cheaper than the scan. Only clean strings are kept,
# so the set never holds a secret.
_CLEAN_LENGTH: Final = 256
_CLEAN_SIZE: Final = 10_000
_clean: set[str] = set()


def _on_lower(
    text: str, pattern: re.Pattern[str], replace: Callable[[str, re.Match[str]], str]
) -> str:
    """Substitute ``pattern``'s matches in the lower-cased text into ``text``."""
    low = text.lower()
    if len(low) != len(text):  # a character lowered into two ("İ"): positions differ
        pattern = re.compile(pattern.pattern, re.IGNORECASE)
        low = text
    pieces: list[str] = []
    last = 0
    for match in pattern.finditer(low):
        pieces += (text[last : match.start()], replace(text, match))
        last = match.end()
    if not pieces:
        return text
    pieces.append(text[last:])
    return "".join(pieces)


def _pairs(text: str) -> str:
    low = text.lower()
    if len(low) != len(text):  # a character lowered into two ("İ"): positions differ
        return _on_lower(text, _PAIR_ANYWHERE, _pair_value)
    values: list[tuple[int, int]] = []
    for word, pattern in _PAIR_AT.items():
        at = low.find(word)
        while at != -1:
            match = pattern.match(low, at)
            if match is not None:
                values.append(match.span("value"))
            at = low.find(word, at + 1)
    if not values:
        return text
    pieces: list[str] = []
    last = 0
    for start, end in sorted(values):
        if start >= last:  # "auth" inside "authorization" finds the same value twice
            pieces += (text[last:start], REDACTED)
            last = end
    pieces.append(text[last:])
    return "".join(pieces)


def _pair_value(text: str, match: re.Match[str]) -> str:
    value = match.lastindex or 0
    return text[match.start() : match.start(value)] + REDACTED


def _scheme(text: str, match: re.Match[str]) -> str:
    scheme = text[match.start(1) : match.end(1)] + text[match.end(1) : match.start(2)]
    credential = text[match.start(2) : match.end(2)]
    if match.group(1).lower() == "basic":
        # Basic credentials are base64 of "user:password"; "Basic information" is not.
        try:
            secret = ":" in base64.b64decode(credential, validate=True).decode()
        except ValueError:
            secret = False
    else:
        # An opaque token has a digit or a symbol somewhere; "bearer bonds" has none.
        secret = not credential.isalpha()
    return scheme + "[REDACTED:credential]" if secret else text[match.start() : match.end()]


def _card(match: re.Match[str]) -> str:
    found = match[0]
    at = [index for index, char in enumerate(found) if char.isdigit()]
    # The whole run, or a shorter card number ending at a separator: "4111 1111 1111 1111 12"
    # is a card and its expiry month; "411111111111111123" is one long number, not a card.
    for length in (len(at), 19, 16, 15, 14, 13):
        if 13 <= length <= len(at) and (length == len(at) or found[at[length - 1] + 1] in " -"):
            number = "".join(found[index] for index in at[:length])
            if _card_prefix(number) and luhn_valid(number):
                return "[REDACTED:card]" + found[at[length - 1] + 1 :]
    return found


def _card_prefix(digits: str) -> bool:
    # Issuer ranges (ISO/IEC 7812): Amex/Diners/JCB 3, Visa 4, Mastercard 51-55 and 2221-2720,
    # Discover/Maestro/UnionPay 5-6. Ruling out 0, 1, 7, 8, 9 and most of 2 keeps epoch
    # timestamps (1…) and most ids from being taken for cards.
    first = digits[0]
    if first == "2":
        return 2221 <= int(digits[:4]) <= 2720
    return first in "3456"


def luhn_valid(digits: str) -> bool:
    """The Luhn (mod 10) check every payment card number passes.

    >>> luhn_valid("4111111111111111"), luhn_valid("4111111111111112")
    (True, False)
    """
    total = 0
    for index, char in enumerate(reversed(digits)):
        number = ord(char) - 48
        if index % 2:
            number *= 2
            if number > 9:
                number -= 9
        total += number
    return total % 10 == 0


# Words that make a field sensitive wherever they appear in its name, and words that do so only
# as its last part: `token_count` and `max_tokens` are LLM usage figures, `access_token` a secret.
_ANYWHERE: Final = frozenset(
    {
        "password",
        "passwd",
        "pwd",
        "passphrase",
        "secret",
        "secrets",
        "credential",
        "credentials",
        "cookie",
        "cookies",
        "authorization",
        "csrf",
        "xsrf",
        "apikey",
        "privatekey",
        "jwt",
        "bearer",
        "cvv",
        "cvc",
        "cardnumber",
        "ssn",
    }
)
_KEY_QUALIFIERS: Final = frozenset(
    {"api", "access", "secret", "private", "client", "signing", "encryption", "master", "ingest"}
)
_CAMEL: Final = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_SEPARATORS: Final = re.compile(r"[^a-z0-9]+")


@lru_cache(maxsize=4096)
def is_sensitive_key(name: str) -> bool:
    """True when a field called ``name`` likely holds a secret: passwords, tokens, API keys,
    authorization and cookie headers, card numbers. Case, ``camelCase``, ``-`` and ``.`` do not
    matter. Usage counts such as ``max_tokens`` or ``gen_ai.usage.input_tokens`` are not secrets.

    >>> [is_sensitive_key(k) for k in ("openaiApiKey", "db.password", "access_token", "author")]
    [True, True, True, False]
    """
    parts = [part for part in _SEPARATORS.split(_CAMEL.sub("_", name).lower()) if part]
    if not parts:
        return False
    if any(part in _ANYWHERE for part in parts):
        return True
    last = parts[-1]
    if last.endswith("token") or last == "auth":
        return True
    if last == "key" and len(parts) > 1 and parts[-2] in _KEY_QUALIFIERS:
        return True
    return "card" in parts and ("number" in parts or "credit" in parts)


def redact_value(value: AttributeValue) -> AttributeValue:
    """``value`` with :func:`redact_text` applied to a string or to the strings of a list."""
    if type(value) is str:
        return redact_text(value)
    if type(value) is list:
        return [redact_text(item) if type(item) is str else item for item in value]
    return value


def redact_fields(fields: Mapping[str, AttributeValue]) -> dict[str, AttributeValue]:
    """A copy of ``fields`` where the value of every sensitive key is ``[REDACTED]`` and every
    other string is scanned with :func:`redact_text`.

    >>> redact_fields({"api_key": "abc", "note": "mail me: a@b.io", "tokens": 3})
    {'api_key': '[REDACTED]', 'note': 'mail me: [REDACTED:email]', 'tokens': 3}
    """
    return {
        key: REDACTED if value is not None and is_sensitive_key(key) else redact_value(value)
        for key, value in fields.items()
    }
