"""A real watchkeeper server in a subprocess on 127.0.0.1, made with the real CLI."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

CLI = [sys.executable, "-m", "watchkeeper"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cli(*args: str, data_dir: Path) -> str:
    """Run a watchkeeper command and return its output; fail the test on a non-zero exit."""
    done = subprocess.run(
        [*CLI, *args, "--data-dir", str(data_dir)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr + done.stdout
    return done.stdout


@dataclass
class Server:
    """``watchkeeper serve`` that a test can stop and start again on the same port and data."""

    data_dir: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    ingest_key: str = ""
    read_token: str = ""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30) -> None:
        with (self.data_dir / "server.log").open("ab") as log:  # the child keeps its own copy
            self.process = subprocess.Popen(
                [*CLI, "serve", "--data-dir", str(self.data_dir), "--port", str(self.port)],
                stdout=log, stderr=subprocess.STDOUT, env=os.environ | {"PYTHONUNBUFFERED": "1"},
            )  # fmt: skip
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, (self.data_dir / "server.log").read_text()
            try:
                with urllib.request.urlopen(f"{self.url}/readyz", timeout=1) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.1)
        raise TimeoutError("server did not become ready")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def count(self, kind: str = "event") -> int:
        request = urllib.request.Request(
            f"{self.url}/api/v1/records/count?kind={kind}",
            headers={"Authorization": f"Bearer {self.read_token}"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            import json

            return int(json.load(response)["count"])


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    """An initialised data directory with keys, and a running server over it."""
    data_dir = tmp_path / "data"
    cli("init", data_dir=data_dir)
    srv = Server(data_dir=data_dir)
    srv.ingest_key = cli(
        "keys", "create", "--project", "default", "--kind", "ingest", "--quiet", data_dir=data_dir
    ).strip()
    srv.read_token = cli(
        "keys", "create", "--project", "default", "--kind", "read", "--quiet", data_dir=data_dir
    ).strip()
    srv.start()
    yield srv
    srv.stop()
