"""The Client (config + processors + transport + batcher), the process default, and ``track``.

``init()`` builds a Client and installs it as the process default; every capture function takes
``client=`` to use another one (tests build their own). Without a client, capture calls return
at once. Capture calls never raise: an error is swallowed and counted in ``stats()["failed"]``.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterable, Mapping
from time import time_ns
from typing import TYPE_CHECKING, Final, Unpack, cast

from watchkeeper.records import MAX_ATTRIBUTES, AttributeValue, Event, Log, Record
from watchkeeper.sdk import processors
from watchkeeper.sdk.batcher import COUNTERS, Batcher, Item, Processor
from watchkeeper.sdk.config import Config, Options
from watchkeeper.sdk.context import current_span, span_hex, trace_hex
from watchkeeper.sdk.spool import Spool
from watchkeeper.sdk.transport import HTTPTransport, Transport

if TYPE_CHECKING:
    from watchkeeper.sdk.push import MetricsPush

logger = logging.getLogger("watchkeeper")

_MAX_KEY: Final = 256
_MAX_VALUE: Final = 65_536
_MAX_DEPTH: Final = 8


def _ignore(item: Item) -> None:
    """``enqueue`` of a disabled client."""


def _redact_unless_log(record: Record) -> Record:
    return record if isinstance(record, Log) else processors.redact(record)


def _flush_log_lane(timeout: float) -> None:
    """Let get_logger() lines reach their handlers first, when logging is in use at all."""
    logs = sys.modules.get("watchkeeper.sdk.logs")
    if logs is not None:
        logs.flush(timeout)


class Client:
    """Sends records to one watchkeeper server. Options as :class:`~watchkeeper.sdk.config.Config`
    (keyword arguments > ``WATCHKEEPER_*`` > defaults).

    >>> from watchkeeper.sdk.transport import InMemoryTransport
    >>> client = Client(transport=InMemoryTransport(), service="docs")
    >>> track("signup", client=client); client.flush()
    True
    >>> client.shutdown()
    """

    enqueue: Callable[[Item], None]
    """The door every capture function uses: hand over an item, never block, never raise."""

    def __init__(
        self,
        *,
        transport: Transport | None = None,
        processors: Iterable[Processor] = (),
        config: Config | None = None,
        **options: Unpack[Options],
    ) -> None:
        if config is None:
            config = Config.load(**options)
        elif options:
            config = config.replace(**options)
        self.processors: list[Processor] = list(processors)
        """Run in order on the batcher's thread; a client's redaction, sampling and opt-out."""
        if config.redact:
            # Privacy by default (DESIGN §5): secrets and PII are masked before a record leaves
            # the process. Log lines are redacted already when they are built (sdk/logs.py).
            self.processors.insert(0, _redact_unless_log)
        self._push: MetricsPush | None = None
        self._batcher: Batcher | None = None
        self.enqueue = _ignore
        if transport is None and config.enabled:
            try:
                transport = HTTPTransport(config.endpoint, config.key, timeout=config.timeout)
            except ValueError as exc:
                # A bad WATCHKEEPER_ENDPOINT must not stop the app from starting.
                logger.warning("watchkeeper: disabled: %s", exc)
                config = config.replace(enabled=False)
        self.config = config
        self.transport = transport
        if config.enabled and transport is not None:
            spool = None
            if config.spool_max_bytes > 0:
                spool = Spool(config.spool_path, config.spool_max_bytes)
            self._batcher = Batcher(config, transport, self.processors, spool)
            self.enqueue = self._batcher.put

    @property
    def enabled(self) -> bool:
        """False when built disabled (``enabled=False``, ``WATCHKEEPER_DISABLED=1``)."""
        return self._batcher is not None

    def count_failure(self) -> None:
        """Count a record a capture call failed to build; called from its ``except``."""
        if self._batcher is not None:
            self._batcher.count_failure()

    def flush(self, timeout: float = 5.0) -> bool:
        """See :func:`watchkeeper.flush`."""
        _flush_log_lane(timeout)
        return True if self._batcher is None else self._batcher.flush(timeout)

    def shutdown(self, timeout: float = 5.0) -> None:
        """See :func:`watchkeeper.shutdown`."""
        if self._push is not None:
            self._push.stop(timeout)  # pushes once more, so a short run reports its counts
            self._push = None
        _flush_log_lane(timeout)
        if self._batcher is not None:
            self._batcher.shutdown(timeout)

    def stats(self) -> dict[str, int]:
        """See :func:`watchkeeper.stats`."""
        if self._batcher is None:
            return dict.fromkeys(COUNTERS, 0)
        return self._batcher.stats()


class DefaultClient:
    """Holds the process default client; ``init()`` sets it."""

    __slots__ = ("client",)

    def __init__(self) -> None:
        self.client: Client | None = None


DEFAULT: Final = DefaultClient()


def init(
    *,
    transport: Transport | None = None,
    processors: Iterable[Processor] = (),
    **options: Unpack[Options],
) -> Client:
    """Build a client and install it as the process default; return it. A previous default
    is flushed and shut down. Starts the background thread (unless disabled).

    >>> import watchkeeper
    >>> client = watchkeeper.init(endpoint="http://127.0.0.1:7321", key="wk_...")  # doctest: +SKIP
    """
    client = Client(transport=transport, processors=processors, **options)
    previous = DEFAULT.client
    DEFAULT.client = client if client.enabled else None
    if previous is not None and previous is not client:
        previous.shutdown()
    if client.enabled:
        # Imported here: the OpenTelemetry API and prometheus-client load only once an app
        # turns monitoring on, keeping `import watchkeeper` cheap.
        from watchkeeper.sdk import breadcrumbs, errors, otel, push  # noqa: PLC0415

        otel.install()  # follows the default client, so a later init() takes effect
        client._push = push.start_push(client)
        breadcrumbs.configure(client.config.max_breadcrumbs)
        if client.config.capture_errors:
            errors.install()  # the hooks follow the default client too
    return client


def flush(timeout: float = 5.0, *, client: Client | None = None) -> bool:
    """Wait until every record captured before this call is acknowledged by the server or
    written to the disk spool. False when ``timeout`` passed first or some of those records
    failed (see ``stats()["failed"]``); True when there is no client. While the server
    answers, it also replays batches waiting in the spool, within ``timeout``.

    >>> watchkeeper.flush(timeout=2.0)  # doctest: +SKIP
    True
    """
    client = client or DEFAULT.client
    return True if client is None else client.flush(timeout)


def shutdown(timeout: float = 5.0, *, client: Client | None = None) -> None:
    """Flush, then stop the background thread; records captured afterwards are dropped and
    counted. Runs by itself at interpreter exit. What cannot be sent at once is spooled.

    >>> watchkeeper.shutdown()  # doctest: +SKIP
    """
    client = client or DEFAULT.client
    if client is not None:
        client.shutdown(timeout)


def stats(*, client: Client | None = None) -> dict[str, int]:
    """Counters since the client started (all zero without a client), in records unless said:

    - ``queued``: records capture calls put in the queue (not counting ``dropped`` ones).
    - ``sent``: records the server acknowledged (2xx), including ``replayed`` ones.
    - ``dropped``: records discarded for lack of room (queue full, spool over its bound, or
      captured after shutdown) or by a processor returning None.
    - ``spooled``: records written to the disk spool because the server could not be reached.
    - ``replayed``: records read back from the spool and acknowledged; possibly spooled by an
      earlier process sharing the spool directory.
    - ``retried``: requests (not records) sent again after a 429, a 5xx or a connection error.
    - ``failed``: records lost to an error: refused by the server (a 4xx other than 408/429),
      a capture call or processor raised, or the spool could not be written.

    >>> watchkeeper.stats()["dropped"]  # doctest: +SKIP
    0
    """
    client = client or DEFAULT.client
    return dict.fromkeys(COUNTERS, 0) if client is None else client.stats()


def track(
    name: str,
    *,
    user_id: str | None = None,
    properties: Mapping[str, object] | None = None,
    client: Client | None = None,
) -> None:
    """Record a product analytics event; ``properties`` become its attributes (nested dicts
    flattened to dotted keys). Inside a span, the event carries that span's ids.

    >>> track("signup", user_id="u1", properties={"plan": {"tier": "pro"}})
    """
    client = client or DEFAULT.client
    if client is None:
        return
    try:
        # Copy the top level: apps often fill one dict and reuse it for the next call, and the
        # record is built later, on the batcher's thread.
        client.enqueue(
            (
                _build_event,
                time_ns(),
                name,
                user_id,
                dict(properties) if properties else None,
                current_span.get(),
            )
        )
    except Exception:
        client.count_failure()


def _build_event(item: Item, record_id: str) -> Event:
    _, ts, name, user_id, properties, ids = item
    return Event(
        id=record_id,
        ts=ts,
        name=record_name(name),
        user_id="" if user_id is None else str(user_id)[:_MAX_KEY],
        attributes=flatten(properties) if properties else {},
        trace_id=None if ids is None else trace_hex(ids[0]),
        span_id=None if ids is None else span_hex(ids[1]),
    )


def record_name(name: object) -> str:
    """A record's name as the contract wants it: a string of 1 to 256 characters."""
    text = name if type(name) is str else str(name)
    if not text:
        raise ValueError("a record's name must not be empty")
    return text[:_MAX_KEY]


