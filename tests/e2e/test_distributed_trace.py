"""One trace across two real services: FastAPI (uvicorn, ASGI middleware) calls Flask (werkzeug,
WSGI middleware) over instrumented httpx; both record through the SDK to ``watchkeeper serve``.
Also OpenTelemetry spans after ``watchkeeper.init()``, with and without the app's own SDK."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from flask import Flask, jsonify
from tests.e2e.conftest import Server, free_port
from werkzeug.serving import make_server

import watchkeeper
from watchkeeper.sdk.context import bind
from watchkeeper.sdk.integrations.asgi import WatchkeeperMiddleware as ASGIMiddleware
from watchkeeper.sdk.integrations.httpx import instrument_httpx
from watchkeeper.sdk.integrations.wsgi import WatchkeeperMiddleware as WSGIMiddleware


def read_spans(server: Server, expected: int, timeout: float = 30) -> list[dict[str, Any]]:
    """The spans the server stored, once there are ``expected`` of them."""
    deadline = time.monotonic() + timeout
    while True:
        request = urllib.request.Request(
            f"{server.url}/api/v1/records?kind=span&limit=1000",
            headers={"Authorization": f"Bearer {server.read_token}"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            spans: list[dict[str, Any]] = json.load(response)["records"]
        if len(spans) >= expected or time.monotonic() > deadline:
            return spans
        time.sleep(0.2)


def attributes(span: dict[str, Any]) -> dict[str, Any]:
    value = span.get("attributes") or {}
    return json.loads(value) if isinstance(value, str) else value


@pytest.fixture
def flask_service() -> Iterator[str]:
    """A Flask app behind the WSGI middleware, served by werkzeug's server in a thread."""
    app = Flask("inventory")
    app.wsgi_app = WSGIMiddleware(app.wsgi_app)  # type: ignore[method-assign]

    @app.get("/stock/<sku>")
    def stock(sku: str) -> Any:
        return jsonify(sku=sku, count=3)

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,))
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join()


@pytest.fixture
def fastapi_service(flask_service: str) -> Iterator[str]:
    """A FastAPI app behind the ASGI middleware, served by uvicorn in a thread; it calls the
    Flask service with an instrumented httpx client."""
    # operation_spans off: when FastAPI's own telemetry is on (a provider is installed), the
    # endpoint's call is then a direct child of the request's server span, as without it.
    app = FastAPI(telemetry={"operation_spans": False})
    app.add_middleware(ASGIMiddleware)

    @app.get("/orders/{order_id}")
    async def order(order_id: int) -> dict[str, Any]:
        bind(user_id="buyer-1")
        async with httpx.AsyncClient() as client:
            instrument_httpx(client)
            stock = (await client.get(f"{flask_service}/stock/sku-{order_id}")).json()
        return {"order": order_id, "stock": stock["count"]}

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join()


def test_one_trace_across_fastapi_httpx_and_flask(
    server: Server, fastapi_service: str, tmp_path: Path
) -> None:
    """FastAPI server span > httpx client span > Flask server span: one trace id, each
    parent the span before it, routes recorded as templates."""
    client = watchkeeper.init(
        endpoint=server.url, key=server.ingest_key, service="shop", spool_dir=str(tmp_path)
    )
    try:
        with urllib.request.urlopen(f"{fastapi_service}/orders/7", timeout=10) as response:
            assert json.load(response) == {"order": 7, "stock": 3}
            request_id = response.headers["x-request-id"]
        assert watchkeeper.flush(30)
    finally:
        client.shutdown()
    spans = read_spans(server, 3)
    servers = {attributes(s).get("http.route"): s for s in spans if s["span_kind"] == "server"}
    fastapi_span, flask_span = servers["/orders/{order_id}"], servers["/stock/<sku>"]
    (call,) = [s for s in spans if s["span_kind"] == "client"]
    assert fastapi_span["trace_id"] == call["trace_id"] == flask_span["trace_id"]
    assert flask_span["parent_span_id"] == call["span_id"]
    assert call["parent_span_id"] == fastapi_span["span_id"]
    assert fastapi_span.get("parent_span_id") is None
    assert attributes(fastapi_span)["request_id"] == request_id
    assert fastapi_span["user_id"] == "buyer-1"
    assert attributes(call)["http.response.status_code"] == 200
    assert attributes(flask_span)["url.path"] == "/stock/sku-7"


def run_app(code: str, server: Server, tmp_path: Path) -> Any:
    """Run an app in a fresh interpreter (OpenTelemetry's global provider is set once per
    process) that records to ``server``; return the JSON it printed last."""
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), server.url, server.ingest_key, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def test_opentelemetry_spans_after_init_are_recorded(server: Server, tmp_path: Path) -> None:
    """After watchkeeper.init(), a span from opentelemetry.trace.get_tracer() is stored, as the
    parent of a watchkeeper.span inside it."""
    run_app(
        """
        import sys, json, watchkeeper
        from opentelemetry import trace
        watchkeeper.init(endpoint=sys.argv[1], key=sys.argv[2], spool_dir=sys.argv[3])
        with trace.get_tracer("app").start_as_current_span("otel work"):
            with watchkeeper.span("ours"):
                pass
        print(json.dumps(watchkeeper.flush(30)))
        """,
        server,
        tmp_path,
    )
    spans = {s["name"]: s for s in read_spans(server, 2)}
    assert spans["ours"]["parent_span_id"] == spans["otel work"]["span_id"]
    assert attributes(spans["otel work"])["otel.scope.name"] == "app"


def test_an_sdk_provider_set_up_first_is_joined_not_replaced(
    server: Server, tmp_path: Path
) -> None:
    """With the OpenTelemetry SDK installed before init(), its exporter keeps getting spans and
    watchkeeper records them too, nested with ours both ways."""
    exported = run_app(
        """
        import sys, json, watchkeeper
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
        exporter = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        trace.set_tracer_provider(provider)
        watchkeeper.init(endpoint=sys.argv[1], key=sys.argv[2], spool_dir=sys.argv[3])
        tracer = trace.get_tracer("app")
        with tracer.start_as_current_span("sdk outer"):
            with watchkeeper.span("ours"):
                with tracer.start_as_current_span("sdk inner"):
                    pass
        assert watchkeeper.flush(30)
        print(json.dumps(sorted(s.name for s in exporter.get_finished_spans())))
        """,
        server,
        tmp_path,
    )
    assert exported == ["sdk inner", "sdk outer"]
    spans = {s["name"]: s for s in read_spans(server, 3)}
    assert spans["ours"]["parent_span_id"] == spans["sdk outer"]["span_id"]
    assert spans["sdk inner"]["parent_span_id"] == spans["ours"]["span_id"]
    assert len({s["trace_id"] for s in spans.values()}) == 1
