"""ASGI middleware (FastAPI, Starlette, any ASGI app): a server span and metrics per request.

>>> from fastapi import FastAPI  # doctest: +SKIP
>>> app = FastAPI()  # doctest: +SKIP
>>> app.add_middleware(WatchkeeperMiddleware)  # doctest: +SKIP

A pure ASGI middleware, not Starlette's ``BaseHTTPMiddleware``, which would run the app in
another task (so the app's context changes would not reach us) and cost more per request.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, TypeAlias

from watchkeeper.sdk import errors
from watchkeeper.sdk.client import Client
from watchkeeper.sdk.integrations import REQUEST_ID_HEADER, ServerRequest, warn_once

Scope: TypeAlias = MutableMapping[str, Any]
Message: TypeAlias = MutableMapping[str, Any]
Receive: TypeAlias = Callable[[], Awaitable[Message]]
Send: TypeAlias = Callable[[Message], Awaitable[None]]
ASGIApp: TypeAlias = Callable[[Scope, Receive, Send], Awaitable[None]]

_ID_HEADER = REQUEST_ID_HEADER.encode()
_NO_BODY = frozenset({"GET", "HEAD", "OPTIONS"})


class WatchkeeperMiddleware:
    """Records every HTTP request as a ``server`` span: method, route template (``/users/{id}``),
    path, status, body sizes, user agent, the bound user, and a request id (the caller's
    ``X-Request-ID``, or a new one) that is bound for logs and sent back in the response. A
    ``traceparent`` header continues the caller's trace. A 5xx or an exception marks the span
    as an error; the exception propagates unchanged, and is reported as an error
    (``handled=False``) with the request's method, route and URL, unless ``capture_errors`` is
    off. The first request on an event loop also hooks the loop's exception handler (errors of
    tasks nobody awaited).
    """

    def __init__(self, app: ASGIApp, *, client: Client | None = None) -> None:
        self.app = app
        self.client = client
        self._loop: object = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        client = ServerRequest.client_for(self.client)
        if scope["type"] != "http" or client is None:
            await self.app(scope, receive, send)
            return
        try:
            request, parent, length = _request(scope, client)
            request.start(*parent)
        except Exception as exc:
            warn_once("the ASGI middleware", exc)
            await self.app(scope, receive, send)
            return
        root_path = scope.get("root_path", "")
        sizes = [length or 0, 0]
        status: list[int] = []
        request_id = request.request_id.encode("latin-1")
        receive_counted = receive

        if length is None:  # no Content-Length (chunked): count the body as the app reads it

            async def receive_counted() -> Message:
                message = await receive()
                if message["type"] == "http.request":
                    sizes[0] += len(message.get("body", b""))
                return message

        async def send_counted(message: Message) -> None:
            kind = message["type"]
            if kind == "http.response.start":
                status.append(message["status"])
                headers = list(message.get("headers", ()))
                if not any(name.lower() == _ID_HEADER for name, _ in headers):
                    headers.append((_ID_HEADER, request_id))
                    message["headers"] = headers
            elif kind == "http.response.body":
                sizes[1] += len(message.get("body", b""))
                if request.adopted is not None and not message.get("more_body", False):
                    # The framework's span ends as this last body goes out: add ours first.
                    _finish_adopted(request, scope, root_path, status, sizes)
            await send(message)

        if client.config.capture_errors:
            self._hook_loop()
        token = errors.current_request.set(("asgi", scope, root_path))
        try:
            await self.app(scope, receive_counted, send_counted)
        except BaseException as exc:
            if isinstance(exc, Exception):  # not a cancellation (the client went away)
                errors.capture_unhandled(exc, "asgi", client=client)
            route = _route(scope, root_path)
            request.finish(status[0] if status else None, route, sizes[0], sizes[1], exc)
            raise
        finally:
            errors.current_request.reset(token)
        route = _route(scope, root_path)
        request.finish(status[0] if status else None, route, sizes[0], sizes[1])

    def _hook_loop(self) -> None:
        try:
            loop = asyncio.get_running_loop()
            if loop is not self._loop:
                self._loop = loop
                errors.install_asyncio(loop)
        except Exception as exc:
            warn_once("the asyncio exception handler", exc)


def _request(scope: Scope, client: Client) -> tuple[ServerRequest, tuple[Any, Any], int | None]:
    traceparent = request_id = user_agent = None
    tracestate: list[str] = []
    length: int | None = 0 if scope.get("method") in _NO_BODY else None
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            length = int(value) if value.isdigit() else None
        elif name == b"traceparent":
            traceparent = value.decode("latin-1")
        elif name == b"tracestate":
            tracestate.append(value.decode("latin-1"))
        elif name == _ID_HEADER:
            request_id = value.decode("latin-1")
        elif name == b"user-agent":
            user_agent = value.decode("latin-1")
    # FastAPI opens its own OpenTelemetry server span when a tracer provider is installed
    # (ours, after watchkeeper.init()): one server span per request, so we add to that one.
    native = getattr(scope.get("fastapi.telemetry"), "span", None)
    adopted = native if native is not None and native.is_recording() else None
    path = scope.get("path", "")
    request = ServerRequest(
        client, scope.get("method", "GET"), path, request_id, user_agent, adopted
    )
    return request, (traceparent, tracestate or None), length


def _finish_adopted(
    request: ServerRequest, scope: Scope, root_path: str, status: list[int], sizes: list[int]
) -> None:
    try:
        attributes: dict[str, Any] = {
            "http.request.body.size": sizes[0],
            "http.response.body.size": sizes[1],
            **request.user_attributes(),
        }
        route = _route(scope, root_path)
        if route:
            attributes["http.route"] = route
        request.adopted.set_attributes(attributes)
    except Exception as exc:
        warn_once("the framework's request span", exc)


def _route(scope: Scope, root_path: str) -> str | None:
    """The matched route's template, which Starlette's router leaves in ``scope["route"]``;
    under a ``Mount`` its path is relative, so the mount's prefix (what it added to
    ``root_path``) goes in front. None when no route matched (a 404)."""
    path = getattr(scope.get("route"), "path", None)
    if not isinstance(path, str):
        return None
    mounted = scope.get("root_path", "")
    prefix = mounted[len(root_path) :] if mounted.startswith(root_path) else ""
    return prefix + path
