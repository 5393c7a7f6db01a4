"""WSGI middleware (Flask, Django, any WSGI app): a server span and metrics per request.

>>> from flask import Flask  # doctest: +SKIP
>>> app = Flask(__name__)  # doctest: +SKIP
>>> app.wsgi_app = WatchkeeperMiddleware(app.wsgi_app)  # doctest: +SKIP

A WSGI response may be an iterable that the server reads after the app returned (a streamed
body): the span ends when the server closes it, so its duration and size cover the whole body.
The app's code runs, and sees the span and the request id, inside the call.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeAlias

from watchkeeper.sdk import errors
from watchkeeper.sdk.client import Client
from watchkeeper.sdk.integrations import REQUEST_ID_HEADER, ServerRequest, warn_once

Environ: TypeAlias = dict[str, Any]
StartResponse: TypeAlias = Callable[..., Any]
WSGIApp: TypeAlias = Callable[[Environ, StartResponse], Iterable[bytes]]

_ID_HEADER = REQUEST_ID_HEADER.upper().replace("-", "_")


class WatchkeeperMiddleware:
    """Records every request as a ``server`` span: method, route template (Flask's
    ``url_rule``, e.g. ``/users/<int:id>``; else the path), path, status, body sizes, user
    agent, the bound user, and a request id (the caller's ``X-Request-ID``, or a new one) that
    is bound for logs and sent back in the response. A ``traceparent`` header continues the
    caller's trace. A 5xx or an exception marks the span as an error; the exception propagates
    unchanged, and is reported as an error (``handled=False``) with the request's method, route
    and URL, unless ``capture_errors`` is off. Flask turns an exception into a 500 itself: on
    a Flask app's ``wsgi_app``, its ``got_request_exception`` signal reports it.
    """

    def __init__(self, app: WSGIApp, *, client: Client | None = None) -> None:
        self.app = app
        self.client = client
        owner = getattr(app, "__self__", None)
        if owner is not None and "flask" in sys.modules and hasattr(owner, "handle_exception"):
            _connect_flask(owner, client)

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        client = ServerRequest.client_for(self.client)
        if client is None:
            return self.app(environ, start_response)
        try:
            path = environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
            request = ServerRequest(
                client,
                environ.get("REQUEST_METHOD", "GET"),
                path or "/",
                environ.get(f"HTTP_{_ID_HEADER}"),
                environ.get("HTTP_USER_AGENT"),
            )
            request.start(environ.get("HTTP_TRACEPARENT"), _tracestate(environ))
        except Exception as exc:
            warn_once("the WSGI middleware", exc)
            return self.app(environ, start_response)
        response = _Response(request, environ)

        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            response.status = _status(status)
            # Flask drops its request from the environ when the call ends; this runs inside it.
            response.route = _route(environ)
            if not any(name.lower() == REQUEST_ID_HEADER for name, _ in headers):
                headers = [*headers, ("X-Request-ID", request.request_id)]
            return start_response(status, headers, exc_info)

        token = errors.current_request.set(("wsgi", environ, None))
        try:
            response.body = self.app(environ, start)
        except BaseException as exc:
            if isinstance(exc, Exception):
                errors.capture_unhandled(exc, "wsgi", client=client)
            response.finish(exc)
            raise
        finally:
            errors.current_request.reset(token)
        # The app's context ends here; the body may still be read (and the span ended) later,
        # possibly elsewhere, so what the request set in this context is undone now.
        response.suspend()
        return response


class _Response:
    """The app's body, counted as the server reads it; closing it ends the request."""

    def __init__(self, request: ServerRequest, environ: Environ) -> None:
        self.request = request
        self.environ = environ
        self.status: int | None = None
        self.route: str | None = None
        self.body: Iterable[bytes] = ()
        self.sent = 0
        self.done = False
        self.error: BaseException | None = None

    def suspend(self) -> None:
        # Keep the span open but leave the context as the call found it: a server thread
        # that takes the next request must not see this one's span or ids.
        self.request.detach()

    def __iter__(self) -> Iterator[bytes]:
        try:
            for chunk in self.body:
                self.sent += len(chunk)
                yield chunk
        except BaseException as exc:
            self.error = exc
            if isinstance(exc, Exception):
                errors.capture_unhandled(exc, "wsgi", client=self.request.client)
            raise

    def close(self) -> None:
        try:
            close = getattr(self.body, "close", None)
            if close is not None:
                close()
        finally:
            self.finish(self.error)

    def finish(self, error: BaseException | None) -> None:
        if self.done:
            return
        self.done = True
        try:
            size = int(self.environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            size = 0
        route = self.route or _route(self.environ)
        self.request.finish(self.status, route, size, self.sent, error)


def _connect_flask(app: Any, client: Client | None) -> None:
    try:
        from flask import got_request_exception  # noqa: PLC0415 - the app's dependency

        def report(sender: Any, exception: BaseException, **extra: Any) -> None:
            if isinstance(exception, Exception):
                errors.capture_unhandled(exception, "flask", client=client)

        got_request_exception.connect(report, app, weak=False)
    except Exception as exc:
        warn_once("the Flask error signal", exc)


def _status(line: str) -> int | None:
    try:
        return int(line.split(" ", 1)[0])
    except ValueError:
        return None


def _tracestate(environ: Environ) -> list[str] | None:
    value = environ.get("HTTP_TRACESTATE")
    return [value] if value else None


def _route(environ: Environ) -> str | None:
    """Flask's matched rule (Werkzeug keeps the request object in the environ)."""
    rule = getattr(environ.get("werkzeug.request"), "url_rule", None)
    template = getattr(rule, "rule", None)
    return template if isinstance(template, str) else None
