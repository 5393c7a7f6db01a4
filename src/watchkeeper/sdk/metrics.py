"""Prometheus metrics: watchkeeper's standard ones, business metrics in a line, ``/metrics``.

Everything lives in a ``prometheus_client`` registry: the process-wide ``REGISTRY`` unless a
``registry=`` is given, so users keep the Counter/Histogram they know and any Prometheus can
scrape the app (``/metrics`` as an ASGI app, a WSGI app, or a thread server). The samples are
also pushed to the watchkeeper server as ``metric`` records (sdk/push.py), so the
dashboard charts them without a Prometheus.

Names follow the OpenTelemetry semantic conventions as Prometheus spells them
(``http.server.request.duration`` in seconds → ``http_server_request_duration_seconds``,
attributes → labels with ``_`` for ``.``). Labels are bounded sets only (method, route
template, status, pool, system): never user ids, paths with ids, or prompts.

The integrations (ASGI/WSGI middleware, httpx, requests, SQLAlchemy) call the functions below;
they resolve label children once per label set and keep them in a dict, because
``.labels(...)`` costs ~1.2 µs and a dict hit ~0.1 µs (reference/perf-anchors.md §1).

>>> signups = counter("signups_total", "Accounts created.", ["plan"])
>>> signups.labels("pro").inc()
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, TypeVar
from weakref import WeakKeyDictionary

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    make_asgi_app,
    make_wsgi_app,
    start_http_server,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    pass


# fmt: off
DURATION_BUCKETS: Final = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0,
                           30.0, 60.0, 120.0, 300.0)
# fmt: on
"""Seconds, for HTTP requests that are either quick API calls or LLM calls of minutes: the
Prometheus defaults stop at 10 s, where LLM completions only start (reference §1.3)."""
SIZE_BUCKETS: Final = (100.0, 1_000.0, 10_000.0, 100_000.0, 1_000_000.0, 10_000_000.0)
"""Bytes of request and response bodies."""
DB_BUCKETS: Final = (0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0)
"""Seconds; the OpenTelemetry advice for ``db.client.operation.duration``."""

GEN_AI_DURATION_BUCKETS: Final = tuple(0.01 * 2**power for power in range(14))
"""Seconds, 0.01 to 81.92; the OpenTelemetry GenAI advice for operation duration and time to
first token."""
GEN_AI_TOKEN_BUCKETS: Final = tuple(float(4**power) for power in range(14))
"""Tokens per call, 1 to 67M; the OpenTelemetry GenAI advice for ``gen_ai.client.token.usage``."""


@dataclass(frozen=True)
class MetricName:
    """A metric the SDK defines: name as exposed, type, help, labels, buckets."""

    name: str
    kind: str
    help: str
    labels: tuple[str, ...]
    buckets: tuple[float, ...] = ()


_HTTP: Final = ("http_request_method", "http_route", "http_response_status_code")
_GEN_AI: Final = ("gen_ai_operation_name", "gen_ai_provider_name", "gen_ai_request_model")

# fmt: off
STANDARD: Final = {spec.name: spec for spec in (
    MetricName("http_server_request_duration_seconds", "histogram", "Duration of HTTP server "
               "requests; its _count is the requests by route, method and status.", _HTTP,
               DURATION_BUCKETS),
    MetricName("http_server_request_body_size_bytes", "histogram",
               "Size of HTTP server request bodies.", _HTTP, SIZE_BUCKETS),
    MetricName("http_server_response_body_size_bytes", "histogram",
               "Size of HTTP server response bodies.", _HTTP, SIZE_BUCKETS),
    MetricName("http_server_active_requests", "gauge", "HTTP server requests in flight.",
               ("http_request_method",)),
    MetricName("http_client_request_duration_seconds", "histogram", "Duration of outgoing "
               "calls by client library, server, method and status.", ("system",
               "server_address", "http_request_method", "http_response_status_code"),
               DURATION_BUCKETS),
    MetricName("db_client_operation_duration_seconds", "histogram", "Duration of database "
               "operations.", ("db_system_name", "db_operation_name"), DB_BUCKETS),
    MetricName("db_client_connections_usage", "gauge", "Connections of a pool by state: used "
               "(checked out) or idle.", ("pool_name", "state")),
    MetricName("db_client_connections_max", "gauge", "Size of a connection pool.",
               ("pool_name",)),
    MetricName("db_client_connections_overflow", "gauge", "Connections open beyond a pool's "
               "size.", ("pool_name",)),
    MetricName("cache_requests_total", "counter", "Cache lookups by result: hit or miss.",
               ("cache", "result")),
)}
"""The metrics :class:`Metrics` registers (besides the process, GC and platform collectors)."""

GEN_AI: Final = {spec.name: spec for spec in (
    MetricName("gen_ai_client_operation_duration_seconds", "histogram", "Duration of LLM calls.",
               (*_GEN_AI, "error_type"), GEN_AI_DURATION_BUCKETS),
    MetricName("gen_ai_client_token_usage", "histogram", "Tokens per LLM call by type: input "
               "or output.", (*_GEN_AI, "gen_ai_token_type"), GEN_AI_TOKEN_BUCKETS),
    MetricName("gen_ai_server_time_to_first_token_seconds", "histogram", "Time to the first "
               "token of streamed LLM calls.", _GEN_AI, GEN_AI_DURATION_BUCKETS),
    MetricName("gen_ai_client_cost_usd_total", "counter", "Cost of LLM calls in US dollars at "
               "current prices.", ("gen_ai_provider_name", "gen_ai_request_model")),
)}
# fmt: on
"""Names reserved for the LLM instrumentation (OpenTelemetry GenAI semantic conventions plus
cost); registered by it, not here."""

_METHODS: Final = frozenset(
    {"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"}
)
MAX_LABEL_SETS: Final = 2000
"""Label sets remembered per standard metric; past it a new route or server is counted as
``_OTHER`` (as OpenTelemetry's cardinality limit does), so a scan of random URLs cannot grow
memory and the scrape without bound."""

_C = TypeVar("_C")


def _method(method: str) -> str:
    # OpenTelemetry: methods outside the known set are "_OTHER", or a client could create a
    # series per made-up method.
    upper = method.upper()
    return upper if upper in _METHODS else "_OTHER"


class Metrics:
    """The standard metrics of one registry. :func:`standard` gives the one per registry; the
    module functions (:func:`request_finished`…) use the default registry's.

    >>> metrics = Metrics(CollectorRegistry())
    >>> metrics.request_finished("GET", "/items/{id}", 200, 0.012, 0, 512)
    """

    def __init__(
        self,
        registry: CollectorRegistry = REGISTRY,
        *,
        process: bool = True,
        max_label_sets: int = MAX_LABEL_SETS,
    ) -> None:
        self.registry = registry
        self.max_label_sets = max_label_sets
        made = {name: _make(spec, registry) for name, spec in STANDARD.items()}
        self.http_duration: Histogram = made["http_server_request_duration_seconds"]
        self.http_request_size: Histogram = made["http_server_request_body_size_bytes"]
        self.http_response_size: Histogram = made["http_server_response_body_size_bytes"]
        self.http_active: Gauge = made["http_server_active_requests"]
        self.client_duration: Histogram = made["http_client_request_duration_seconds"]
        self.db_duration: Histogram = made["db_client_operation_duration_seconds"]
        self.db_connections: Gauge = made["db_client_connections_usage"]
        self.db_connections_max: Gauge = made["db_client_connections_max"]
        self.db_connections_overflow: Gauge = made["db_client_connections_overflow"]
        self.cache_requests: Counter = made["cache_requests_total"]
        self._requests: dict[tuple[str, str, int], tuple[Any, Any, Any]] = {}
        self._active: dict[str, Any] = {}
        self._calls: dict[tuple[str, str, str, int | None], Any] = {}
        self._queries: dict[tuple[str, str], Any] = {}
        self._pools: dict[str, tuple[Any, Any, Any, Any]] = {}
        self._caches: dict[tuple[str, bool], Any] = {}
        if process:
            _register_process_collectors(registry)

    # Each method reads its children from a dict; on a miss `_child` resolves them (bounded by
    # MAX_LABEL_SETS). Dicts are read and written without a lock: a race resolves a child twice,
    # and prometheus_client returns the same child both times.

    def request_started(self, method: str) -> None:
        """An HTTP request came in: one more in flight."""
        gauge = self._active.get(method)
        if gauge is None:
            gauge = self._child(self._active, method, self.http_active, (_method(method),))
        gauge.inc()

    def request_finished(
        self,
        method: str,
        route: str,
        status: int,
        duration_s: float,
        request_bytes: int,
        response_bytes: int,
    ) -> None:
        """An HTTP request was answered: its duration and body sizes, one fewer in flight.
        ``route`` is the route template (``/items/{id}``), never the raw path."""
        key = (method, route, status)
        children = self._requests.get(key)
        if children is None:
            children = self._request_children(key)
        duration, request_size, response_size = children
        duration.observe(duration_s)
        request_size.observe(request_bytes)
        response_size.observe(response_bytes)
        gauge = self._active.get(method)
        if gauge is None:
            gauge = self._child(self._active, method, self.http_active, (_method(method),))
        gauge.dec()

    def _request_children(self, key: tuple[str, str, int]) -> tuple[Any, Any, Any]:
        method, route, status = key
        full = len(self._requests) >= self.max_label_sets
        if full:
            route = "_OTHER"
        labels = (_method(method), route, str(status))
        children = (
            self.http_duration.labels(*labels),
            self.http_request_size.labels(*labels),
            self.http_response_size.labels(*labels),
        )
        if not full:
            self._requests[key] = children
        return children

    def outgoing_call(
        self, system: str, target: str, method: str, status: int | None, duration_s: float
    ) -> None:
        """An outgoing call ended: ``system`` is the client (``httpx``, ``requests``),
        ``target`` the server's host (not the URL), ``status`` None when there was no answer."""
        key = (system, target, method, status)
        child = self._calls.get(key)
        if child is None:
            code = "" if status is None else str(status)
            labels = (system, target, _method(method), code)
            child = self._child(self._calls, key, self.client_duration, labels, overflow=1)
        child.observe(duration_s)

    def db_query(self, system: str, operation: str, duration_s: float) -> None:
        """A database operation ended: ``system`` as ``postgresql``, ``sqlite``; ``operation``
        the SQL verb (``SELECT``), never the statement."""
        key = (system, operation)
        child = self._queries.get(key)
        if child is None:
            child = self._child(self._queries, key, self.db_duration, key, overflow=1)
        child.observe(duration_s)

    def pool_usage(self, pool: str, checked_out: int, size: int, overflow: int) -> None:
        """A connection pool's state, as SQLAlchemy's ``QueuePool`` reports it: ``overflow``
        is ``QueuePool.overflow()``, connections opened beyond ``size`` (negative while the
        pool has not opened ``size`` connections yet), so open = size + overflow."""
        children = self._pools.get(pool)
        if children is None:
            children = self._pool_children(pool)
        used, idle, maximum, over = children
        used.set(checked_out)
        idle.set(max(size + overflow - checked_out, 0))
        maximum.set(size)
        over.set(max(overflow, 0))

    def _pool_children(self, pool: str) -> tuple[Any, Any, Any, Any]:
        full = len(self._pools) >= self.max_label_sets
        label = "_OTHER" if full else pool
        children = (
            self.db_connections.labels(label, "used"),
            self.db_connections.labels(label, "idle"),
            self.db_connections_max.labels(label),
            self.db_connections_overflow.labels(label),
        )
        if not full:
            self._pools[pool] = children
        return children

    def cache_hit(self, cache: str = "default") -> None:
        """Count a cache lookup that found its value."""
        child = self._caches.get((cache, True))
        if child is None:
            child = self._cache_child(cache, hit=True)
        child.inc()

    def cache_miss(self, cache: str = "default") -> None:
        """Count a cache lookup that did not."""
        child = self._caches.get((cache, False))
        if child is None:
            child = self._cache_child(cache, hit=False)
        child.inc()

    def _cache_child(self, cache: str, *, hit: bool) -> Any:
        labels = (cache, "hit" if hit else "miss")
        return self._child(self._caches, (cache, hit), self.cache_requests, labels, overflow=0)

    def _child(
        self,
        cache: dict[_C, Any],
        key: _C,
        metric: Counter | Gauge | Histogram,
        labels: Sequence[str],
        *,
        overflow: int = 0,
    ) -> Any:
        """Resolve and remember a child; past ``max_label_sets`` the label at ``overflow``
        becomes ``_OTHER`` and nothing more is remembered."""
        if len(cache) >= self.max_label_sets:
            values = list(labels)
            values[overflow] = "_OTHER"
            return metric.labels(*values)
        child = metric.labels(*labels)
        cache[key] = child
        return child


def _make(spec: MetricName, registry: CollectorRegistry) -> Any:
    if spec.kind == "histogram":
        return Histogram(spec.name, spec.help, spec.labels, registry=registry, buckets=spec.buckets)
    kind: type[Counter | Gauge] = Counter if spec.kind == "counter" else Gauge
    return kind(spec.name, spec.help, spec.labels, registry=registry)


def _register_process_collectors(registry: CollectorRegistry) -> None:
    """CPU, memory, file descriptors (/proc), GC and the Python version, as prometheus_client
    exports them; threads, and on systems without /proc the rest, from psutil if installed.
    ``REGISTRY`` has prometheus_client's own from its import: those are not registered twice."""
    if registry is not REGISTRY:
        for make in (ProcessCollector, GCCollector, PlatformCollector):
            with contextlib.suppress(ValueError):  # already there
                make(registry=registry)
    try:
        collector = ResourceCollector()
    except ImportError:
        return
    with contextlib.suppress(ValueError):
        registry.register(collector)


class ResourceCollector(Collector):
    """What prometheus_client's process collector lacks, from psutil: ``process_threads``
    everywhere, and CPU seconds, resident and virtual memory, open files and start time
    where there is no /proc to read (macOS, Windows)."""

    def __init__(self) -> None:
        import psutil  # type: ignore[import-untyped]  # noqa: PLC0415 - optional dependency

        self._process = psutil.Process()
        self._all = not os.path.exists("/proc/self/stat")

    def describe(self) -> Iterable[GaugeMetricFamily]:
        return list(self._families(sample=False))

    def collect(self) -> Iterable[GaugeMetricFamily]:
        try:
            return list(self._families(sample=True))
        except Exception:  # a process collector must never break a scrape
            return []

    def _families(self, *, sample: bool) -> Iterator[GaugeMetricFamily]:
        process = self._process
        yield _gauge("process_threads", "Threads of the process.", sample, process.num_threads)
        if not self._all:
            return
        cpu = CounterMetricFamily(
            "process_cpu_seconds", "Total user and system CPU time spent in seconds."
        )
        if sample:
            times = process.cpu_times()
            cpu.add_metric([], times.user + times.system)
        yield cpu  # type: ignore[misc]
        memory = process.memory_info
        yield _gauge(
            "process_resident_memory_bytes",
            "Resident memory size in bytes.",
            sample,
            lambda: memory().rss,
        )
        yield _gauge(
            "process_virtual_memory_bytes",
            "Virtual memory size in bytes.",
            sample,
            lambda: memory().vms,
        )
        yield _gauge(
            "process_start_time_seconds",
            "Start time of the process since unix epoch in seconds.",
            sample,
            process.create_time,
        )


def _gauge(name: str, help: str, sample: bool, value: Callable[[], float]) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, help)
    if sample:
        family.add_metric([], float(value()))
    return family


