from __future__ import annotations

import os
import subprocess
import sys
import time

from watchkeeper.sdk.spool import Spool

CLAIM_ALL = """
import sys, time
from watchkeeper.sdk.spool import Spool
spool = Spool(sys.argv[1], 10**9)
while time.time() < float(sys.argv[2]):
    pass
while (claim := spool.claim()) is not None:
    print(claim.body.decode(), flush=True)
    spool.acknowledge(claim)
"""


def test_batches_come_back_oldest_first(spool_dir: str) -> None:
    """Claims return batches in the order they were written, with their record counts."""
    spool = Spool(spool_dir, 10_000)
    for n in range(3):
        spool.write(f"batch{n}".encode(), count=n + 1, gzip=n == 0)
    claims = []
    while (claim := spool.claim()) is not None:
        claims.append(claim)
        spool.acknowledge(claim)
    assert [(c.body, c.count, c.gzip) for c in claims] == [
        (b"batch0", 1, True),
        (b"batch1", 2, False),
        (b"batch2", 3, False),
    ]
    assert os.listdir(spool_dir) == []


def test_write_leaves_no_temp_file(spool_dir: str) -> None:
    """A write is a temp file renamed into place: only the finished batch remains."""
    spool = Spool(spool_dir, 10_000)
    spool.write(b"x" * 100, count=5, gzip=True)
    (name,) = os.listdir(spool_dir)
    assert name.endswith("-5.gz") and not name.startswith(".")


def test_release_puts_a_batch_back_in_its_place(spool_dir: str) -> None:
    """A batch whose replay failed is released and claimed again first."""
    spool = Spool(spool_dir, 10_000)
    spool.write(b"first", count=1, gzip=False)
    spool.write(b"second", count=1, gzip=False)
    claim = spool.claim()
    assert claim is not None and claim.body == b"first"
    assert len(spool.ready()) == 1  # a claimed batch is not offered again
    spool.release(claim)
    again = spool.claim()
    assert again is not None and again.body == b"first"
    spool.acknowledge(again)


def test_bound_drops_oldest_batches_and_counts_their_records(spool_dir: str) -> None:
    """Past max_bytes the oldest batches are deleted and their records reported dropped."""
    spool = Spool(spool_dir, max_bytes=250)
    dropped = [spool.write(bytes([65 + n]) * 100, count=10 + n, gzip=False) for n in range(4)]
    assert dropped == [0, 0, 10, 11]
    bodies = []
    while (claim := spool.claim()) is not None:
        bodies.append(claim.body[:1])
        spool.acknowledge(claim)
    assert bodies == [b"C", b"D"]


def test_a_batch_larger_than_the_bound_is_not_written(spool_dir: str) -> None:
    """A single batch over max_bytes is reported dropped whole and nothing is written."""
    spool = Spool(spool_dir, max_bytes=10)
    assert spool.write(b"x" * 11, count=7, gzip=False) == 7
    assert os.listdir(spool_dir) == []


def test_two_processes_never_replay_the_same_batch(spool_dir: str) -> None:
    """Processes sharing a spool claim each batch exactly once between them."""
    spool = Spool(spool_dir, 10**9)
    expected = {f"batch-{n}" for n in range(200)}
    for body in sorted(expected):
        spool.write(body.encode(), count=1, gzip=False)
    start = str(time.time() + 0.5)  # both start claiming at the same moment
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", CLAIM_ALL, spool_dir, start], stdout=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    outputs = [worker.communicate(timeout=30)[0].split() for worker in workers]
    claimed = outputs[0] + outputs[1]
    assert sorted(claimed) == sorted(expected)
    assert os.listdir(spool_dir) == []


def test_recover_returns_claims_and_deletes_temp_files_of_dead_processes(spool_dir: str) -> None:
    """At start, batches claimed by a dead process come back; its temp files go away."""
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    pid = int(dead.stdout)
    spool = Spool(spool_dir, 10_000)
    spool.write(b"orphan", count=3, gzip=False)
    spool.write(b"mine", count=1, gzip=False)
    orphan, mine = spool.ready()
    os.rename(os.path.join(spool_dir, orphan), os.path.join(spool_dir, f"{orphan}.claimed-{pid}"))
    live_claim = f"{mine}.claimed-{os.getpid()}"
    os.rename(os.path.join(spool_dir, mine), os.path.join(spool_dir, live_claim))
    with open(os.path.join(spool_dir, f".tmp-{pid}-0"), "wb") as file:
        file.write(b"half a batch")
    spool.recover()
    assert sorted(os.listdir(spool_dir)) == sorted([orphan, live_claim])


def test_missing_directory_is_empty(spool_dir: str) -> None:
    """A spool whose directory does not exist yet has nothing to claim and is created on write."""
    spool = Spool(os.path.join(spool_dir, "a", "b"), 10_000)
    assert spool.claim() is None
    spool.recover()
    spool.write(b"x", count=1, gzip=False)
    assert len(spool.ready()) == 1
