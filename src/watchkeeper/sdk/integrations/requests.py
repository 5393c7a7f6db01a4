"""requests: a ``client`` span per request, ``traceparent`` sent along, and outgoing-call metrics.

>>> import watchkeeper
>>> watchkeeper.instrument_requests()  # every Session, requests.get() too  # doctest: +SKIP
>>> watchkeeper.instrument_requests(session)  # or just this one  # doctest: +SKIP

Both wrap the transport adapter's ``send``, where a request is one exchange on the wire (each
redirect is a span of its own).
"""

from __future__ import annotations

from collections.abc import Callable
from time import perf_counter
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit

from watchkeeper.sdk.client import DEFAULT
from watchkeeper.sdk.integrations import finish_client_call, warn_once
from watchkeeper.sdk.propagation import inject
from watchkeeper.sdk.traces import SpanScope

if TYPE_CHECKING:
    import requests

_SEEN: Final = "_watchkeeper"


def instrument_requests(session: requests.Session | None = None) -> None:
    """Record the requests of ``session`` (its mounted adapters), or of every session when None.
    Calling it again changes nothing."""
    import requests  # noqa: PLC0415 - requests is the app's dependency, not ours

    if session is None:
        if not getattr(requests.adapters.HTTPAdapter.send, _SEEN, False):
            wrapped: Any = _wrap(requests.adapters.HTTPAdapter.send, bound=False)
            requests.adapters.HTTPAdapter.send = wrapped  # type: ignore[method-assign]
        return
    for adapter in session.adapters.values():
        if not getattr(adapter.send, _SEEN, False):
            adapter.send = _wrap(adapter.send, bound=True)  # type: ignore[method-assign]


def uninstrument_requests() -> None:
    """Undo ``instrument_requests()`` (the global one)."""
    import requests  # noqa: PLC0415

    original = getattr(requests.adapters.HTTPAdapter.send, "__wrapped__", None)
    if original is not None:
        requests.adapters.HTTPAdapter.send = original  # type: ignore[method-assign]


def _wrap(send: Callable[..., Any], *, bound: bool) -> Callable[..., Any]:
    def traced_send(*args: Any, **kwargs: Any) -> Any:
        request: requests.PreparedRequest = args[0] if bound else args[1]
        scope = _span(request)
        if scope is None:
            return send(*args, **kwargs)
        t0 = perf_counter()
        host = scope.attributes.get("server.address")
        with scope:
            try:
                inject(request.headers)  # type: ignore[arg-type]
            except Exception as exc:
                warn_once("the requests integration", exc)
            try:
                response = send(*args, **kwargs)
            except Exception as exc:
                _close(scope, request, str(host), None, t0, exc)
                raise
            _close(scope, request, str(host), response.status_code, t0)
        return response

    traced_send.__wrapped__ = send  # type: ignore[attr-defined]
    setattr(traced_send, _SEEN, True)
    return traced_send


def _span(request: requests.PreparedRequest) -> SpanScope | None:
    # A request already recorded (a session instrumented on top of the global patch).
    if DEFAULT.client is None or getattr(request, _SEEN, False):
        return None
    try:
        setattr(request, _SEEN, True)
        url = urlsplit(request.url or "")
        port = f":{url.port}" if url.port else ""
        method = request.method or "GET"
        attributes: dict[str, object] = {
            "http.request.method": method,
            "server.address": url.hostname or "",
            "server.port": url.port or (443 if url.scheme == "https" else 80),
            # No query string and no user:password: they often carry keys and tokens.
            "url.full": f"{url.scheme}://{url.hostname}{port}{url.path}",
        }
    except Exception as exc:
        warn_once("the requests integration", exc)
        return None
    return SpanScope(method, attributes, None, "client")


def _close(
    scope: SpanScope,
    request: requests.PreparedRequest,
    host: str,
    status: int | None,
    t0: float,
    error: BaseException | None = None,
) -> None:
    try:
        finish_client_call(
            scope, "requests", host, request.method or "GET", status, error, perf_counter() - t0
        )
    except Exception as exc:
        warn_once("the requests integration", exc)
