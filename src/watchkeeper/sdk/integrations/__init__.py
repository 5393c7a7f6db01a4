"""Integrations with web frameworks and clients; this module holds what they share: the span of
a request handled by a server middleware (:class:`ServerRequest`, for asgi.py and wsgi.py).

No integration imports its library at import time: ``import watchkeeper`` must not load httpx,
requests or SQLAlchemy, and a middleware needs nothing of its framework but the ASGI/WSGI shape.
Every hook swallows its own errors: monitoring never breaks a request.
"""

from __future__ import annotations

import logging
import re
from contextvars import Token
from random import getrandbits
from time import perf_counter
from typing import Any, Final

from watchkeeper.sdk import breadcrumbs, metrics
from watchkeeper.sdk.client import DEFAULT, Client
from watchkeeper.sdk.context import bound_fields, request_fields
from watchkeeper.sdk.propagation import Continued, continue_trace, extract, leave_trace
from watchkeeper.sdk.traces import SpanScope

logger = logging.getLogger("watchkeeper")

REQUEST_ID_HEADER: Final = "x-request-id"
# A caller's request id is kept when it looks like an id (a UUID, a ULID, a cloud trace id);
# anything else (too long, spaces, control characters) could forge log lines, so a new one is made.
_REQUEST_ID: Final = re.compile(r"[A-Za-z0-9._:/+=@-]{1,128}")


def new_request_id() -> str:
    """A random request id: 32 hex digits."""
    return getrandbits(128).to_bytes(16, "big").hex()


def warn_once(key: str, exc: BaseException, _seen: set[str] = set()) -> None:  # noqa: B006
    """Log an integration's own error once per kind; the request goes on."""
    if key not in _seen:
        _seen.add(key)
        logger.warning("watchkeeper: %s failed (continuing): %r", key, exc)


class ServerRequest:
    """One request seen by a server middleware, from the moment it arrives to its last byte.

    :meth:`start` continues the caller's trace (``traceparent``), opens the server span, binds
    the request id for logs and counts the request in flight; :meth:`finish` puts the route,
    status, sizes and user on the span, closes it and records the request's metrics. When the
    framework already opened a server span for the request (FastAPI's own OpenTelemetry
    telemetry), that span gets our attributes instead of a second server span being opened.
    """

    __slots__ = (
        "_attached",
        "_bound",
        "_continued",
        "_fields",
        "_holder",
        "_request",
        "_t0",
        "adopted",
        "client",
        "method",
        "path",
        "request_id",
        "span",
    )

    def __init__(
        self,
        client: Client,
        method: str,
        path: str,
        request_id: str | None,
        user_agent: str | None,
        adopted: Any = None,
    ) -> None:
        self.client = client
        self.method = method
        self.path = path
        if request_id is None or not _REQUEST_ID.fullmatch(request_id):
            request_id = new_request_id()
        self.request_id = request_id
        attributes: dict[str, object] = {
            "http.request.method": method,
            "url.path": path,
            "request_id": request_id,
        }
        if user_agent:
            attributes["user_agent.original"] = user_agent
        self.adopted = adopted
        if adopted is not None:
            adopted.set_attributes(attributes)
        self.span = SpanScope(method, attributes, client, "server")

    @staticmethod
    def client_for(client: Client | None) -> Client | None:
        """The client a middleware records to now: its own, else the process default."""
        return client or DEFAULT.client

    def start(self, traceparent: str | None, tracestate: list[str] | None) -> None:
        """Begin the request in the current context (before the app runs)."""
        try:
            metrics.request_started(self.method)
        except Exception as exc:
            warn_once("metrics.request_started", exc)
        self._t0 = perf_counter()
        self._continued: Continued | None = None
        if self.adopted is None:
            remote = extract(traceparent, tracestate)
            if remote is not None:
                self._continued = continue_trace(remote)
            self.span.__enter__()
        self._fields = {**(bound_fields.get() or {}), "request_id": self.request_id}
        self._bound: Token[dict[str, str] | None] = bound_fields.set(self._fields)
        self._holder: dict[str, str] = {}
        self._request = request_fields.set(self._holder)
        self._attached = True

    def user_attributes(self) -> dict[str, str]:
        """The user and session ids the app bound during the request, as span attributes."""
        ids = {}
        for key, name in (("user_id", "user.id"), ("session_id", "session.id")):
            value = self._holder.get(key) or self._fields.get(key)
            if value:
                ids[name] = value
        return ids

    def detach(self) -> None:
        """Give the context back as the request found it; the span stays open until
        :meth:`finish`, which may then run elsewhere."""
        if self._attached:
            self._attached = False
            request_fields.reset(self._request)
            bound_fields.reset(self._bound)
            if self.adopted is None:
                self.span.detach()
            if self._continued is not None:
                leave_trace(self._continued)

    def finish(
        self,
        status: int | None,
        route: str | None,
        request_bytes: int,
        response_bytes: int,
        error: BaseException | None = None,
    ) -> None:
        """End the request (after the app returned or raised)."""
        duration = perf_counter() - self._t0
        code = status if status is not None else 500
        try:
            attributes: dict[str, object] = {
                "http.response.status_code": code,
                "http.route": route or self.path,
                "http.request.body.size": request_bytes,
                "http.response.body.size": response_bytes,
                **self.user_attributes(),
            }
            if self.adopted is None:
                span = self.span
                # OpenTelemetry's HTTP semantic conventions: a server span is named by the
                # route template, never the raw path, and only a 5xx is a server error.
                span.name = f"{self.method} {route}" if route else self.method
                span.set_attributes(attributes)
                if code >= 500:
                    span.set_status("error", f"HTTP {code}")
            elif self.adopted.is_recording():
                self.adopted.set_attributes(attributes)
        except Exception as exc:
            warn_once("the request span", exc)
        try:
            if self.adopted is None:
                tb = None if error is None else error.__traceback__
                self.span.__exit__(None if error is None else type(error), error, tb)
        finally:
            self.detach()
        try:
            # A 404 has no route; its raw path (scanners try thousands) would be one metric
            # series per path, so it is counted under "" instead.
            metric_route = route or ("" if code == 404 else self.path)
            metrics.request_finished(
                self.method, metric_route, code, duration, request_bytes, response_bytes
            )
        except Exception as exc:
            warn_once("metrics.request_finished", exc)


def finish_client_call(
    scope: SpanScope,
    system: str,
    host: str,
    method: str,
    status: int | None,
    error: BaseException | None,
    seconds: float,
) -> None:
    """What every outgoing HTTP integration records when a call ends: the status on its client
    span (a 4xx is an error too, per OpenTelemetry's HTTP conventions for clients), the
    ``outgoing_call`` metric, and a breadcrumb (URL without its query) for later errors."""
    if status is not None:
        scope.set_attribute("http.response.status_code", status)
        if status >= 400:
            scope.set_attribute("error.type", str(status))
            scope.set_status("error", f"HTTP {status}")
    elif error is not None:
        scope.set_attribute("error.type", type(error).__qualname__)
    metrics.outgoing_call(system, host, method, status, seconds)
    url = scope.attributes.get("url.full", "")
    data: dict[str, object] = {
        "http.request.method": method,
        "url.full": url,
        "duration_ms": round(seconds * 1000, 3),
    }
    if status is not None:
        data["http.response.status_code"] = status
    elif error is not None:
        data["error.type"] = type(error).__qualname__
    level = "error" if status is None or status >= 500 else "warning" if status >= 400 else "info"
    breadcrumbs.add_breadcrumb("http", f"{method} {url}", data, level=level)
