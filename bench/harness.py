"""Shared pieces of the benchmarks: a timeit-style loop, a counting HTTP sink, a watchkeeper server.

The loop follows the method of ../shared/reference/perf-anchors.md §4: the statement is compiled
inline into ``for _ in itertools.repeat(None, n)`` with fast locals; every SDK with a background
worker gets a fixed ``n`` per repeat, below its queue limit so nothing drops, and an untimed flush
after each repeat; we report the median wall ns/call, the min, and the caller thread's CPU.
"""

from __future__ import annotations

import gzip
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import metadata
from pathlib import Path
from typing import Any, ClassVar

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"


@dataclass
class Timing:
    name: str
    n: int
    repeats: int
    median_ns: float
    min_ns: float
    thread_cpu_ns: float
    process_cpu_ns: float

    def as_dict(self) -> dict[str, Any]:
        return {k: round(v, 1) if isinstance(v, float) else v for k, v in self.__dict__.items()}


def time_statement(
    name: str,
    stmt: str,
    namespace: dict[str, Any],
    *,
    n: int,
    repeats: int,
    after_repeat: Callable[[], object] | None = None,
) -> Timing:
    """Time ``stmt`` run ``n`` times per repeat; ``after_repeat`` (a flush) runs untimed."""
    source = "def _bench(_n):\n"
    source += "".join(f"    {k} = _ns[{k!r}]\n" for k in namespace)
    source += "    for _ in _repeat(None, _n):\n"
    source += "".join(f"        {line}\n" for line in stmt.splitlines())
    scope: dict[str, Any] = {"_ns": namespace, "_repeat": __import__("itertools").repeat}
    exec(compile(source, f"<bench {name}>", "exec"), scope)
    bench = scope["_bench"]
    bench(min(n, 100))  # warm-up
    if after_repeat:
        after_repeat()
    walls, threads, processes = [], [], []
    for _ in range(repeats):
        p0, t0, w0 = time.process_time_ns(), time.thread_time_ns(), time.perf_counter_ns()
        bench(n)
        w1, t1 = time.perf_counter_ns(), time.thread_time_ns()
        if after_repeat:
            after_repeat()
        p1 = time.process_time_ns()
        walls.append((w1 - w0) / n)
        threads.append((t1 - t0) / n)
        processes.append((p1 - p0) / n)
    return Timing(
        name=name,
        n=n,
        repeats=repeats,
        median_ns=statistics.median(walls),
        min_ns=min(walls),
        thread_cpu_ns=statistics.median(threads),
        process_cpu_ns=statistics.median(processes),
    )


class _SinkHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    counts: ClassVar[dict[str, int]] = {}
    lock = threading.Lock()

    def setup(self) -> None:
        super().setup()
        # Nagle off: the reply goes out as two writes (head, body), and with Nagle on the second
        # waits for the client's delayed ACK, ~40 ms per batch, which throttles every exporter.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        with self.lock:
            self.counts[self.path] = self.counts.get(self.path, 0) + len(body)
            self.counts["requests"] = self.counts.get("requests", 0) + 1
        reply = b"{}"
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def run_sink(port: int) -> None:
    """Answer 200 to every POST (posthog's /batch/, OTLP's /v1/traces); run until killed."""
    ThreadingHTTPServer(("127.0.0.1", port), _SinkHandler).serve_forever()


@contextmanager
def counting_sink() -> Iterator[str]:
    """:func:`run_sink` in its own process (so it does not share the measured GIL); yields its
    URL and stops it after."""
    port = free_port()
    bench_dir = str(Path(__file__).resolve().parent)
    sink = subprocess.Popen(
        [sys.executable, "-c", f"import sys; sys.path.insert(0, {bench_dir!r}); "
         f"import harness; harness.run_sink({port})"]
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(url, 10)
        yield url
    finally:
        sink.terminate()
        sink.wait()


def child(script: str, section: str, *args: str) -> list[dict[str, Any]]:
    """Run ``section`` of ``script`` in a fresh interpreter (SDKs patch globals: each measures
    alone) and return the timings it printed."""
    done = subprocess.run(
        [sys.executable, script, "--section", section, *args],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode:
        raise RuntimeError(f"section {section} of {script} failed:\n{done.stderr}")
    result: list[dict[str, Any]] = json.loads(done.stdout.splitlines()[-1])
    return result


def run_section(sections: dict[str, Callable[..., Any]]) -> bool:
    """In a child started by :func:`child`, run the asked section, print its result as JSON
    and return True; in the parent, return False."""
    if len(sys.argv) > 2 and sys.argv[1] == "--section":
        print(json.dumps(sections[sys.argv[2]](*sys.argv[3:])))
        return True
    return False


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_http(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(url)


class WatchkeeperServer:
    """A real ``watchkeeper serve`` on 127.0.0.1 over a fresh data directory, with keys."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        cli = [sys.executable, "-m", "watchkeeper"]
        subprocess.run([*cli, "init", "--data-dir", str(data_dir)], check=True, capture_output=True)

        def key(kind: str) -> str:
            args = [
                "keys",
                "create",
                "--data-dir",
                str(data_dir),
                "--project",
                "default",
                "--kind",
                kind,
                "--quiet",
            ]
            return subprocess.run(
                [*cli, *args], check=True, capture_output=True, text=True
            ).stdout.strip()

        self.ingest_key, self.read_token = key("ingest"), key("read")
        self.process = subprocess.Popen(
            [*cli, "serve", "--data-dir", str(data_dir), "--port", str(self.port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        wait_http(f"{self.url}/readyz")

    def count(self, kind: str) -> int:
        request = urllib.request.Request(
            f"{self.url}/api/v1/records/count?kind={kind}",
            headers={"Authorization": f"Bearer {self.read_token}"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return int(json.load(response)["count"])

    def stop(self) -> None:
        self.process.send_signal(signal.SIGINT)
        self.process.wait(30)


def versions(*packages: str) -> dict[str, str]:
    found = {
        "python": platform.python_version(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cpu",
    }
    for package in packages:
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            found[package] = "not installed"
    return found


def write_result(name: str, result: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    return path
