"""Cost on the app's thread of a log line: watchkeeper's two doors vs structlog and the stdlib.

Same run, each section in a fresh interpreter (logging and structlog configuration is global):

- watchkeeper ``LoggingHandler`` (stdlib ``logger.info(..., extra=)``), shipped to a server;
- watchkeeper ``get_logger(name).info(..., **fields)``, shipped to a server;
- structlog + ``JSONRenderer(serializer=orjson.dumps)`` writing JSON to /dev/null (the fastest
  JSON setup of reference/perf-anchors.md);
- stdlib ``logging`` with a plain ``Formatter`` writing to /dev/null;
- and the disabled call (``debug`` at level INFO) of each.

watchkeeper ships to a local counting sink that answers 200 (as the posthog and OpenTelemetry
rows of sdk_overhead.py do), through the real HTTP transport, batcher and gzip.
Named logging_overhead.py, not logging.py: a bench/logging.py would shadow the stdlib's
``logging`` for every script run from bench/. Usage: ``python bench/logging_overhead.py``.
"""

from __future__ import annotations

import os
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import child, counting_sink, run_section, time_statement, versions, write_result

N, REPEATS = 2000, 20
SYNC_N, SYNC_REPEATS = 20_000, 15
FIELDS = {"plan": "pro", "seats": 3, "source": "bench"}


def section_reference() -> list[dict[str, Any]]:
    def f() -> None:
        pass

    return [time_statement("bare f()", "f()", {"f": f}, n=200_000, repeats=7).as_dict()]


def _watchkeeper(url: str) -> Any:
    import logging

    import watchkeeper
    from watchkeeper.sdk.logs import configure_logging

    watchkeeper.init(
        endpoint=url, key="bench", service="bench", spool_dir=tempfile.mkdtemp(), metrics_interval=0
    )
    configure_logging(logging.INFO, console=None, server=True)
    return watchkeeper


def section_handler(url: str) -> list[dict[str, Any]]:
    import logging

    wk = _watchkeeper(url)
    logger = logging.getLogger("bench")
    shipped = time_statement(
        "watchkeeper LoggingHandler: stdlib info(extra=3 fields), shipped",
        "info('user signed up', extra=fields)",
        {"info": logger.info, "fields": FIELDS},
        n=N,
        repeats=REPEATS,
        after_repeat=lambda: wk.flush(30),
    )
    disabled = time_statement(
        "watchkeeper LoggingHandler: stdlib debug() disabled",
        "debug('user signed up', extra=fields)",
        {"debug": logger.debug, "fields": FIELDS},
        n=SYNC_N * 10,
        repeats=SYNC_REPEATS,
    )
    stats = wk.stats()
    wk.shutdown()
    return [shipped.as_dict() | {"stats": stats}, disabled.as_dict()]


def section_fast(url: str) -> list[dict[str, Any]]:
    from watchkeeper.sdk.logs import get_logger

    wk = _watchkeeper(url)
    log = get_logger("bench")
    shipped = time_statement(
        "watchkeeper get_logger: info(3 fields), shipped",
        "info('user signed up', plan='pro', seats=3, source='bench')",
        {"info": log.info},
        n=N,
        repeats=REPEATS,
        after_repeat=lambda: wk.flush(30),
    )
    disabled = time_statement(
        "watchkeeper get_logger: debug() disabled",
        "debug('user signed up', plan='pro', seats=3, source='bench')",
        {"debug": log.debug},
        n=SYNC_N * 10,
        repeats=SYNC_REPEATS,
    )
    stats = wk.stats()
    wk.shutdown()
    return [shipped.as_dict() | {"stats": stats}, disabled.as_dict()]


def section_structlog() -> list[dict[str, Any]]:
    import logging

    import orjson
    import structlog

    devnull = open(os.devnull, "wb")  # noqa: SIM115 - open for the whole section
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.JSONRenderer(serializer=orjson.dumps),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
        logger_factory=structlog.BytesLoggerFactory(devnull),
        cache_logger_on_first_use=True,
    )
    log = structlog.get_logger()
    emitted = time_statement(
        "structlog JSONRenderer(orjson) to /dev/null: info(3 fields)",
        "info('user signed up', plan='pro', seats=3, source='bench')",
        {"info": log.info},
        n=SYNC_N,
        repeats=SYNC_REPEATS,
    )
    disabled = time_statement(
        "structlog filtering logger: debug() disabled",
        "debug('user signed up', plan='pro', seats=3, source='bench')",
        {"debug": log.debug},
        n=SYNC_N * 10,
        repeats=SYNC_REPEATS,
    )
    return [emitted.as_dict(), disabled.as_dict()]


