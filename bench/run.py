"""Run every benchmark and summarise bench/results/ in bench/results/README.md (``make bench``)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import alerts
import errors
import ingest_throughput
import llm
import logging_overhead
import middleware
import sdk_overhead
import tracing
from harness import RESULTS


def summary(overhead: dict, ingest: dict) -> str:  # type: ignore[type-arg]
    rows = overhead["rows"]
    track, span = rows["watchkeeper"]
    lines = [
        "# Benchmark results",
        "",
        f"Written by `make bench` on {overhead['date']} ({overhead['versions']['machine']}, "
        f"Python {overhead['versions']['python']}). Raw figures: the JSON files beside this one.",
        "",
        "## Cost on the app's thread (median wall ns per call; caller-thread CPU in brackets)",
        "",
        "| what | ns/call | anchor | anchor ns/call | ratio | target |",
        "|---|---:|---|---:|---:|---|",
        f"| `watchkeeper.track` | {track['median_ns']:,.0f} ({track['thread_cpu_ns']:,.0f}) | posthog "
        f"{overhead['versions']['posthog']} `Client.capture` | {rows['posthog'][0]['median_ns']:,.0f} | "
        f"{overhead['ratios']['posthog_capture / watchkeeper_track']}× | ≥ 20× |",
        f"| `with watchkeeper.span(…)` 5 attributes | {span['median_ns']:,.0f} ({span['thread_cpu_ns']:,.0f}) | "
        f"OpenTelemetry SDK {overhead['versions']['opentelemetry-sdk']} + BatchSpanProcessor + OTLP/HTTP | "
        f"{rows['opentelemetry'][0]['median_ns']:,.0f} | {overhead['ratios']['otel_span / watchkeeper_span']}× | ≥ 7× |",
        f"| bare `f()` (this machine's reference) | {rows['reference'][0]['median_ns']:,.1f} | | | | |",
        "",
        f"{overhead['method']}. watchkeeper sent to a real `watchkeeper serve`, which stored "
        f"{overhead['stored_by_server']['event']:,} events and {overhead['stored_by_server']['span']:,} spans; "
        "posthog and OpenTelemetry sent to a local counting sink.",
        "",
        "## End-to-end ingest",
        "",
        f"{ingest['method']}.",
        "",
        f"* **{ingest['records_per_second']:,} records/s** end to end ({ingest['records']:,} records in "
        f"{ingest['end_to_end_seconds']} s; target ≥ 50,000/s)",
        f"* stored {ingest['stored']:,}, lost {ingest['lost']}, SDK dropped {ingest['sdk_stats']['dropped']}",
        f"* the app's loop took {ingest['producer_seconds']} s to record them",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    overhead = sdk_overhead.main()
    ingest = ingest_throughput.main()
    logging_result = logging_overhead.main()
    text = summary(overhead, ingest) + "\n" + logging_overhead.summary(logging_result)
    tracing_result = tracing.main()
    text += "\n" + tracing.summary(tracing_result)
    middleware_result = middleware.main()
    text += "\n" + middleware.summary(middleware_result)
    errors_result = errors.main()
    text += "\n" + errors.summary(errors_result)
    alerts_result = alerts.main()
    text += "\n" + alerts.summary(alerts_result)
    llm_result = llm.main()
    text += "\n" + llm.summary(llm_result)
    (RESULTS / "README.md").write_text(text)
    print(text)
    print(json.dumps(overhead["ratios"]))
