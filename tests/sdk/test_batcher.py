from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from watchkeeper.records import Record
from watchkeeper.sdk.client import track
from watchkeeper.sdk.transport import InMemoryTransport, SendResult

if TYPE_CHECKING:
    from conftest import IngestServer


class GateTransport(InMemoryTransport):
    """Holds every send until the gate opens."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()

    def send(self, body: bytes, headers: Mapping[str, str]) -> SendResult:
        self.gate.wait(10)
        return super().send(body, headers)


def test_full_queue_drops_and_counts_exactly(make_client: Any) -> None:
    """Past queue_size, capture calls drop and count each record; nothing blocks."""
    client = make_client(
        transport=InMemoryTransport(), queue_size=10, batch_size=1000, flush_interval=60
    )
    for n in range(25):
        track(f"e{n}", client=client)
    assert (client.stats()["queued"], client.stats()["dropped"]) == (10, 15)
    assert client.flush()
    assert client.stats() | {"sent": 10} == client.stats()
    assert [record.name for record in client.transport.records] == [f"e{n}" for n in range(10)]


def test_drop_count_is_exact_under_concurrent_callers(make_client: Any) -> None:
    """Many threads hitting a full queue: queued + dropped equals the calls made."""
    client = make_client(
        transport=InMemoryTransport(), queue_size=1000, batch_size=10**6, flush_interval=60
    )

    def hammer() -> None:
        for _ in range(5000):
            track("e", client=client)

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stats = client.stats()
    assert stats["queued"] + stats["dropped"] == 20_000
    assert client.flush()
    assert client.stats()["sent"] == stats["queued"]


def test_flush_true_once_acknowledged(server: IngestServer, make_client: Any) -> None:
    """flush() returns True when everything queued before it is acknowledged."""
    client = make_client(endpoint=server.url, flush_interval=60)
    for n in range(3):
        track(f"e{n}", client=client)
    assert client.flush(5)
    assert server.names() == ["e0", "e1", "e2"]
    assert client.stats()["sent"] == 3


def test_flush_false_on_timeout(make_client: Any) -> None:
    """flush() returns False when the batch is still in flight at the timeout."""
    transport = GateTransport()
    client = make_client(transport=transport)
    track("slow", client=client)
    assert not client.flush(0.2)
    transport.gate.set()
    assert client.flush(5)
    assert [record.name for record in transport.records] == ["slow"]


def test_batches_by_size(server: IngestServer, make_client: Any, wait_for: Any) -> None:
    """A queue reaching batch_size is sent without waiting for the interval, in batches."""
    client = make_client(endpoint=server.url, batch_size=10, flush_interval=60)
    for n in range(25):
        track(f"e{n}", client=client)
    assert wait_for(lambda: len(server.ids()) >= 20, 5)
    assert client.flush()
    sizes = [len(request.batch.records) for request in server.accepted]  # type: ignore[union-attr]
    assert sum(sizes) == 25 and max(sizes) <= 10


def test_batches_by_age(server: IngestServer, make_client: Any, wait_for: Any) -> None:
    """A partial batch goes out after flush_interval without a flush() call."""
    client = make_client(endpoint=server.url, flush_interval=0.05)
    track("lonely", client=client)
    assert wait_for(lambda: server.names() == ["lonely"], 5)


def test_batch_carries_defaults_and_records_do_not_repeat_them(
    server: IngestServer, make_client: Any
) -> None:
    """service/environment/release travel once per batch, gzip-compressed."""
    client = make_client(endpoint=server.url, service="api", environment="staging", release="1.2.3")
    track("a", client=client)
    track("b", client=client)
    assert client.flush()
    (request,) = server.requests
    assert request.headers["Content-Encoding"] == "gzip"
    raw = json.loads(request.raw)
    assert (raw["service"], raw["environment"], raw["release"]) == ("api", "staging", "1.2.3")
    assert all("service" not in record for record in raw["records"])
    assert request.batch is not None and request.batch.records[0].service == "api"


def test_gzip_can_be_turned_off(server: IngestServer, make_client: Any) -> None:
    """gzip=False sends plain JSON without Content-Encoding."""
    client = make_client(endpoint=server.url, gzip=False)
    track("plain", client=client)
    assert client.flush()
    assert "Content-Encoding" not in server.requests[0].headers


def test_record_ids_are_unique_and_short(make_client: Any) -> None:
    """Every record gets a distinct id of at most 64 characters."""
    client = make_client(transport=InMemoryTransport())
    for _ in range(5000):
        track("e", client=client)
    assert client.flush()
    ids = [record.id for record in client.transport.records]
    assert len(set(ids)) == 5000 and max(map(len, ids)) <= 64


def test_processor_errors_are_swallowed_and_counted(make_client: Any) -> None:
    """A raising processor discards that record only, counted as failed; None counts dropped."""

    def processor(record: Record) -> Record | None:
        if record.name == "boom":  # type: ignore[union-attr]
            raise RuntimeError("processor bug")
        return None if record.name == "skip" else record  # type: ignore[union-attr]

    client = make_client(transport=InMemoryTransport(), processors=[processor])
    for name in ("ok1", "boom", "skip", "ok2"):
        track(name, client=client)
    assert not client.flush()  # a record queued before it failed
    assert [record.name for record in client.transport.records] == ["ok1", "ok2"]
    stats = client.stats()
    assert (stats["sent"], stats["failed"], stats["dropped"]) == (2, 1, 1)
    track("ok3", client=client)
    assert client.flush()


def test_a_record_that_cannot_be_encoded_fails_alone(make_client: Any) -> None:
    """A processor that leaves an unencodable value loses that record, not its batch."""

    def processor(record: Record) -> Record:
        if record.name == "broken":  # type: ignore[union-attr]
            record.attributes = {"x": object()}  # type: ignore[dict-item]
        return record

    client = make_client(transport=InMemoryTransport(), processors=[processor])
    for name in ("a", "broken", "b"):
        track(name, client=client)
    assert not client.flush()
    assert [record.name for record in client.transport.records] == ["a", "b"]
    assert client.stats()["failed"] == 1


def test_processors_run_on_the_background_thread(make_client: Any) -> None:
    """Processors never run on the caller's thread."""
    seen: list[str] = []

    def processor(record: Record) -> Record:
        seen.append(threading.current_thread().name)
        return record

    client = make_client(transport=InMemoryTransport(), processors=[processor])
    track("e", client=client)
    assert client.flush()
    assert seen == ["watchkeeper-batcher"]


