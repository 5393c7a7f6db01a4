"""Cost on the app's thread: watchkeeper.track vs posthog's capture, watchkeeper.span vs OpenTelemetry.

Each section runs in its own fresh interpreter (sentry-style global patching and OTel's global
provider must not leak between them). watchkeeper sends to a real ``watchkeeper serve``; posthog
and OpenTelemetry send to a local counting sink. Usage: ``python bench/sdk_overhead.py``.
"""

from __future__ import annotations

import json
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import (
    WatchkeeperServer,
    child,
    counting_sink,
    run_section,
    time_statement,
    versions,
    write_result,
)

N, REPEATS = 2000, 20


def section_reference() -> list[dict[str, Any]]:
    def f() -> None:
        pass

    return [time_statement("bare f()", "f()", {"f": f}, n=200_000, repeats=7).as_dict()]


def section_watchkeeper(url: str, key: str) -> list[dict[str, Any]]:
    import watchkeeper

    spool = tempfile.mkdtemp()
    watchkeeper.init(endpoint=url, key=key, service="bench", spool_dir=spool)
    props = {"plan": "pro", "source": "bench", "seats": 3}
    track = time_statement(
        "watchkeeper.track(name, user_id, 3 properties)",
        "track('signup', user_id='u1', properties=props)",
        {"track": watchkeeper.track, "props": props},
        n=N,
        repeats=REPEATS,
        after_repeat=lambda: watchkeeper.flush(30),
    )
    span = time_statement(
        "with watchkeeper.span(name, 5 attributes)",
        "with span('llm.chat', model='gpt-4o', provider='openai', tokens=120, temperature=0.2, stream=False):\n    pass",
        {"span": watchkeeper.span},
        n=N,
        repeats=REPEATS,
        after_repeat=lambda: watchkeeper.flush(30),
    )
    flushed = watchkeeper.flush(30)
    stats = watchkeeper.stats()
    watchkeeper.shutdown()
    return [
        track.as_dict() | {"stats": stats, "flushed": flushed},
        span.as_dict() | {"stats": stats},
    ]


def section_posthog(url: str) -> list[dict[str, Any]]:
    from posthog import Client

    client = Client("phc_bench", host=url)
    props = {"plan": "pro", "source": "bench", "seats": 3}
    timing = time_statement(
        "posthog Client.capture(event, distinct_id, 3 properties)",
        "capture('signup', distinct_id='u1', properties=props)",
        {"capture": client.capture, "props": props},
        n=N,
        repeats=REPEATS,
        after_repeat=client.flush,
    )
    client.shutdown()
    return [timing.as_dict()]


def section_otel(url: str) -> list[dict[str, Any]]:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{url}/v1/traces")))
    tracer = provider.get_tracer("bench")
    stmt = (
        "with start('llm.chat') as s:\n"
        "    s.set_attribute('model', 'gpt-4o'); s.set_attribute('provider', 'openai')\n"
        "    s.set_attribute('tokens', 120); s.set_attribute('temperature', 0.2)\n"
        "    s.set_attribute('stream', False)"
    )
    timing = time_statement(
        "OpenTelemetry SDK span + 5 attributes, BatchSpanProcessor + OTLP/HTTP",
        stmt,
        {"start": tracer.start_as_current_span},
        n=N,
        repeats=REPEATS,
        after_repeat=lambda: provider.force_flush(30_000),
    )
    provider.shutdown()
    return [timing.as_dict()]


def main() -> dict[str, Any]:
    with counting_sink() as sink_url, tempfile.TemporaryDirectory() as data:
        server = WatchkeeperServer(Path(data))
        try:
            rows = {
                "reference": child(__file__, "reference"),
                "watchkeeper": child(__file__, "watchkeeper", server.url, server.ingest_key),
                "posthog": child(__file__, "posthog", sink_url),
                "opentelemetry": child(__file__, "opentelemetry", sink_url),
            }
            stored = {"event": server.count("event"), "span": server.count("span")}
        finally:
            server.stop()
    track, span = rows["watchkeeper"]
    result = {
        "benchmark": "sdk_overhead",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "versions": versions(
            "watchkeeper",
            "posthog",
            "opentelemetry-sdk",
            "opentelemetry-exporter-otlp-proto-http",
            "duckdb",
        ),
        "method": f"{N} calls per repeat x {REPEATS} repeats, untimed flush after each; median wall ns/call",
        "rows": rows,
        "stored_by_server": stored,
        "ratios": {
            "posthog_capture / watchkeeper_track": round(
                rows["posthog"][0]["median_ns"] / track["median_ns"], 1
            ),
            "otel_span / watchkeeper_span": round(
                rows["opentelemetry"][0]["median_ns"] / span["median_ns"], 1
            ),
        },
    }
    write_result("sdk_overhead", result)
    return result


if __name__ == "__main__":
    sections = {
        "reference": section_reference,
        "watchkeeper": section_watchkeeper,
        "posthog": section_posthog,
        "opentelemetry": section_otel,
    }
    if not run_section(sections):
        print(json.dumps(main(), indent=2))
