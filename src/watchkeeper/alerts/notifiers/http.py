"""One HTTP POST for the HTTP channels (webhook, Slack, Alertmanager), failures as DeliveryError.

One attempt only: the policy retries and records every attempt (alerts/model.py). A client is
made per delivery: notifications are rare (minutes apart), the Notifier protocol has no
``close``, and a pooled client would be tied to the event loop it was first used on.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit

import httpx

from watchkeeper import __version__
from watchkeeper.alerts.model import DeliveryError
from watchkeeper.sdk.transport import parse_retry_after

USER_AGENT = f"watchkeeper/{__version__}"


async def post(
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    *,
    timeout: float,  # noqa: ASYNC109 - httpx applies it to each phase (connect, write, read)
) -> httpx.Response:
    """POST ``body`` to ``url``; return the 2xx response or raise :class:`DeliveryError`
    (with ``retry_after`` from the receiver's ``Retry-After``).

    Usage: ``await post("https://example.test/hook", b"{}", {"Content-Type": "application/json"},
    timeout=10)``.
    """
    sent = {"User-Agent": USER_AGENT, **headers}
    where = where_to(url)
    try:
        async with httpx.AsyncClient(timeout=timeout, follow_redirects=False) as client:
            response = await client.post(url, content=body, headers=sent)
    except httpx.TimeoutException:
        raise DeliveryError(f"{where}: no answer within {timeout:g} s") from None
    except httpx.HTTPError as exc:
        raise DeliveryError(f"{where}: {type(exc).__name__}: {exc}") from None
    if not response.is_success:
        detail = response.text[:300].strip()
        raise DeliveryError(
            f"{where}: HTTP {response.status_code}" + (f": {detail}" if detail else ""),
            retry_after=parse_retry_after(response.headers.get("Retry-After")),
        )
    return response


def where_to(url: str) -> str:
    """The URL's scheme and host, for messages: the rest may be a secret (Slack's token is the
    path, a password can sit before the host).

    >>> where_to("https://hooks.slack.com/services/T0/B0/secret")
    'https://hooks.slack.com'
    """
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    return f"{parts.scheme}://{host}" + (f":{parts.port}" if parts.port else "")