# -- the default registry's standard metrics: what the integrations call ---------------------

_standard: WeakKeyDictionary[CollectorRegistry, Metrics] = WeakKeyDictionary()
_standard_lock = threading.Lock()


class _Default:
    __slots__ = ("metrics",)

    def __init__(self) -> None:
        self.metrics: Metrics | None = None


_DEFAULT: Final = _Default()


def standard(registry: CollectorRegistry | None = None) -> Metrics:
    """The standard metrics of ``registry`` (``REGISTRY`` by default), registered on first use:
    importing watchkeeper registers nothing."""
    registry = REGISTRY if registry is None else registry
    found = _standard.get(registry)
    if found is None:
        with _standard_lock:
            found = _standard.get(registry)
            if found is None:
                found = _standard[registry] = Metrics(registry)
    if registry is REGISTRY:
        _DEFAULT.metrics = found
    return found


def request_started(method: str) -> None:
    """See :meth:`Metrics.request_started`; on the default registry."""
    (_DEFAULT.metrics or standard()).request_started(method)


def request_finished(
    method: str, route: str, status: int, duration_s: float, request_bytes: int, response_bytes: int
) -> None:
    """See :meth:`Metrics.request_finished`; on the default registry."""
    (_DEFAULT.metrics or standard()).request_finished(
        method, route, status, duration_s, request_bytes, response_bytes
    )


