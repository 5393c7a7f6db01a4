from __future__ import annotations

import asyncio
import urllib.request
import wsgiref.util
from typing import Any

import pytest
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram

from watchkeeper.sdk import metrics
from watchkeeper.sdk.metrics import (
    DURATION_BUCKETS,
    GEN_AI,
    STANDARD,
    Metrics,
    counter,
    gauge,
    histogram,
    metrics_asgi_app,
    metrics_wsgi_app,
    start_metrics_server,
)


@pytest.fixture
def registry() -> CollectorRegistry:
    """A fresh registry."""
    return CollectorRegistry()


def value(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, labels)


def test_http_server_metrics(registry: CollectorRegistry) -> None:
    """request_started/finished record duration, body sizes and in-flight requests by
    method, route template and status."""
    standard = Metrics(registry)
    standard.request_started("GET")
    assert value(registry, "http_server_active_requests", http_request_method="GET") == 1
    standard.request_finished("GET", "/items/{id}", 200, 0.2, 10, 2_000)
    standard.request_finished("GET", "/items/{id}", 200, 45.0, 0, 50)
    labels = {
        "http_request_method": "GET",
        "http_route": "/items/{id}",
        "http_response_status_code": "200",
    }
    duration = "http_server_request_duration_seconds"
    assert value(registry, f"{duration}_count", **labels) == 2
    assert value(registry, f"{duration}_sum", **labels) == pytest.approx(45.2)
    assert value(registry, f"{duration}_bucket", **labels, le="0.25") == 1
    assert value(registry, f"{duration}_bucket", **labels, le="60.0") == 2  # LLM-long requests
    assert value(registry, "http_server_response_body_size_bytes_sum", **labels) == 2_050
    assert value(registry, "http_server_request_body_size_bytes_count", **labels) == 2
    assert value(registry, "http_server_active_requests", http_request_method="GET") == -1


def test_unknown_methods_and_overflowing_routes_are_bounded(registry: CollectorRegistry) -> None:
    """Made-up methods count as _OTHER, and past max_label_sets new routes become _OTHER."""
    standard = Metrics(registry, max_label_sets=2)
    standard.request_finished("get", "/a", 200, 0.1, 0, 0)
    standard.request_finished("BREW", "/b", 418, 0.1, 0, 0)
    for n in range(5):
        standard.request_finished("GET", f"/raw/{n}", 404, 0.1, 0, 0)
    count = "http_server_request_duration_seconds_count"
    assert (
        value(
            registry,
            count,
            http_request_method="GET",
            http_route="/a",
            http_response_status_code="200",
        )
        == 1
    )
    assert (
        value(
            registry,
            count,
            http_request_method="_OTHER",
            http_route="/b",
            http_response_status_code="418",
        )
        == 1
    )
    assert (
        value(
            registry,
            count,
            http_request_method="GET",
            http_route="_OTHER",
            http_response_status_code="404",
        )
        == 5
    )


def test_outgoing_calls_db_queries_pools_and_caches(registry: CollectorRegistry) -> None:
    """Outgoing calls, DB operations, pool usage (SQLAlchemy semantics) and cache hits land
    in their metrics."""
    standard = Metrics(registry)
    standard.outgoing_call("httpx", "api.openai.com", "POST", 200, 1.5)
    standard.outgoing_call("requests", "example.com", "GET", None, 0.1)
    client = "http_client_request_duration_seconds_count"
    assert (
        value(
            registry,
            client,
            system="httpx",
            server_address="api.openai.com",
            http_request_method="POST",
            http_response_status_code="200",
        )
        == 1
    )
    assert (
        value(
            registry,
            client,
            system="requests",
            server_address="example.com",
            http_request_method="GET",
            http_response_status_code="",
        )
        == 1
    )
    standard.db_query("postgresql", "SELECT", 0.004)
    assert (
        value(
            registry,
            "db_client_operation_duration_seconds_bucket",
            db_system_name="postgresql",
            db_operation_name="SELECT",
            le="0.005",
        )
        == 1
    )
    standard.pool_usage("main", checked_out=3, size=5, overflow=-1)  # 4 opened, 3 in use
    usage = "db_client_connections_usage"
    assert value(registry, usage, pool_name="main", state="used") == 3
    assert value(registry, usage, pool_name="main", state="idle") == 1
    assert value(registry, "db_client_connections_max", pool_name="main") == 5
    assert value(registry, "db_client_connections_overflow", pool_name="main") == 0
    standard.pool_usage("main", checked_out=7, size=5, overflow=2)
    assert value(registry, "db_client_connections_overflow", pool_name="main") == 2
    assert value(registry, usage, pool_name="main", state="idle") == 0
    standard.cache_hit("emb")
    standard.cache_hit("emb")
    standard.cache_miss("emb")
    assert value(registry, "cache_requests_total", cache="emb", result="hit") == 2
    assert value(registry, "cache_requests_total", cache="emb", result="miss") == 1


