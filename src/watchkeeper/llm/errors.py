"""Why an LLM call failed, as one of a few kinds the LLM page counts and alerts can name.

Instrumentations say it differently: an ``error.type`` that is a class name
(``openai.RateLimitError``), a status (``429``) or a semconv value (``timeout``), an
``exception.type``, or only the HTTP status of the response. :func:`error_kind` reads all three,
first useful one first.

>>> error_kind("openai.RateLimitError", None, None), error_kind(None, "httpx.ReadTimeout", None)
('rate_limit', 'timeout')
>>> error_kind(None, None, 503), error_kind("_OTHER", None, None), error_kind(None, None, 200)
('server', 'other', None)
"""

from __future__ import annotations

import re
from typing import Any, Final

ERROR_KINDS: Final = frozenset(
    {"rate_limit", "timeout", "connection", "auth", "bad_request", "server", "other"}
)

PATTERNS: Final[tuple[tuple[str, tuple[str, ...]], ...]] = (
    # Checked in order on the name lowercased without separators: timeouts before connection
    # errors (httpx.ConnectTimeout is a timeout), auth before bad requests (InvalidApiKey).
    # Names from the openai and anthropic clients (RateLimitError, APITimeoutError,
    # APIConnectionError, AuthenticationError, PermissionDeniedError, BadRequestError,
    # NotFoundError, UnprocessableEntityError, InternalServerError, OverloadedError), httpx,
    # google-api-core (ResourceExhausted, DeadlineExceeded, ServiceUnavailable) and botocore
    # (ThrottlingException, AccessDeniedException, ValidationException).
    ("timeout", ("timeout", "timedout", "deadlineexceeded")),
    ("rate_limit", ("ratelimit", "toomanyrequests", "resourceexhausted", "throttl", "quota")),
    ("auth", ("auth", "permission", "forbidden", "accessdenied", "apikey", "credential")),
    ("connection", ("connect", "network", "remoteprotocol", "dns", "socket", "unreachable")),
    ("bad_request", (
        "badrequest", "invalid", "notfound", "unprocessable", "validation", "contextlength",
        "conflict", "toolarge", "unsupported",
    )),
    ("server", (
        "internalserver", "servererror", "unavailable", "overloaded", "badgateway", "internal",
    )),
)  # fmt: skip
"""Kinds and the fragments of an error's type name that mean them."""

_SEPARATORS: Final = re.compile(r"[\s._\-:/]+")


def status_kind(status: int) -> str | None:
    """The kind of an HTTP status: None below 400.

    >>> status_kind(429), status_kind(504), status_kind(404)
    ('rate_limit', 'timeout', 'bad_request')
    """
    if status < 400:
        return None
    if status == 429:
        return "rate_limit"
    if status in (408, 504):
        return "timeout"
    if status in (401, 403):
        return "auth"
    return "bad_request" if status < 500 else "server"


def _name_kind(name: Any) -> str | None:
    """The kind an error's type name or status means; None for no name (or a status < 400)."""
    if isinstance(name, bool) or name is None:
        return None
    text = str(name).strip()
    if text.isdigit():
        return status_kind(int(text))
    squashed = _SEPARATORS.sub("", text.lower())
    if text in ERROR_KINDS or not squashed:
        return text if squashed else None
    return next(
        (kind for kind, fragments in PATTERNS if any(part in squashed for part in fragments)),
        "other",
    )


def error_kind(error_type: Any, exception_type: Any, http_status: Any) -> str | None:
    """The kind of a failed call from its ``error.type``, ``exception.type`` and HTTP status,
    the first that names a known kind winning; ``other`` when only unknown names say it failed;
    None when nothing does."""
    numeric = isinstance(http_status, int | str) and str(http_status).isdigit()
    status = http_status if numeric else None
    kinds = (_name_kind(error_type), _name_kind(exception_type), _name_kind(status))
    for kind in kinds:
        if kind is not None and kind != "other":
            return kind
    return "other" if "other" in kinds else None
