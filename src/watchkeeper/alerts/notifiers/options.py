"""A channel's options as written in the rules file, read and checked one field at a time.

Every error is a ``ValueError`` whose message starts with the field's name (``"url: must be an
http(s) URL"``), so the rules-file loader can point at the file's line and field. String values
may name environment variables as ``${NAME}``: rules files live in git, secrets do not.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

_ENV_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def expand_env(field: str, value: str, environ: Mapping[str, str] | None = None) -> str:
    """Replace each ``${NAME}`` in ``value`` with the environment variable ``NAME``.

    An unset variable is an error rather than an empty string: a webhook URL that silently lost
    its token would fail at 3 a.m. instead of at start-up. Any other ``$`` is left as it is.

    >>> expand_env("url", "https://hooks.slack.com/services/${TOKEN}", {"TOKEN": "T1/B2/x"})
    'https://hooks.slack.com/services/T1/B2/x'
    """
    env = os.environ if environ is None else environ

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in env:
            raise ValueError(f"{field}: environment variable {name} is not set")
        return env[name]

    return _ENV_VAR.sub(substitute, value)


class Options:
    """Reads the options of one channel; :meth:`done` rejects the fields nobody asked for.

    >>> opts = Options({"url": "http://127.0.0.1:9/hook", "timeout": 5})
    >>> opts.url("url"), opts.number("timeout", 10.0), opts.done()
    ('http://127.0.0.1:9/hook', 5.0, None)
    """

    def __init__(self, raw: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> None:
        if not isinstance(raw, Mapping):
            raise ValueError(f"options: must be a mapping, not {_kind(raw)}")
        for key in raw:
            if not isinstance(key, str):
                raise ValueError(f"{key!r}: option names must be strings")
        self._raw = raw
        self._environ = environ
        self._read: set[str] = set()

    def __contains__(self, field: str) -> bool:
        return field in self._raw

    def _get(self, field: str) -> Any:
        self._read.add(field)
        return self._raw.get(field)

    def _expand(self, field: str, value: Any) -> str:
        if not isinstance(value, str):
            raise ValueError(f"{field}: must be a string, not {_kind(value)}")
        return expand_env(field, value, self._environ)

    def string(self, field: str, default: str | None = None) -> str:
        """A string (``${NAME}`` expanded); required when there is no default."""
        value = self._get(field)
        if value is None:
            if default is None:
                raise ValueError(f"{field}: is required")
            return default
        text = self._expand(field, value)
        if default is None and not text.strip():
            raise ValueError(f"{field}: must not be empty")
        return text

    def choice(self, field: str, choices: tuple[str, ...], default: str) -> str:
        """One of ``choices``."""
        value = self.string(field, default)
        if value not in choices:
            raise ValueError(f"{field}: must be one of {', '.join(choices)}, not {value!r}")
        return value

    def url(self, field: str, value: Any = None) -> str:
        """A required http(s) URL with a host."""
        text = self.string(field) if value is None else self._expand(field, value)
        return check_url(field, text)

    def urls(self, field: str) -> tuple[str, ...]:
        """One URL or a non-empty list of them."""
        value = self._get(field)
        if value is None:
            raise ValueError(f"{field}: is required")
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list) or not items:
            raise ValueError(f"{field}: must be a URL or a non-empty list of URLs")
        return tuple(
            check_url(f"{field}[{i}]", self._expand(f"{field}[{i}]", item))
            for i, item in enumerate(items)
        )

    def strings(self, field: str) -> tuple[str, ...]:
        """One string or a non-empty list of them (email recipients)."""
        value = self._get(field)
        if value is None:
            raise ValueError(f"{field}: is required")
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list) or not items:
            raise ValueError(f"{field}: must be a string or a non-empty list of strings")
        result = tuple(self._expand(f"{field}[{i}]", item).strip() for i, item in enumerate(items))
        for i, item in enumerate(result):
            if not item:
                raise ValueError(f"{field}[{i}]: must not be empty")
        return result

    def number(self, field: str, default: float, *, minimum: float = 0.0) -> float:
        """A finite number above ``minimum`` (seconds, for timeouts)."""
        value = self._get(field)
        if value is None:
            return default
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            raise ValueError(f"{field}: must be a number, not {_kind(value)}")
        if value <= minimum:
            raise ValueError(f"{field}: must be greater than {minimum:g}")
        return float(value)

    def integer(self, field: str, default: int, *, minimum: int = 0) -> int:
        """A whole number at least ``minimum``."""
        value = self._get(field)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{field}: must be a whole number, not {_kind(value)}")
        if value < minimum:
            raise ValueError(f"{field}: must be at least {minimum}")
        return value

    def headers(self, field: str) -> dict[str, str]:
        """A mapping of HTTP header names to string values (``${NAME}`` expanded)."""
        value = self._get(field)
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            raise ValueError(f"{field}: must be a mapping of header names to values")
        result: dict[str, str] = {}
        for name, item in value.items():
            if not isinstance(name, str) or not _HEADER_NAME.fullmatch(name):
                raise ValueError(f"{field}: {name!r} is not a valid header name")
            text = self._expand(f"{field}.{name}", item)
            if "\r" in text or "\n" in text:
                raise ValueError(f"{field}.{name}: must not contain line breaks")
            if not text.isascii():
                raise ValueError(f"{field}.{name}: must be ASCII (HTTP header values are)")
            result[name] = text
        return result

    def done(self) -> None:
        """Reject the fields that were not read: a typo must not be silently ignored."""
        unknown = sorted(set(self._raw) - self._read)
        if unknown:
            known = ", ".join(sorted(self._read))
            raise ValueError(f"{unknown[0]}: unknown option (known: {known})")


# RFC 9110 §5.6.2 token characters.
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


def check_url(field: str, value: str) -> str:
    """``value`` if it is an http(s) URL with a host.

    >>> check_url("url", "ftp://example.com")
    Traceback (most recent call last):
    ValueError: url: must be an http(s) URL, not 'ftp://example.com'
    """
    parts = urlsplit(value.strip())
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ValueError(f"{field}: must be an http(s) URL, not {_redact(value)!r}")
    return value.strip()


def _redact(url: str) -> str:
    # URLs can carry secrets (Slack's token is its path; user:password@host), and this message
    # ends up in logs and the UI: show the scheme and host only.
    parts = urlsplit(url)
    if not parts.netloc:
        return url if len(url) <= 16 else url[:12] + "…"
    if parts.path.strip("/") or parts.username or parts.password or parts.query:
        return f"{parts.scheme}://{parts.hostname or ''}/…"
    return url


def _kind(value: object) -> str:
    return {dict: "a mapping", list: "a list", bool: "a boolean", type(None): "null"}.get(
        type(value), type(value).__name__
    )