def outgoing_call(
    system: str, target: str, method: str, status: int | None, duration_s: float
) -> None:
    """See :meth:`Metrics.outgoing_call`; on the default registry."""
    (_DEFAULT.metrics or standard()).outgoing_call(system, target, method, status, duration_s)


def db_query(system: str, operation: str, duration_s: float) -> None:
    """See :meth:`Metrics.db_query`; on the default registry."""
    (_DEFAULT.metrics or standard()).db_query(system, operation, duration_s)


def pool_usage(pool: str, checked_out: int, size: int, overflow: int) -> None:
    """See :meth:`Metrics.pool_usage`; on the default registry."""
    (_DEFAULT.metrics or standard()).pool_usage(pool, checked_out, size, overflow)


def cache_hit(cache: str = "default") -> None:
    """Count a cache hit (``cache_requests_total{result="hit"}``); hit rate is hits over all.

    >>> cache_hit("embeddings")
    """
    (_DEFAULT.metrics or standard()).cache_hit(cache)


def cache_miss(cache: str = "default") -> None:
    """Count a cache miss (``cache_requests_total{result="miss"}``)."""
    (_DEFAULT.metrics or standard()).cache_miss(cache)


_llm_children: dict[tuple[str, str, str, str], tuple[Any, Any, Any, Any]] = {}
_llm_made: list[Any] = []