def section_stdlib() -> list[dict[str, Any]]:
    import logging

    handler = logging.StreamHandler(open(os.devnull, "w"))  # noqa: SIM115
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    logger = logging.getLogger("bench")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    emitted = time_statement(
        "stdlib logging + Formatter to /dev/null: info(extra=3 fields)",
        "info('user signed up', extra=fields)",
        {"info": logger.info, "fields": FIELDS},
        n=SYNC_N,
        repeats=SYNC_REPEATS,
    )
    disabled = time_statement(
        "stdlib logging: debug() disabled",
        "debug('user signed up', extra=fields)",
        {"debug": logger.debug, "fields": FIELDS},
        n=SYNC_N * 10,
        repeats=SYNC_REPEATS,
    )
    return [emitted.as_dict(), disabled.as_dict()]


def main() -> dict[str, Any]:
    with counting_sink() as sink_url:
        rows = {
            "reference": child(__file__, "reference"),
            "watchkeeper_handler": child(__file__, "handler", sink_url),
            "watchkeeper_get_logger": child(__file__, "fast", sink_url),
            "structlog_orjson": child(__file__, "structlog"),
            "stdlib": child(__file__, "stdlib"),
        }
    fast, handler = rows["watchkeeper_get_logger"][0], rows["watchkeeper_handler"][0]

    def ratio(anchor: str, ours: dict[str, Any]) -> float:
        return round(rows[anchor][0]["median_ns"] / ours["median_ns"], 1)

    result = {
        "benchmark": "logging_overhead",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "versions": versions("watchkeeper", "structlog", "orjson"),
        "method": (
            f"watchkeeper rows: {N} calls per repeat x {REPEATS} repeats, untimed flush after each;"
            f" others and disabled calls: {SYNC_N:,} or more x {SYNC_REPEATS}; median wall ns/call"
        ),
        "rows": rows,
        "ratios": {
            "structlog_orjson / watchkeeper_get_logger": ratio("structlog_orjson", fast),
            "stdlib / watchkeeper_get_logger": ratio("stdlib", fast),
            "structlog_orjson / watchkeeper_handler": ratio("structlog_orjson", handler),
            "stdlib / watchkeeper_handler": ratio("stdlib", handler),
        },
    }
    write_result("logging_overhead", result)
    return result


def summary(result: dict[str, Any]) -> str:
    """The section of bench/results/README.md for this benchmark."""
    rows = result["rows"]

    lines = [
        "## Logging: cost of a line on the app's thread",
        "",
        "Median wall ns per call; caller-thread CPU in brackets; the last column adds the",
        "background threads' CPU (building, redacting, encoding, sending), flush included.",
        "",
        "| what | emitted | disabled | process CPU per emitted line |",
        "|---|---:|---:|---:|",
    ]
    for label, key in (
        (
            "watchkeeper `get_logger(…).info(…, 3 fields)`, JSON line shipped",
            "watchkeeper_get_logger",
        ),
        (
            "watchkeeper `LoggingHandler`, stdlib `info(…, extra=3 fields)` shipped",
            "watchkeeper_handler",
        ),
        (
            f"structlog {result['versions']['structlog']} + orjson JSON to /dev/null",
            "structlog_orjson",
        ),
        ("stdlib `logging` + plain `Formatter` to /dev/null", "stdlib"),
    ):
        emitted, disabled = rows[key]
        lines.append(
            f"| {label} | {emitted['median_ns']:,.0f} ({emitted['thread_cpu_ns']:,.0f}) "
            f"| {disabled['median_ns']:,.0f} | {emitted['process_cpu_ns']:,.0f} |"
        )
    ratios = result["ratios"]
    lines += [
        "",
        f"{result['method']}. Shipped lines went through the real transport to a local sink (target"
        f" ≤ 3,000 ns). structlog+orjson / get_logger: "
        f"{ratios['structlog_orjson / watchkeeper_get_logger']}×; stdlib / get_logger: "
        f"{ratios['stdlib / watchkeeper_get_logger']}×.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sections = {
        "reference": section_reference,
        "handler": section_handler,
        "fast": section_fast,
        "structlog": section_structlog,
        "stdlib": section_stdlib,
    }
    if not run_section(sections):
        result = main()
        print(summary(result))
