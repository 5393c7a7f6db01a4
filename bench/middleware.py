"""Requests/s of a small FastAPI app under load, without and with watchkeeper's ASGI middleware.

The app (one JSON route with a path parameter) runs on uvicorn in its own process; the load comes
from Debian's ``wrk`` (installed with apt-get when missing) or, failing that, a Python load
generator in another process. Three ways, run in turn, each several times (the median counts):

- ``plain``: no watchkeeper;
- ``middleware``: ``watchkeeper.init()`` and the middleware, FastAPI's own telemetry off;
- ``middleware + OpenTelemetry``: the same with our OpenTelemetry provider installed, so FastAPI's
  own telemetry also runs: its server span (which the middleware adds to) and its per-request
  operation spans (dependencies, endpoint, serialization).

watchkeeper sends to a local counting sink (not a server, whose ingest would compete for the two
cores; Nagle off, see harness.py); the sink runs in every mode. Usage: ``python bench/middleware.py``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import counting_sink, free_port, versions, wait_http, write_result

MODES = ("plain", "middleware", "middleware + OpenTelemetry")
ENDPOINTS = {
    "hello": "/items/1",  # the worst case: a route that does nothing, so only overhead shows
    "orders": "/orders/7",  # a realistic route: a SQLite query of 20 rows, returned as JSON
}
ROUNDS, SECONDS, CONNECTIONS = 3, 8, 32

APP = """
import os, sys, tempfile
import uvicorn
from fastapi import FastAPI

mode, port, sink = sys.argv[1], int(sys.argv[2]), sys.argv[3]
app = FastAPI(telemetry={"tracing": mode != "middleware"})
if mode != "plain":
    import watchkeeper
    from watchkeeper.sdk.integrations.asgi import WatchkeeperMiddleware
    watchkeeper.init(endpoint=sink, key="bench", service="bench", spool_dir=tempfile.mkdtemp())
    app.add_middleware(WatchkeeperMiddleware)
    if mode == "middleware + OpenTelemetry":
        from watchkeeper.sdk import otel
        otel.install()

@app.get("/items/{item_id}")
async def item(item_id: int) -> dict[str, object]:
    return {"id": item_id, "name": "pen", "price": 1.5}

import sqlite3
db = sqlite3.connect(":memory:", check_same_thread=False)
db.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, customer INTEGER, item TEXT, total REAL, at TEXT)")
db.executemany("INSERT INTO orders (customer, item, total, at) VALUES (?, ?, ?, ?)",
               [(n % 100, f"item {n}", n * 1.25, f"2026-11-{n % 28 + 1:02d}") for n in range(20000)])
db.execute("CREATE INDEX by_customer ON orders (customer)")

@app.get("/orders/{customer_id}")
def orders(customer_id: int) -> list[dict[str, object]]:
    rows = db.execute("SELECT id, item, total, at FROM orders WHERE customer = ? ORDER BY at DESC LIMIT 20",
                      (customer_id,)).fetchall()
    return [{"id": i, "item": item, "total": total, "at": at} for i, item, total, at in rows]

@app.get("/stats")
async def stats() -> dict[str, int]:
    import watchkeeper
    watchkeeper.flush(30)
    return watchkeeper.stats()

uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
"""

LOADGEN = """
import sys, time, threading, http.client
host, port, seconds, conns, path = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
done = [0]
lock = threading.Lock()
def run():
    c = http.client.HTTPConnection(host, port)
    n = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        c.request("GET", path)
        c.getresponse().read()
        n += 1
    with lock:
        done[0] += n