def llm_call(
    operation: str,
    provider: str,
    model: str,
    error_type: str,
    duration_s: float,
    input_tokens: int | None,
    output_tokens: int | None,
    ttft_s: float | None,
) -> None:
    """An LLM call ended (the reserved :data:`GEN_AI` histograms, on the default registry,
    registered on first use): its duration, its tokens when the provider reported them, and the
    time to the first chunk of a stream. ``error_type`` is "" for a success.

    >>> llm_call("chat", "openai", "gpt-4o", "", 1.2, 812, 64, None)
    """
    key = (operation, provider, model, error_type)
    children = _llm_children.get(key)
    if children is None:
        with _standard_lock:
            if not _llm_made:
                _llm_made.extend(
                    _make(GEN_AI[name], REGISTRY)
                    for name in (
                        "gen_ai_client_operation_duration_seconds",
                        "gen_ai_client_token_usage",
                        "gen_ai_server_time_to_first_token_seconds",
                    )
                )
        duration, tokens, ttft = _llm_made
        full = len(_llm_children) >= MAX_LABEL_SETS
        # A model name per tenant or per fine-tune must not grow the scrape without bound.
        labels = (operation, provider, "_OTHER" if full else model)
        children = (
            duration.labels(*labels, error_type),
            tokens.labels(*labels, "input"),
            tokens.labels(*labels, "output"),
            ttft.labels(*labels),
        )
        if not full:
            _llm_children[key] = children
    children[0].observe(duration_s)
    if input_tokens is not None:
        children[1].observe(input_tokens)
    if output_tokens is not None:
        children[2].observe(output_tokens)
    if ttft_s is not None:
        children[3].observe(ttft_s)


