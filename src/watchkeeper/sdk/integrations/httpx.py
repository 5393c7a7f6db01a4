"""httpx: a ``client`` span per request, ``traceparent`` sent along, and outgoing-call metrics.

>>> import watchkeeper
>>> watchkeeper.instrument_httpx()  # every httpx client, sync and async  # doctest: +SKIP
>>> watchkeeper.instrument_httpx(client)  # or just this one  # doctest: +SKIP

Both wrap httpx's transport layer (``handle_request``), where a request is one exchange: the
span covers it up to the response's headers; redirects and retries are spans of their own.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from time import perf_counter
from typing import TYPE_CHECKING, Any, Final, TypeVar

from watchkeeper.sdk.client import DEFAULT
from watchkeeper.sdk.integrations import finish_client_call, warn_once
from watchkeeper.sdk.propagation import inject
from watchkeeper.sdk.traces import SpanScope

if TYPE_CHECKING:
    import httpx

F = TypeVar("F", bound=Callable[..., Any])

# Marks a request already recorded, when a client's transport is wrapped and httpx is patched.
_SEEN: Final = "watchkeeper"


def instrument_httpx(client: httpx.Client | httpx.AsyncClient | None = None) -> None:
    """Record the requests of ``client``, or of every httpx client when None (also those made
    before this call). Calling it again changes nothing."""
    import httpx  # noqa: PLC0415 - httpx is the app's dependency, not ours

    if client is None:
        for cls, method, wrap in (
            (httpx.HTTPTransport, "handle_request", _wrap_sync),
            (httpx.AsyncHTTPTransport, "handle_async_request", _wrap_async),
        ):
            original = getattr(cls, method)
            if not getattr(original, _SEEN, False):
                setattr(cls, method, wrap(original))
        return
    # httpx has no public way to reach a client's transports; OpenTelemetry's httpx
    # instrumentation wraps the same private attributes.
    transports = [client._transport, *client._mounts.values()]
    for transport in transports:
        if transport is None:
            continue
        method = (
            "handle_async_request" if isinstance(client, httpx.AsyncClient) else "handle_request"
        )
        bound = getattr(transport, method)
        if not getattr(bound, _SEEN, False):
            wrap = _wrap_async if isinstance(client, httpx.AsyncClient) else _wrap_sync
            setattr(transport, method, wrap(bound))


def uninstrument_httpx() -> None:
    """Undo ``instrument_httpx()`` (the global one)."""
    import httpx  # noqa: PLC0415

    for cls, method in (
        (httpx.HTTPTransport, "handle_request"),
        (httpx.AsyncHTTPTransport, "handle_async_request"),
    ):
        original = getattr(getattr(cls, method), "__wrapped__", None)
        if original is not None:
            setattr(cls, method, original)


def _wrap_sync(send: Callable[..., Any]) -> Callable[..., Any]:
    def handle_request(*args: Any) -> Any:
        request: httpx.Request = args[-1]
        scope = _span(request)
        if scope is None:
            return send(*args)
        t0 = perf_counter()
        with scope:
            _inject(request)
            try:
                response = send(*args)
            except Exception as exc:
                _close(scope, request, None, t0, exc)
                raise
            _close(scope, request, response.status_code, t0)
        return response

    return _mark(handle_request, send)


def _wrap_async(send: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    async def handle_async_request(*args: Any) -> Any:
        request: httpx.Request = args[-1]
        scope = _span(request)
        if scope is None:
            return await send(*args)
        t0 = perf_counter()
        with scope:
            _inject(request)
            try:
                response = await send(*args)
            except Exception as exc:
                _close(scope, request, None, t0, exc)
                raise
            _close(scope, request, response.status_code, t0)
        return response

    return _mark(handle_async_request, send)


def _mark(wrapper: F, original: Callable[..., Any]) -> F:
    wrapper.__wrapped__ = original  # type: ignore[attr-defined]
    setattr(wrapper, _SEEN, True)
    return wrapper


def _span(request: httpx.Request) -> SpanScope | None:
    if DEFAULT.client is None or request.extensions.get(_SEEN):
        return None
    try:
        request.extensions[_SEEN] = True
        url = request.url
        attributes: dict[str, object] = {
            "http.request.method": request.method,
            "server.address": url.host,
            "server.port": url.port or (443 if url.scheme == "https" else 80),
            # No query string: it often carries keys and tokens.
            "url.full": f"{url.scheme}://{url.netloc.decode('ascii')}{url.path}",
        }
    except Exception as exc:
        warn_once("the httpx integration", exc)
        return None
    return SpanScope(request.method, attributes, None, "client")


def _inject(request: httpx.Request) -> None:
    try:
        inject(request.headers)
    except Exception as exc:
        warn_once("the httpx integration", exc)


def _close(
    scope: SpanScope,
    request: httpx.Request,
    status: int | None,
    t0: float,
    error: BaseException | None = None,
) -> None:
    try:
        finish_client_call(
            scope, "httpx", request.url.host, request.method, status, error, perf_counter() - t0
        )
    except Exception as exc:
        warn_once("the httpx integration", exc)