def flatten(attributes: Mapping[object, object]) -> dict[str, AttributeValue]:
    """Attributes as the contract takes them: nested mappings become dotted keys, tuples become
    lists, anything else that is not a str/int/float/bool/None becomes its ``str()``. Keys are
    cut to 256 characters, strings to 64 KiB, and only the first 128 attributes are kept.

    >>> flatten({"user": {"plan": "pro", "seats": 3}, "tags": ("a", 1), "at": object}) == {
    ...     "user.plan": "pro", "user.seats": 3, "tags": ["a", 1], "at": "<class 'object'>"}
    True
    """
    out: dict[str, AttributeValue] = {}
    _flatten_into(out, attributes, "", 0)
    return out


def _flatten_into(
    out: dict[str, AttributeValue], mapping: Mapping[object, object], prefix: str, depth: int
) -> None:
    for key, value in mapping.items():
        if len(out) >= MAX_ATTRIBUTES:
            return
        name = key if type(key) is str else _text(key)
        if prefix:
            name = prefix + name
        if len(name) > _MAX_KEY:
            name = name[:_MAX_KEY]
        kind = type(value)
        if kind is str:
            text = cast(str, value)
            out[name] = text if len(text) <= _MAX_VALUE else text[:_MAX_VALUE]
        elif kind is int or kind is float or kind is bool or value is None:
            out[name] = cast(AttributeValue, value)
        elif isinstance(value, Mapping) and depth < _MAX_DEPTH:
            _flatten_into(out, value, name + ".", depth + 1)
        elif isinstance(value, list | tuple):
            out[name] = [
                item if type(item) in _LIST_ITEM_TYPES else _text(item)[:_MAX_VALUE]
                for item in value
            ]
        else:
            out[name] = _text(value)[:_MAX_VALUE]


_LIST_ITEM_TYPES: Final = frozenset({str, int, float, bool})


def _text(value: object) -> str:
    try:
        return str(value)
    except Exception:
        return f"<unprintable {type(value).__name__}>"
