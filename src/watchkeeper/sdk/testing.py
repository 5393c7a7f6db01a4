"""``capture()``: assert what your app emitted, in your own tests.

>>> import watchkeeper
>>> from watchkeeper.testing import capture
>>> with capture() as captured:
...     watchkeeper.track("signup", properties={"plan": "pro"})
>>> [(event.name, event.attributes) for event in captured.events]
[('signup', {'plan': 'pro'})]
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Unpack

from watchkeeper.records import Event, Record, Span
from watchkeeper.sdk.batcher import Processor
from watchkeeper.sdk.client import DEFAULT, Client
from watchkeeper.sdk.config import Config, Options
from watchkeeper.sdk.transport import InMemoryTransport


class Captured:
    """What was emitted inside ``capture()``: decoded records, as the server would see them
    (batch defaults such as ``service`` filled in). Each access flushes first."""

    def __init__(self, client: Client, transport: InMemoryTransport) -> None:
        self.client = client
        self.transport = transport

    @property
    def records(self) -> list[Record]:
        """Every record, in the order they were sent."""
        self.client.flush()
        return self.transport.records

    @property
    def events(self) -> list[Event]:
        """The ``track()`` events."""
        return [record for record in self.records if isinstance(record, Event)]

    @property
    def spans(self) -> list[Span]:
        """The spans, in the order they ended (children before their parents)."""
        return [record for record in self.records if isinstance(record, Span)]

    def stats(self) -> dict[str, int]:
        """The capturing client's counters (see ``watchkeeper.stats``)."""
        return self.client.stats()

    def clear(self) -> None:
        """Forget what was captured so far."""
        self.client.flush()
        self.transport.clear()


@contextmanager
def capture(
    *, processors: Iterable[Processor] = (), **options: Unpack[Options]
) -> Iterator[Captured]:
    """Install a client that keeps records in memory as the process default for the block, and
    yield what it captured. The previous default comes back afterwards. It never touches the
    network or the disk spool, and works even with ``WATCHKEEPER_DISABLED`` set.

    >>> import watchkeeper
    >>> with capture(service="checkout") as captured:
    ...     with watchkeeper.span("pay"):
    ...         pass
    >>> captured.spans[0].service
    'checkout'
    """
    transport = InMemoryTransport()
    config = Config.load(**options).replace(enabled=True, spool_max_bytes=0)
    client = Client(transport=transport, processors=processors, config=config)
    previous, DEFAULT.client = DEFAULT.client, client
    try:
        yield Captured(client, transport)
    finally:
        DEFAULT.client = previous
        client.shutdown()
