from __future__ import annotations

import asyncio
from typing import Any

import httpx
from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route

import watchkeeper
from watchkeeper.records import Span
from watchkeeper.sdk.context import bind, bound, current_ids
from watchkeeper.sdk.integrations.asgi import WatchkeeperMiddleware
from watchkeeper.testing import capture

TRACE = "0af7651916cd43dd8448eb211c80319c"
PARENT = "b7ad6b7169203331"


def make_app() -> FastAPI:
    # FastAPI's own telemetry off: it turns on whenever a global OpenTelemetry provider is
    # installed (watchkeeper.init() in an earlier test does), and its span is tested apart.
    app = FastAPI(telemetry={"tracing": False})
    app.add_middleware(WatchkeeperMiddleware)

    @app.get("/users/{user_id}")
    async def user(user_id: int) -> dict[str, Any]:
        bind(user_id=f"u{user_id}", session_id="s1")
        with watchkeeper.span("load user"):
            pass
        return {"request_id": bound()["request_id"], "ids": current_ids()}

    @app.post("/echo")
    def echo(body: dict[str, Any]) -> dict[str, Any]:
        bind(user_id="from-thread")  # a sync endpoint runs in a worker thread
        return body

    @app.get("/fail")
    async def fail() -> None:
        raise RuntimeError("kaboom")

    @app.get("/unavailable")
    async def unavailable() -> PlainTextResponse:
        return PlainTextResponse("later", status_code=503)

    return app


def call(app: Any, method: str, path: str, **kwargs: Any) -> httpx.Response:
    async def run() -> httpx.Response:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.request(method, path, **kwargs)

    return asyncio.run(run())


def server_span(spans: list[Span]) -> Span:
    (found,) = [span for span in spans if span.span_kind == "server"]
    return found


def test_request_becomes_a_server_span_with_route_template() -> None:
    """A request is one server span named by its route template, with the HTTP attributes,
    the bound user and session, and its child spans under it."""
    with capture() as captured:
        response = call(make_app(), "GET", "/users/42", headers={"user-agent": "tests/1"})
    assert response.status_code == 200
    spans = captured.spans
    request = server_span(spans)
    (child,) = [span for span in spans if span.name == "load user"]
    assert request.name == "GET /users/{user_id}"
    assert child.parent_span_id == request.span_id
    assert (request.user_id, request.session_id, request.status) == ("u42", "s1", "unset")
    attributes = request.attributes
    assert attributes["http.request.method"] == "GET"
    assert attributes["http.route"] == "/users/{user_id}"
    assert attributes["url.path"] == "/users/42"
    assert attributes["http.response.status_code"] == 200
    assert attributes["user_agent.original"] == "tests/1"
    assert attributes["http.response.body.size"] == len(response.content)
    assert response.json()["ids"][0] == request.trace_id


def test_request_id_is_taken_or_made_bound_and_returned() -> None:
    """A caller's X-Request-ID is kept, bound for logs and sent back; without one (or with a
    forged one) a fresh id is made."""
    with capture() as captured:
        given = call(make_app(), "GET", "/users/1", headers={"x-request-id": "req-123"})
        made = call(make_app(), "GET", "/users/2")
        forged = call(make_app(), "GET", "/users/3", headers={"x-request-id": "a b\nfake"})
    assert given.headers["x-request-id"] == "req-123" == given.json()["request_id"]
    assert len(made.headers["x-request-id"]) == 32
    assert made.headers["x-request-id"] == made.json()["request_id"]
    assert forged.headers["x-request-id"] != "a b\nfake"
    ids = [
        server_span([s]).attributes["request_id"] for s in captured.spans if s.span_kind == "server"
    ]
    assert ids[0] == "req-123" and ids[1] == made.headers["x-request-id"]


def test_traceparent_continues_the_callers_trace() -> None:
    """An incoming traceparent makes the server span a child of the caller's span."""
    with capture() as captured:
        call(make_app(), "GET", "/users/7", headers={"traceparent": f"00-{TRACE}-{PARENT}-01"})
    request = server_span(captured.spans)
    assert (request.trace_id, request.parent_span_id) == (TRACE, PARENT)


