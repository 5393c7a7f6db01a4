"""The disk spool: encoded batches wait here while the server cannot be reached.

One file per batch, holding the exact bytes that would have been sent. Names sort by time, so
replay goes oldest first::

    01732200000000000000-4242-7-2000.gz                ready: <time_ns>-<pid>-<seq>-<records>
    01732200000000000000-4242-7-2000.gz.claimed-4343   being replayed by process 4343
    .tmp-4242-8                                        being written by process 4242

Writes are atomic (a temp file, then a rename), so a reader never sees half a batch. A replaying
process claims a file by renaming it: rename is atomic, so when two processes share the
directory exactly one wins and no batch is replayed twice. A file is deleted only once its batch
is acknowledged; a failed replay renames it back. Claims and temp files of processes that died
are recovered at start. The directory is bounded in bytes; past the bound the oldest ready
batches are deleted and their records counted as dropped.

Files are not fsync'ed: the spool is for outages of the server and restarts of the app, and a
rename already survives the process being killed; surviving power loss would cost an fsync per
batch on the app's machine.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import time
from dataclasses import dataclass
from typing import Final

_CLAIMED: Final = ".claimed-"
_TMP: Final = ".tmp-"
_STALE_SECONDS: Final = 3600.0


@dataclass(frozen=True, slots=True)
class Claim:
    """A batch taken out of the spool for replay; give it back with acknowledge or release."""

    path: str
    name: str
    body: bytes
    count: int
    gzip: bool


def _count(name: str) -> int:
    """Records in a ready file, from its name; 0 for names that are not ours."""
    try:
        return int(name.rsplit(".", 1)[0].split("-")[3])
    except (IndexError, ValueError):
        return 0


def _is_ready(name: str) -> bool:
    return (name.endswith((".gz", ".json"))) and not name.startswith(".") and _count(name) > 0


def _alive(pid: int, path: str) -> bool:
    if os.name != "posix":
        # os.kill(pid, 0) sends CTRL_C on Windows; fall back to the file's age.
        try:
            return time.time() - os.path.getmtime(path) < _STALE_SECONDS
        except OSError:
            return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # exists, owned by another user
    return True


class Spool:
    """A bounded directory of encoded batches, safe to share between processes.

    >>> import tempfile
    >>> spool = Spool(tempfile.mkdtemp(), max_bytes=1_000_000)
    >>> spool.write(b'{"records": []}', count=1, gzip=False)
    0
    >>> claim = spool.claim(); spool.acknowledge(claim); spool.claim() is None
    True
    """

    def __init__(self, directory: str, max_bytes: int) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        self._seq = itertools.count()

    def write(self, body: bytes, count: int, *, gzip: bool) -> int:
        """Store one batch; return how many records were dropped to stay under the bound
        (``count`` itself when the batch alone is larger than the bound). Raises OSError when
        the directory cannot be written."""
        if len(body) > self.max_bytes:
            return count
        os.makedirs(self.directory, exist_ok=True)
        pid, seq = os.getpid(), next(self._seq)
        tmp = os.path.join(self.directory, f"{_TMP}{pid}-{seq}")
        name = f"{time.time_ns():020d}-{pid}-{seq}-{count}.{'gz' if gzip else 'json'}"
        try:
            with open(tmp, "wb") as file:
                file.write(body)
            os.replace(tmp, os.path.join(self.directory, name))
        except OSError:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        return self._enforce_bound()

    def _enforce_bound(self) -> int:
        ready: list[tuple[str, int]] = []
        total = 0
        with os.scandir(self.directory) as entries:
            for entry in entries:
                try:
                    size = entry.stat().st_size
                except OSError:
                    continue  # claimed or deleted by another process meanwhile
                total += size
                if _is_ready(entry.name):
                    ready.append((entry.name, size))
        dropped = 0
        for name, size in sorted(ready):
            if total <= self.max_bytes:
                break
            try:
                os.unlink(os.path.join(self.directory, name))
            except FileNotFoundError:
                continue  # another process claimed it: not ours to count
            total -= size
            dropped += _count(name)
        return dropped

    def ready(self) -> list[str]:
        """Names of the batches waiting, oldest first."""
        try:
            return sorted(name for name in os.listdir(self.directory) if _is_ready(name))
        except FileNotFoundError:
            return []

    def claim(self) -> Claim | None:
        """Take the oldest waiting batch, or None when there is none."""
        for name in self.ready():
            path = os.path.join(self.directory, name)
            claimed = f"{path}{_CLAIMED}{os.getpid()}"
            try:
                os.rename(path, claimed)
            except FileNotFoundError:
                continue  # another process got there first
            try:
                with open(claimed, "rb") as file:
                    body = file.read()
            except OSError:
                continue
            return Claim(claimed, name, body, _count(name), name.endswith(".gz"))
        return None

    def acknowledge(self, claim: Claim) -> None:
        """The batch was acknowledged (or refused for good): delete it."""
        with contextlib.suppress(FileNotFoundError):
            os.unlink(claim.path)

    def release(self, claim: Claim) -> None:
        """The batch could not be delivered: put it back, in its place in the order."""
        with contextlib.suppress(FileNotFoundError):
            os.rename(claim.path, os.path.join(self.directory, claim.name))

    def recover(self) -> None:
        """Give back batches claimed by processes that died and delete their temp files."""
        try:
            names = os.listdir(self.directory)
        except FileNotFoundError:
            return
        for name in names:
            path = os.path.join(self.directory, name)
            try:
                if _CLAIMED in name:
                    original, _, pid = name.rpartition(_CLAIMED)
                    if not _alive(int(pid), path):
                        os.rename(path, os.path.join(self.directory, original))
                elif name.startswith(_TMP):
                    pid = name[len(_TMP) :].split("-")[0]
                    if not _alive(int(pid), path):
                        os.unlink(path)
            except (OSError, ValueError):
                continue
