"""Cost of reporting an exception on the app's thread: ``watchkeeper.capture_exception`` against
``sentry_sdk.capture_exception``, in the same run.

The exception is fresh each call and raised 3 frames deep (raise + catch alone is timed too).
Each SDK runs in its own fresh interpreter (sentry patches globals) and sends to the same local
counting sink; each repeat's ``n`` stays below the SDK's queue (sentry's holds 100 envelopes)
and an untimed flush follows it, so nothing is dropped. Usage: ``python bench/errors.py``.
"""

from __future__ import annotations

import json
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import child, counting_sink, run_section, time_statement, versions, write_result

TARGET_NS = 100_000
STMT = "try:\n    f1()\nexcept ValueError as exc:\n    capture(exc)"


def _frames() -> dict[str, Any]:
    def f3() -> None:
        raise ValueError("order 42 could not be charged")

    def f2() -> None:
        f3()

    def f1() -> None:
        f2()

    return {"f1": f1}


def section_reference() -> list[dict[str, Any]]:
    namespace = _frames() | {"capture": lambda exc: None}
    return [
        time_statement("raise + catch, 3 frames", STMT, namespace, n=20_000, repeats=7).as_dict()
    ]


def section_watchkeeper(url: str) -> list[dict[str, Any]]:
    import watchkeeper

    watchkeeper.init(endpoint=url, key="bench", service="bench", spool_dir=tempfile.mkdtemp())
    namespace = _frames() | {"capture": watchkeeper.capture_exception}
    timing = time_statement(
        "watchkeeper.capture_exception", STMT, namespace, n=2_000, repeats=20,
        after_repeat=lambda: watchkeeper.flush(60),
    )  # fmt: skip
    flushed = watchkeeper.flush(60)
    stats = watchkeeper.stats()
    watchkeeper.shutdown()
    return [timing.as_dict() | {"stats": stats, "flushed": flushed}]


def section_sentry(url: str) -> list[dict[str, Any]]:
    import sentry_sdk

    host = url.removeprefix("http://")
    sentry_sdk.init(dsn=f"http://public@{host}/1", traces_sample_rate=0.0)
    namespace = _frames() | {"capture": sentry_sdk.capture_exception}
    timing = time_statement(
        "sentry_sdk.capture_exception", STMT, namespace, n=50, repeats=20,
        after_repeat=lambda: sentry_sdk.flush(60),
    )  # fmt: skip
    sentry_sdk.flush(60)
    return [timing.as_dict()]


def main() -> dict[str, Any]:
    with counting_sink() as url:
        rows = {
            "reference": child(__file__, "reference"),
            "watchkeeper": child(__file__, "watchkeeper", url),
            "sentry": child(__file__, "sentry", url),
        }
    ours, theirs = rows["watchkeeper"][0], rows["sentry"][0]
    result = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "versions": versions("sentry-sdk"),
        "method": "median wall ns per call over the repeats, caller-thread CPU beside it; "
        "a fresh ValueError raised 3 frames deep and caught each call; both SDKs send to one "
        "local counting sink, each in its own interpreter",
        "rows": rows,
        "ratio_sentry_over_watchkeeper": round(theirs["median_ns"] / ours["median_ns"], 1),
        "target_ns": TARGET_NS,
        "within_target": ours["median_ns"] <= TARGET_NS,
    }
    write_result("errors", result)
    return result


def summary(result: dict[str, Any]) -> str:
    rows = result["rows"]
    ours, theirs = rows["watchkeeper"][0], rows["sentry"][0]
    return "\n".join(
        [
            "## Error capture on the app's thread (median wall ns per call; caller CPU in brackets)",
            "",
            "| what | ns/call | anchor | anchor ns/call | ratio | target |",
            "|---|---:|---|---:|---:|---|",
            f"| `watchkeeper.capture_exception`, fresh exception 3 frames deep | "
            f"{ours['median_ns']:,.0f} ({ours['thread_cpu_ns']:,.0f}) | sentry-sdk "
            f"{result['versions']['sentry-sdk']} `capture_exception` | {theirs['median_ns']:,.0f} | "
            f"{result['ratio_sentry_over_watchkeeper']}× | ≤ {result['target_ns']:,} ns |",
            f"| raise + catch alone | {rows['reference'][0]['median_ns']:,.0f} | | | | |",
            "",
        ]
    )


if __name__ == "__main__":
    sections = {"reference": section_reference, "watchkeeper": section_watchkeeper,
                "sentry": section_sentry}  # fmt: skip
    if not run_section(sections):
        outcome = main()
        print(summary(outcome))
        print(json.dumps({k: v for k, v in outcome.items() if k != "rows"}))
