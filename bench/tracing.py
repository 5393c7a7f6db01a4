"""Tracing: the cost of a span on the app's thread, and how many spans/s one process sustains.

1. ``with watchkeeper.span(name, 5 attributes)``: on its own, with OpenTelemetry bridged (our
   provider installed: the state after ``watchkeeper.init()``), and attached to an app's own
   OpenTelemetry SDK provider; an OpenTelemetry-API span through our provider; against the
   OpenTelemetry SDK + BatchSpanProcessor + OTLP/HTTP exporter, in the same run. Each section
   runs in a fresh interpreter (OpenTelemetry's global provider is set once per process).
2. Sustained rate: a paced producer steps its rate up; for each step we report the rate it
   reached and whether any span was dropped. Sent to a counting HTTP sink (measures the SDK:
   build, encode, gzip, send on the background thread, sharing the GIL with the producer) and to
   a real ``watchkeeper serve`` (bounded by the server's ingest).

Usage: ``python bench/tracing.py``.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
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
SPAN = (
    "with span('llm.chat', model='gpt-4o', provider='openai', tokens=120, temperature=0.2,"
    " stream=False):\n    pass"
)
OTEL_SPAN = (
    "with start('llm.chat') as s:\n"
    "    s.set_attribute('model', 'gpt-4o'); s.set_attribute('provider', 'openai')\n"
    "    s.set_attribute('tokens', 120); s.set_attribute('temperature', 0.2)\n"
    "    s.set_attribute('stream', False)"
)
STEPS = (25_000, 50_000, 75_000, 100_000, 125_000, 150_000, 200_000)
STEP_SECONDS = 3.0


def _init(url: str, key: str) -> Any:
    import watchkeeper

    return watchkeeper.init(endpoint=url, key=key, service="bench", spool_dir=tempfile.mkdtemp())


def section_span(url: str, key: str, mode: str) -> list[dict[str, Any]]:
    """watchkeeper.span with 5 attributes; ``mode``: plain, bridged, attached, otel-api."""
    import watchkeeper
    from watchkeeper.sdk import otel

    client = _init(url, key)
    namespace: dict[str, Any] = {"span": watchkeeper.span}
    stmt, name = SPAN, f"watchkeeper.span + 5 attributes ({mode})"
    if mode == "attached":
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider as SDKProvider

        trace.set_tracer_provider(SDKProvider())
    if mode != "plain":
        otel.install()
    if mode == "otel-api":
        from opentelemetry import trace

        namespace = {"start": trace.get_tracer("bench").start_as_current_span}
        stmt, name = OTEL_SPAN, "OpenTelemetry-API span + 5 set_attribute, our provider"
    timing = time_statement(
        name, stmt, namespace, n=N, repeats=REPEATS, after_repeat=lambda: client.flush(30)
    )
    client.flush(30)
    stats = client.stats()
    client.shutdown()
    return [timing.as_dict() | {"stats": stats}]


def section_otel(url: str) -> list[dict[str, Any]]:
    from sdk_overhead import section_otel as otel_sdk

    return otel_sdk(url)


def section_sustained(url: str, key: str) -> list[dict[str, Any]]:
    """Step the rate up; each step runs STEP_SECONDS, then flushes and reads the counters."""
    import watchkeeper

    client = _init(url, key)
    span = watchkeeper.span
    results = []
    sent_before = dropped_before = 0
    for rate in STEPS:
        tick = 0.005
        per_tick = max(1, int(rate * tick))
        produced = 0
        start = time.perf_counter()
        next_tick = start
        end = start + STEP_SECONDS
        while True:
            now = time.perf_counter()
            if now >= end:
                break
            if now < next_tick:
                time.sleep(next_tick - now)
            for _ in range(per_tick):
                with span("llm.chat", model="gpt-4o", provider="openai", tokens=120):
                    pass
            produced += per_tick
            next_tick += tick
        elapsed = time.perf_counter() - start
        flushed = client.flush(60)
        stats = client.stats()
        sent, dropped = stats["sent"] - sent_before, stats["dropped"] - dropped_before
        sent_before, dropped_before = stats["sent"], stats["dropped"]
        results.append(
            {
                "target_per_s": rate,
                "produced_per_s": round(produced / elapsed),
                "produced": produced,
                "sent": sent,
                "dropped": dropped,
                "flushed": flushed,
            }
        )
        if dropped or produced / elapsed < rate * 0.95:
            break
    client.shutdown()
    return results


def best(steps: list[dict[str, Any]]) -> int:
    """The highest rate reached with nothing dropped and everything sent."""
    clean = [
        s["produced_per_s"]
        for s in steps
        if s["dropped"] == 0 and s["sent"] == s["produced"]
        and s["produced_per_s"] >= s["target_per_s"] * 0.95
    ]  # fmt: skip
    return max(clean, default=0)


def main() -> dict[str, Any]:
    with counting_sink() as sink_url, tempfile.TemporaryDirectory() as data:
        server = WatchkeeperServer(Path(data))
        try:
            rows = {
                mode: child(__file__, "span", server.url, server.ingest_key, mode)[0]
                for mode in ("plain", "bridged", "attached", "otel-api")
            }
            rows["opentelemetry-sdk"] = child(__file__, "opentelemetry", sink_url)[0]
            sustained_sink = child(__file__, "sustained", sink_url, "bench-key")
            sustained_server = child(__file__, "sustained", server.url, server.ingest_key)
            stored = server.count("span")
        finally:
            server.stop()
    otel_ns = rows["opentelemetry-sdk"]["median_ns"]
    result = {
        "benchmark": "tracing",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "versions": versions("watchkeeper", "opentelemetry-sdk", "opentelemetry-api"),
        "method": (
            f"{N} spans per repeat x {REPEATS} repeats, untimed flush after each, median wall "
            "ns/call; watchkeeper sends to a real watchkeeper serve, OpenTelemetry to a local "
            f"counting sink. Sustained: paced producer, {STEP_SECONDS:.0f} s per step, spans "
            "with 3 attributes, then flush; stops at the first step with drops or a missed pace"
        ),
        "rows": rows,
        "ratios": {
            f"otel_sdk / {mode}": round(otel_ns / rows[mode]["median_ns"], 1)
            for mode in ("plain", "bridged", "attached", "otel-api")
        },
        "sustained": {
            "to_counting_sink": sustained_sink,
            "to_watchkeeper_serve": sustained_server,
            "best_to_counting_sink_per_s": best(sustained_sink),
            "best_to_watchkeeper_serve_per_s": best(sustained_server),
            "stored_by_server": stored,
        },
    }
    write_result("tracing", result)
    return result


def summary(result: dict[str, Any]) -> str:
    """Markdown lines for bench/results/README.md."""
    rows, ratios, sustained = result["rows"], result["ratios"], result["sustained"]
    otel = rows["opentelemetry-sdk"]
    lines = [
        "## Tracing (`bench/tracing.py`)",
        "",
        "| what | ns/call (caller CPU) | OpenTelemetry SDK + BSP + OTLP / this |",
        "|---|---:|---:|",
    ]
    labels = {
        "plain": "`watchkeeper.span`, 5 attributes",
        "bridged": "same, our OpenTelemetry provider installed (after `init()`)",
        "attached": "same, joined to the app's own OpenTelemetry SDK provider",
        "otel-api": "OpenTelemetry-API span + 5 attributes through our provider",
    }
    for mode, label in labels.items():
        row = rows[mode]
        lines.append(
            f"| {label} | {row['median_ns']:,.0f} ({row['thread_cpu_ns']:,.0f}) | "
            f"{ratios[f'otel_sdk / {mode}']}× |"
        )
    lines += [
        f"| OpenTelemetry SDK + BatchSpanProcessor + OTLP/HTTP, 5 attributes | "
        f"{otel['median_ns']:,.0f} ({otel['thread_cpu_ns']:,.0f}) | 1× |",
        "",
        f"Sustained from one process with 0 dropped: **{sustained['best_to_counting_sink_per_s']:,}"
        f" spans/s** to a counting HTTP sink (target ≥ 100,000/s), "
        f"{sustained['best_to_watchkeeper_serve_per_s']:,} spans/s to a real `watchkeeper serve`.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sections = {"span": section_span, "opentelemetry": section_otel, "sustained": section_sustained}
    if not run_section(sections):
        outcome = main()
        print(summary(outcome))
        print(json.dumps(outcome["sustained"], indent=2))