threads = [threading.Thread(target=run) for _ in range(conns)]
start = time.monotonic()
for t in threads: t.start()
for t in threads: t.join()
print(done[0] / (time.monotonic() - start))
"""


def ensure_wrk() -> str | None:
    """wrk's path, installing Debian's package when possible; None when it cannot be had."""
    found = shutil.which("wrk")
    if found is None and shutil.which("apt-get") and os.geteuid() == 0:
        subprocess.run(["apt-get", "install", "-y", "wrk"], capture_output=True, check=False)
        found = shutil.which("wrk")
    return found


def load(wrk: str | None, port: int, seconds: float, path: str) -> float:
    """Requests/s the app answered for ``seconds`` of load."""
    if wrk is not None:
        done = subprocess.run(
            [wrk, "-t1", f"-c{CONNECTIONS}", f"-d{seconds:.0f}s", f"http://127.0.0.1:{port}{path}"],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        match = re.search(r"Requests/sec:\s+([\d.]+)", done.stdout)
        if match is None or "Non-2xx" in done.stdout or "Socket errors" in done.stdout:
            raise RuntimeError(f"wrk: {done.stdout}")
        return float(match.group(1))
    done = subprocess.run(
        [sys.executable, "-c", LOADGEN, "127.0.0.1", str(port), str(seconds), "8", path],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return float(done.stdout.strip())


def run_mode(mode: str, sink_url: str, wrk: str | None, path: str) -> dict[str, Any]:
    port = free_port()
    app = subprocess.Popen([sys.executable, "-c", APP, mode, str(port), sink_url])
    try:
        wait_http(f"http://127.0.0.1:{port}/items/1", 30)
        load(wrk, port, 2, path)  # warm-up
        rate = load(wrk, port, SECONDS, path)
        stats = None
        if mode != "plain":
            import urllib.request

            with urllib.request.urlopen(f"http://127.0.0.1:{port}/stats", timeout=60) as reply:
                stats = json.load(reply)
    finally:
        app.terminate()
        app.wait(30)
    return {"requests_per_s": round(rate), "sdk_stats": stats}


def main() -> dict[str, Any]:
    wrk = ensure_wrk()
    runs: dict[str, dict[str, list[dict[str, Any]]]] = {
        endpoint: {mode: [] for mode in MODES} for endpoint in ENDPOINTS
    }
    with counting_sink() as sink_url:
        for _ in range(ROUNDS):
            for endpoint, path in ENDPOINTS.items():
                for mode in MODES:  # interleaved, so a slow spell of the machine hits every mode
                    runs[endpoint][mode].append(run_mode(mode, sink_url, wrk, path))
                    time.sleep(0.5)
    medians = {
        endpoint: {
            mode: statistics.median(r["requests_per_s"] for r in by_mode[mode]) for mode in MODES
        }
        for endpoint, by_mode in runs.items()
    }
    result = {
        "benchmark": "middleware",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "versions": versions("watchkeeper", "fastapi", "starlette", "uvicorn"),
        "load": (
            f"wrk -t1 -c{CONNECTIONS} -d{SECONDS}s" if wrk else "Python load generator, 8 threads"
        ),
        "method": (
            f"uvicorn, 1 process; {ROUNDS} rounds of {SECONDS} s per mode after a 2 s warm-up, "
            "modes interleaved; median requests/s; watchkeeper sends to a local counting sink"
        ),
        "runs": runs,
        "requests_per_s": medians,
        "endpoints": ENDPOINTS,
        "loss_percent": {
            endpoint: {
                mode: round(100 * (rates["plain"] - rates[mode]) / rates["plain"], 1)
                for mode in MODES[1:]
            }
            for endpoint, rates in medians.items()
        },
    }
    write_result("middleware", result)
    return result


def summary(result: dict[str, Any]) -> str:
    """Markdown lines for bench/results/README.md."""
    rates, loss = result["requests_per_s"], result["loss_percent"]
    lines = [
        "## ASGI middleware under load (`bench/middleware.py`)",
        "",
        f"{result['method']}; load from {result['load']}.",
        "",
        "| route | FastAPI app | requests/s | loss |",
        "|---|---|---:|---:|",
    ]
    for endpoint, path in result["endpoints"].items():
        lines.append(
            f"| `{path}` ({endpoint}) | without watchkeeper | {rates[endpoint]['plain']:,.0f} | |"
        )
        for mode in MODES[1:]:
            lines.append(f"| | {mode} | {rates[endpoint][mode]:,.0f} | {loss[endpoint][mode]} % |")
    lines += ["", "Target: < 3 % loss with the middleware.", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    outcome = main()
    print(summary(outcome))
