"""Who may call the APIs: FastAPI dependencies that turn ``Authorization: Bearer <key>`` into the
project the key belongs to.

``ingest_project`` takes an ingest key (``wki_…``) and ``read_project`` a read token (``wkr_…``).
A failure answers 401 with ``WWW-Authenticate: Bearer`` (RFC 6750 §3) and a message saying what
was wrong with the header. Resolutions are cached in the process for :data:`KEY_CACHE_SECONDS`, so
ingest does not query the metadata store per request; a revoked key therefore keeps working for up
to that long on a server that had seen it.

>>> @app.post("/api/v1/ingest")  # doctest: +SKIP
... async def ingest(project: Annotated[int, Depends(ingest_project)]) -> None: ...
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Final

from fastapi import HTTPException, Request
from starlette.concurrency import run_in_threadpool

from watchkeeper.meta.store import KEY_PREFIXES, MetaStore, secret_hash

KEY_CACHE_SECONDS: Final = 30.0
"""How long a key's project (or its absence) is remembered."""

KEY_CACHE_SIZE: Final = 10_000
"""Most keys remembered; the least recently used goes first."""

_NAMES: Final = {"ingest": "ingest key", "read": "read token"}


def _a(kind: str) -> str:
    return f"{'an' if kind == 'ingest' else 'a'} {_NAMES[kind]}"


class KeyCache:
    """A bounded, thread-safe TTL cache of key resolutions, keyed by the key's sha256 and kind,
    so the secrets themselves are never held."""

    def __init__(
        self,
        ttl: float = KEY_CACHE_SECONDS,
        max_size: int = KEY_CACHE_SIZE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl = ttl
        self.max_size = max_size
        self._clock = clock
        self._entries: OrderedDict[tuple[str, str], tuple[float, int | None]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, digest: str, kind: str) -> tuple[bool, int | None]:
        """``(found, project id or None)``; ``found`` is False when absent or expired."""
        with self._lock:
            entry = self._entries.get((digest, kind))
            if entry is None:
                return False, None
            expires, project = entry
            if expires <= self._clock():
                del self._entries[(digest, kind)]
                return False, None
            self._entries.move_to_end((digest, kind))
            return True, project

    def put(self, digest: str, kind: str, project: int | None) -> None:
        with self._lock:
            self._entries[(digest, kind)] = (self._clock() + self.ttl, project)
            self._entries.move_to_end((digest, kind))
            while len(self._entries) > self.max_size:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        """Forget everything (after revoking a key, for instance)."""
        with self._lock:
            self._entries.clear()


def key_cache(request: Request) -> KeyCache:
    """The app's cache, made on first use (one per app, so tests never share one)."""
    cache: KeyCache | None = getattr(request.app.state, "key_cache", None)
    if cache is None:
        cache = request.app.state.key_cache = KeyCache()
    return cache


async def ingest_project(request: Request) -> int:
    """The project of the request's ingest key, or 401."""
    return await _project(request, "ingest")


async def read_project(request: Request) -> int:
    """The project of the request's read token, or 401."""
    return await _project(request, "read")


async def _project(request: Request, kind: str) -> int:
    secret = bearer_secret(request, kind)
    cache = key_cache(request)
    digest = secret_hash(secret)
    found, project = cache.get(digest, kind)
    if not found:
        meta: MetaStore = request.app.state.services.meta
        # SQLite may wait on a writer's lock: keep that off the event loop.
        project = await run_in_threadpool(meta.resolve_key, secret, kind)
        cache.put(digest, kind, project)
    if project is None:
        raise _unauthorized(f"unknown or revoked {_NAMES[kind]}")
    return project


def bearer_secret(request: Request, kind: str) -> str:
    """The secret of ``Authorization: Bearer <secret>``, checked to look like a key of ``kind``;
    raises the 401 that says what is wrong otherwise."""
    name = _NAMES[kind]
    header = request.headers.get("authorization")
    if header is None:
        raise _unauthorized(f"missing Authorization header: expected 'Bearer <{name}>'")
    scheme, _, secret = header.strip().partition(" ")
    secret = secret.strip()
    if scheme.lower() != "bearer" or not secret:
        raise _unauthorized(f"malformed Authorization header: expected 'Bearer <{name}>'")
    if not secret.startswith(KEY_PREFIXES[kind]):
        for other, prefix in KEY_PREFIXES.items():
            if secret.startswith(prefix):
                raise _unauthorized(
                    f"{_a(other)} ({prefix}…) was sent where {_a(kind)} "
                    f"({KEY_PREFIXES[kind]}…) is needed"
                )
        raise _unauthorized(f"not a watchkeeper {name}: it should start with {KEY_PREFIXES[kind]}")
    return secret


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(401, detail=detail, headers={"WWW-Authenticate": "Bearer"})
