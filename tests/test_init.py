from __future__ import annotations

import subprocess
import sys
import types

import watchkeeper

PUBLIC = [
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


def test_all_is_exactly_the_public_names_sorted() -> None:
    """__all__ lists exactly the public API, sorted, and every name exists."""
    assert watchkeeper.__all__ == PUBLIC == sorted(PUBLIC)
    assert all(hasattr(watchkeeper, name) for name in PUBLIC)
    public = {
        name
        for name, value in vars(watchkeeper).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    assert public == set(PUBLIC)


def test_version_is_outside_all() -> None:
    """__version__ is a string and not part of __all__."""
    assert isinstance(watchkeeper.__version__, str)
    assert "__version__" not in watchkeeper.__all__


def test_import_has_no_side_effects() -> None:
    """Importing watchkeeper starts no thread and registers no exit or fork hook."""
    script = (
        "import threading, watchkeeper\n"
        "from watchkeeper.sdk import batcher\n"
        "print(threading.active_count(), batcher._hooks_installed)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=30
    )
    assert done.stdout.split() == ["1", "False"]