def test_process_metrics_are_registered_in_a_custom_registry(registry: CollectorRegistry) -> None:
    """CPU, memory, GC, Python version and (psutil) threads come with the standard metrics."""
    Metrics(registry)
    assert value(registry, "process_cpu_seconds_total") is not None
    assert value(registry, "process_resident_memory_bytes") > 0  # type: ignore[operator]
    assert value(registry, "python_gc_collections_total", generation="0") is not None
    assert value(registry, "process_threads") >= 1  # type: ignore[operator]


def test_module_functions_use_the_default_registry() -> None:
    """The integrations' functions record into prometheus_client's REGISTRY."""
    labels = {
        "http_request_method": "POST",
        "http_route": "/test-default",
        "http_response_status_code": "201",
    }
    before = REGISTRY.get_sample_value("http_server_request_duration_seconds_count", labels) or 0
    metrics.request_started("POST")
    metrics.request_finished("POST", "/test-default", 201, 0.01, 5, 5)
    metrics.outgoing_call("httpx", "test-default", "GET", 200, 0.01)
    metrics.db_query("sqlite", "INSERT", 0.001)
    metrics.pool_usage("test-default", 1, 5, -4)
    metrics.cache_miss("test-default")
    assert (
        REGISTRY.get_sample_value("http_server_request_duration_seconds_count", labels)
        == before + 1
    )
    assert metrics.standard() is metrics.standard(REGISTRY)


def test_business_metrics_are_idempotent(registry: CollectorRegistry) -> None:
    """Asking twice for a name returns the same metric; `x` and `x_total` are one counter."""
    signups = counter("signups_total", "Signups.", ["plan"], registry=registry)
    assert isinstance(signups, Counter)
    assert counter("signups_total", "Signups.", ["plan"], registry=registry) is signups
    assert counter("signups", "Signups.", ["plan"], registry=registry) is signups
    signups.labels("pro").inc()
    depth = gauge("queue_depth", "Jobs waiting.", registry=registry)
    assert isinstance(depth, Gauge) and gauge("queue_depth", "x", registry=registry) is depth
    depth.set(3)
    latency = histogram("rag_seconds", "RAG.", ["index"], registry=registry)
    assert isinstance(latency, Histogram)
    assert histogram("rag_seconds", "RAG.", ["index"], registry=registry) is latency
    latency.labels("docs").observe(42.0)
    assert value(registry, "signups_total", plan="pro") == 1
    assert value(registry, "queue_depth") == 3
    assert value(registry, "rag_seconds_bucket", index="docs", le="60.0") == 1
    assert len(DURATION_BUCKETS) == 16 and DURATION_BUCKETS[-1] == 300


def test_business_metric_conflicts_are_clear(registry: CollectorRegistry) -> None:
    """The same name with another type or other labels raises a message naming both."""
    counter("jobs_total", "Jobs.", ["queue"], registry=registry)
    with pytest.raises(
        ValueError, match=r"'jobs_total' already exists as a counter with labels \('queue',\)"
    ):
        counter("jobs_total", "Jobs.", ["kind"], registry=registry)
    gauge("pending", "Pending.", registry=registry)
    with pytest.raises(ValueError, match="asked for a histogram"):
        histogram("pending", "Pending.", registry=registry)


def test_names_are_prometheus_and_opentelemetry_shaped() -> None:
    """Standard and reserved LLM names are snake_case with base units; counters end in _total."""
    for spec in (*STANDARD.values(), *GEN_AI.values()):
        assert spec.name == spec.name.lower() and " " not in spec.name
        assert spec.name.endswith("_total") == (spec.kind == "counter")
        assert (spec.kind == "histogram") == bool(spec.buckets)
    assert "gen_ai_client_token_usage" in GEN_AI


def test_asgi_and_wsgi_apps_serve_the_registry(registry: CollectorRegistry) -> None:
    """The ASGI and WSGI apps answer with the text format, standard metrics included."""
    counter("asgi_hits_total", "Hits.", registry=registry).inc()
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "GET",
        "path": "/metrics",
        "headers": [],
        "query_string": b"",
    }
    asyncio.run(metrics_asgi_app(registry)(scope, receive, send))
    assert sent[0]["status"] == 200
    body = b"".join(m.get("body", b"") for m in sent[1:])
    assert b"asgi_hits_total 1.0" in body and b"http_server_request_duration_seconds" in body

    environ: dict[str, Any] = {}
    wsgiref.util.setup_testing_defaults(environ)
    statuses: list[str] = []
    chunks = metrics_wsgi_app(registry)(environ, lambda status, headers: statuses.append(status))
    assert statuses == ["200 OK"] and b"asgi_hits_total 1.0" in b"".join(chunks)


def test_metrics_server_serves_and_closes(registry: CollectorRegistry) -> None:
    """start_metrics_server serves /metrics on localhost and close() frees the port."""
    server = start_metrics_server(0, registry=registry)
    try:
        with urllib.request.urlopen(server.url, timeout=5) as response:
            assert b"process_cpu_seconds_total" in response.read()
    finally:
        server.close()
    with pytest.raises(OSError):
        urllib.request.urlopen(server.url, timeout=1)