def test_shutdown_sends_what_is_queued_then_drops(server: IngestServer, make_client: Any) -> None:
    """shutdown() sends the queue; records captured after it are dropped and counted."""
    client = make_client(endpoint=server.url, flush_interval=60)
    track("last", client=client)
    client.shutdown()
    track("too late", client=client)
    assert server.names() == ["last"]
    assert client.stats()["dropped"] == 1
    assert client.flush(0.1)  # nothing left in memory


def test_fork_child_sends_its_own_records_only(
    server: IngestServer, make_client: Any, spool_dir: str
) -> None:
    """After os.fork the child has its own queue and ids; the parent's records are sent once."""
    client = make_client(endpoint=server.url, spool_dir=spool_dir, flush_interval=60)
    track("parent", client=client)  # still queued at the fork
    pid = os.fork()
    if pid == 0:  # the child: report through the exit code, never return into pytest
        code = 1
        try:
            track("child", client=client)
            ok = client.flush(5)
            stats = client.stats()
            code = 0 if ok and (stats["queued"], stats["sent"]) == (1, 1) else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert client.flush(5)
    assert sorted(server.names()) == ["child", "parent"]
    assert len(set(server.ids())) == 2


def test_records_are_flushed_at_interpreter_exit(server: IngestServer, spool_dir: str) -> None:
    """A script that never calls flush still delivers its records when it exits."""
    script = (
        "import sys, watchkeeper\n"
        "watchkeeper.init(endpoint=sys.argv[1], spool_dir=sys.argv[2], flush_interval=60)\n"
        "watchkeeper.track('goodbye')\n"
    )
    subprocess.run([sys.executable, "-c", script, server.url, spool_dir], check=True, timeout=30)
    assert server.names() == ["goodbye"]
