"""watchkeeper: monitoring and analytics for LLM-powered Python apps.

>>> import watchkeeper
>>> watchkeeper.init(endpoint="http://127.0.0.1:7321", key="wk_...")  # doctest: +SKIP
>>> watchkeeper.track("signup", user_id="u1", properties={"plan": "pro"})
>>> with watchkeeper.span("llm.chat", model="gpt-4o"):
...     pass

Importing this package starts nothing: no thread, no file, no connection until ``init()``.
"""

from watchkeeper.sdk.client import Client, flush, init, shutdown, stats, track
from watchkeeper.sdk.traces import span

__version__ = "0.1.0"

__all__ = ["Client", "flush", "init", "shutdown", "span", "stats", "track"]
