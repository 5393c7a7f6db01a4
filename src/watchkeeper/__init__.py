"""watchkeeper: monitoring and analytics for LLM-powered Python apps.

>>> import watchkeeper
>>> watchkeeper.init(endpoint="http://127.0.0.1:7321", key="wk_...")  # doctest: +SKIP
>>> watchkeeper.track("signup", user_id="u1", properties={"plan": "pro"})
>>> with watchkeeper.span("llm.chat", model="gpt-4o"):
...     pass

Importing this package starts nothing: no thread, no file, no connection until ``init()``.
The integrations import the library they hook into only when called.
"""

from watchkeeper.sdk.breadcrumbs import add_breadcrumb
from watchkeeper.sdk.client import Client, flush, init, shutdown, stats, track
from watchkeeper.sdk.context import bind
from watchkeeper.sdk.errors import capture_exception, capture_message
from watchkeeper.sdk.integrations.asgi import WatchkeeperMiddleware as ASGIMiddleware
from watchkeeper.sdk.integrations.httpx import instrument_httpx
from watchkeeper.sdk.integrations.llm import instrument, instrument_llms
from watchkeeper.sdk.integrations.requests import instrument_requests
from watchkeeper.sdk.integrations.sqlalchemy import instrument_sqlalchemy
from watchkeeper.sdk.integrations.wsgi import WatchkeeperMiddleware as WSGIMiddleware
from watchkeeper.sdk.logs import LoggingHandler, StructlogProcessor, configure_logging, get_logger
from watchkeeper.sdk.metrics import (
    cache_hit,
    cache_miss,
    counter,
    gauge,
    histogram,
    metrics_asgi_app,
    metrics_wsgi_app,
    start_metrics_server,
)
from watchkeeper.sdk.traces import span, trace

__version__ = "0.1.0"

__all__ = [
    "ASGIMiddleware",
    "Client",
    "LoggingHandler",
    "StructlogProcessor",
    "WSGIMiddleware",
    "add_breadcrumb",
    "bind",
    "cache_hit",
    "cache_miss",
    "capture_exception",
    "capture_message",
    "configure_logging",
    "counter",
    "flush",
    "gauge",
    "get_logger",
    "histogram",
    "init",
    "instrument",
    "instrument_httpx",
    "instrument_llms",
    "instrument_requests",
    "instrument_sqlalchemy",
    "metrics_asgi_app",
    "metrics_wsgi_app",
    "shutdown",
    "span",
    "start_metrics_server",
    "stats",
    "trace",
    "track",
]