# -- business metrics in a line -------------------------------------------------------------

_made: WeakKeyDictionary[CollectorRegistry, dict[str, Counter | Gauge | Histogram]] = (
    WeakKeyDictionary()
)
_made_lock = threading.Lock()
_M = TypeVar("_M", Counter, Gauge, Histogram)


def _get_or_make(
    kind: type[_M],
    name: str,
    help: str,
    labels: Iterable[str],
    unit: str,
    registry: CollectorRegistry | None,
    **extra: Any,
) -> _M:
    registry = REGISTRY if registry is None else registry
    labelnames = tuple(labels)
    # Counter drops a `_total` suffix from its name: "x" and "x_total" are the same counter.
    key = name.removesuffix("_total") if kind is Counter else name
    with _made_lock:
        made = _made.setdefault(registry, {})
        found = made.get(key)
        if found is None:
            found = kind(name, help, labelnames, unit=unit, registry=registry, **extra)
            made[key] = found
    if type(found) is not kind or tuple(found._labelnames) != labelnames:
        raise ValueError(
            f"metric {name!r} already exists as a {type(found).__name__.lower()} with labels "
            f"{tuple(found._labelnames)}; asked for a {kind.__name__.lower()} with {labelnames}"
        )
    return found


def counter(
    name: str,
    help: str,
    labels: Iterable[str] = (),
    *,
    unit: str = "",
    registry: CollectorRegistry | None = None,
) -> Counter:
    """A Prometheus ``Counter``, created on first call and the same object on every later one
    (so it can be asked for where it is used). Name it ``<what>_total``.

    >>> counter("signups_total", "Accounts created.", ["plan"]).labels("pro").inc()
    """
    return _get_or_make(Counter, name, help, labels, unit, registry)