def test_sizes_and_user_bound_in_a_worker_thread() -> None:
    """Request and response body sizes are counted; a user bound in a sync endpoint's thread
    still reaches the request span."""
    with capture() as captured:
        response = call(make_app(), "POST", "/echo", json={"hello": "world"})
    request = server_span(captured.spans)
    assert request.attributes["http.request.body.size"] == len(b'{"hello":"world"}')
    assert request.attributes["http.response.body.size"] == len(response.content)
    assert request.user_id == "from-thread"


def test_exception_marks_error_and_propagates() -> None:
    """An unhandled exception makes the span an error with status 500 and reaches the
    framework unchanged."""
    with capture() as captured:
        response = call(make_app(), "GET", "/fail")
    assert response.status_code == 500
    request = server_span(captured.spans)
    assert request.status == "error" and "kaboom" in request.status_message
    assert request.attributes["http.response.status_code"] == 500
    assert request.attributes["exception.type"] == "RuntimeError"


def test_5xx_is_an_error_and_4xx_is_not() -> None:
    """A 5xx answer is a server error; a 404 is not, and falls back to the path as route."""
    with capture() as captured:
        call(make_app(), "GET", "/unavailable")
        call(make_app(), "GET", "/missing")
    unavailable, missing = (s for s in captured.spans if s.span_kind == "server")
    assert (unavailable.status, unavailable.status_message) == ("error", "HTTP 503")
    assert (missing.status, missing.name) == ("unset", "GET")
    assert missing.attributes["http.route"] == "/missing"


def test_metrics_count_the_request_by_route(sample: Any) -> None:
    """The request is counted under its method, route template and status, and the in-flight
    gauge goes back down."""
    labels = {
        "http_request_method": "GET",
        "http_route": "/users/{user_id}",
        "http_response_status_code": "200",
    }
    before = sample("http_server_request_duration_seconds_count", **labels)
    with capture():
        call(make_app(), "GET", "/users/5")
        call(make_app(), "GET", "/users/6")
    assert sample("http_server_request_duration_seconds_count", **labels) == before + 2
    assert sample("http_server_active_requests", http_request_method="GET") == 0


def test_mounted_routes_keep_the_mount_prefix() -> None:
    """Under a Starlette Mount the route template includes the mount's path."""

    async def item(request: Any) -> PlainTextResponse:
        return PlainTextResponse(request.path_params["name"])

    inner = Starlette(routes=[Route("/items/{name}", item)])
    app = Starlette(routes=[Mount("/v1", app=inner)])
    app.add_middleware(WatchkeeperMiddleware)
    with capture() as captured:
        assert call(app, "GET", "/v1/items/pen").text == "pen"
    assert server_span(captured.spans).attributes["http.route"] == "/v1/items/{name}"


def test_without_a_client_the_app_runs_untouched() -> None:
    """With no client installed the middleware only passes the request through."""
    response = call(make_app(), "GET", "/unavailable")
    assert response.text == "later" and "x-request-id" not in response.headers


def test_fastapi_native_server_span_is_enriched_not_duplicated() -> None:
    """With FastAPI's own OpenTelemetry server span (our provider configured for it), the
    middleware adds its attributes to that span instead of opening a second one."""
    from watchkeeper.sdk.otel import TracerProvider

    app = FastAPI(telemetry={"tracer_provider": TracerProvider(), "operation_spans": False})
    app.add_middleware(WatchkeeperMiddleware)

    @app.get("/things/{thing_id}")
    async def thing(thing_id: int) -> dict[str, int]:
        bind(user_id="u1")
        return {"thing": thing_id}

    with capture() as captured:
        response = call(app, "GET", "/things/3", headers={"traceparent": f"00-{TRACE}-{PARENT}-01"})
    request = server_span(captured.spans)
    assert request.attributes["otel.scope.name"] == "fastapi"
    assert request.attributes["request_id"] == response.headers["x-request-id"]
    assert request.attributes["http.route"] == "/things/{thing_id}"
    assert request.user_id == "u1"
    assert (request.trace_id, request.parent_span_id) == (TRACE, PARENT)
