"""The app's ``/metrics`` against the real Prometheus tools: ``promtool check metrics`` lints the
output of each endpoint variant after real traffic, and a real Prometheus scrapes an app."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pytest
import uvicorn
from fastapi import FastAPI
from flask import Flask
from tests.e2e.conftest import free_port
from werkzeug.middleware.dispatcher import DispatcherMiddleware

from watchkeeper.sdk import metrics

pytestmark = pytest.mark.skipif(
    not (shutil.which("promtool") and shutil.which("prometheus")),
    reason="needs Debian's prometheus package (make system-deps)",
)


def traffic() -> None:
    """Real calls through the functions the integrations use, and business metrics."""
    metrics.request_started("GET")
    metrics.request_finished("GET", "/items/{id}", 200, 0.042, 0, 1_234)
    metrics.request_started("POST")
    metrics.request_finished("POST", "/chat", 500, 38.5, 2_048, 90)
    metrics.outgoing_call("httpx", "api.openai.com", "POST", 200, 12.5)
    metrics.outgoing_call("requests", "example.com", "GET", None, 3.0)
    metrics.db_query("postgresql", "SELECT", 0.003)
    metrics.pool_usage("main", 2, 5, -1)
    metrics.cache_hit("embeddings")
    metrics.cache_miss("embeddings")
    metrics.counter("e2e_signups_total", "Accounts created.", ["plan"]).labels("pro").inc()
    metrics.histogram("e2e_retrieval_seconds", "Retrieval time.", ["index"]).labels("docs").observe(
        0.3
    )
    metrics.gauge("e2e_queue_depth", "Jobs waiting.").set(4)


def promtool(exposition: bytes) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        ["promtool", "check", "metrics"], input=exposition, capture_output=True, timeout=30
    )


def fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.status == 200
        return bytes(response.read())


@pytest.fixture
def thread_server() -> Iterator[str]:
    """start_metrics_server on a free port; its /metrics URL."""
    server = metrics.start_metrics_server(0)
    yield server.url
    server.close()


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def serve_wsgi(app: Callable[..., Any]) -> tuple[WSGIServer, threading.Thread]:
    server = make_server("127.0.0.1", 0, app, handler_class=_Quiet)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    return server, thread


@pytest.fixture
def wsgi_server() -> Iterator[str]:
    """A Flask app with metrics_wsgi_app mounted at /metrics, served over HTTP."""
    flask_app = Flask("e2e")

    @flask_app.get("/")
    def index() -> str:
        return "ok"

    app = DispatcherMiddleware(flask_app, {"/metrics": metrics.metrics_wsgi_app()})
    server, thread = serve_wsgi(app)
    yield f"http://127.0.0.1:{server.server_address[1]}/metrics"
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.fixture
def asgi_server() -> Iterator[str]:
    """A FastAPI app with metrics_asgi_app mounted at /metrics, served by uvicorn."""
    app = FastAPI()
    app.mount("/metrics", metrics.metrics_asgi_app())
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}/metrics/"
    server.should_exit = True
    thread.join(10)


@pytest.mark.parametrize("endpoint", ["thread_server", "wsgi_server", "asgi_server"])
def test_promtool_accepts_every_endpoint(endpoint: str, request: pytest.FixtureRequest) -> None:
    """promtool check metrics finds no problem in /metrics of the thread server, the WSGI app
    and the ASGI app, after traffic and business metrics."""
    url = request.getfixturevalue(endpoint)
    traffic()
    body = fetch(url)
    for name in (
        b"http_server_request_duration_seconds_bucket",
        b"http_server_active_requests",
        b"http_client_request_duration_seconds_count",
        b"db_client_operation_duration_seconds_sum",
        b"db_client_connections_usage",
        b"cache_requests_total",
        b"process_cpu_seconds_total",
        b"process_threads",
        b"python_gc_collections_total",
        b'e2e_signups_total{plan="pro"}',
        b"e2e_retrieval_seconds_bucket",
    ):
        assert name in body, name
    done = promtool(body)
    assert done.returncode == 0, done.stdout + done.stderr


def test_promtool_is_strict_enough_to_trust() -> None:
    """The lint this suite relies on does flag a badly named metric (exit 3)."""
    done = promtool(b"# HELP latency_ms x\n# TYPE latency_ms counter\nlatency_ms 1\n")
    assert done.returncode == 3 and b"_total" in done.stdout + done.stderr


def test_a_real_prometheus_scrapes_the_app(thread_server: str, tmp_path: Path) -> None:
    """Prometheus, started with a temporary config and data directory, scrapes the app's
    /metrics, reports the target up and stores a standard metric."""
    traffic()
    target = thread_server.removeprefix("http://").removesuffix("/metrics")
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        "scrape_configs:\n"
        f"  - job_name: wk_app\n    static_configs: [{{targets: ['{target}']}}]\n"
    )
    port = free_port()
    api = f"http://127.0.0.1:{port}"
    with (tmp_path / "prometheus.log").open("wb") as log:  # the child keeps its own copy
        process = subprocess.Popen(
            [
                "prometheus",
                f"--config.file={config}",
                f"--storage.tsdb.path={tmp_path / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                f"--web.external-url={api}/",
            ],
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
    try:
        up = wait_until(lambda: query(api, 'up{job="wk_app"}'), timeout=60)
        assert up and up[0]["value"][1] == "1", (tmp_path / "prometheus.log").read_text()[-2000:]
        targets = json.loads(fetch(f"{api}/api/v1/targets"))["data"]["activeTargets"]
        assert [(t["labels"]["job"], t["health"], t["scrapeUrl"]) for t in targets] == [
            ("wk_app", "up", thread_server)
        ]
        stored = wait_until(
            lambda: query(api, 'http_server_request_duration_seconds_count{http_route="/chat"}')
        )
        assert stored and float(stored[0]["value"][1]) >= 1
    finally:
        process.terminate()
        process.wait(30)


def query(api: str, promql: str) -> list[dict[str, Any]]:
    url = f"{api}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
    try:
        answer = json.loads(fetch(url))
    except OSError:
        return []
    return list(answer["data"]["result"])


def wait_until(
    probe: Callable[[], list[dict[str, Any]]], timeout: float = 30
) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    found = probe()
    while not found and time.monotonic() < deadline:
        time.sleep(0.25)
        found = probe()
    return found