def gauge(
    name: str,
    help: str,
    labels: Iterable[str] = (),
    *,
    unit: str = "",
    registry: CollectorRegistry | None = None,
) -> Gauge:
    """A Prometheus ``Gauge``, created once (see :func:`counter`).

    >>> gauge("queue_depth", "Jobs waiting.").set(3)
    """
    return _get_or_make(Gauge, name, help, labels, unit, registry)


def histogram(
    name: str,
    help: str,
    labels: Iterable[str] = (),
    *,
    buckets: Sequence[float] = DURATION_BUCKETS,
    unit: str = "",
    registry: CollectorRegistry | None = None,
) -> Histogram:
    """A Prometheus ``Histogram``, created once (see :func:`counter`). The default buckets
    are :data:`DURATION_BUCKETS` (5 ms to 5 min); pass ``buckets=`` for anything else.

    >>> histogram("rag_retrieval_seconds", "Retrieval time.", ["index"]).labels("docs").observe(0.2)
    """
    return _get_or_make(Histogram, name, help, labels, unit, registry, buckets=tuple(buckets))


# -- /metrics ------------------------------------------------------------------------------


def metrics_asgi_app(registry: CollectorRegistry | None = None) -> Callable[..., Any]:
    """An ASGI app serving ``registry`` in the Prometheus text format (OpenMetrics when the
    scraper asks for it; gzip when accepted): ``app.mount("/metrics", metrics_asgi_app())``."""
    return make_asgi_app(standard(registry).registry)


def metrics_wsgi_app(registry: CollectorRegistry | None = None) -> Callable[..., Any]:
    """A WSGI app serving ``registry``, as :func:`metrics_asgi_app` (Flask: mount with
    ``werkzeug.middleware.dispatcher.DispatcherMiddleware``)."""
    return make_wsgi_app(standard(registry).registry)


class MetricsServer:
    """A ``/metrics`` HTTP server on its own daemon thread; :meth:`close` stops it."""

    def __init__(self, port: int, addr: str, registry: CollectorRegistry) -> None:
        self._server, self._thread = start_http_server(port, addr, registry)
        self.port: int = self._server.server_address[1]
        self.url = f"http://{addr}:{self.port}/metrics"

    def close(self) -> None:
        """Stop serving and release the port."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


def start_metrics_server(
    port: int, addr: str = "127.0.0.1", *, registry: CollectorRegistry | None = None
) -> MetricsServer:
    """Serve ``/metrics`` on ``addr:port`` from a daemon thread, for apps without a web
    framework (workers, batch jobs). Binds to localhost unless told otherwise; port 0 picks
    a free one.

    >>> server = start_metrics_server(0)
    >>> server.url.startswith("http://127.0.0.1:")
    True
    >>> server.close()
    """
    return MetricsServer(port, addr, standard(registry).registry)
