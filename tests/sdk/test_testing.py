from __future__ import annotations

import pytest

import watchkeeper
import watchkeeper.testing
from watchkeeper.records import Event, Span
from watchkeeper.sdk import testing
from watchkeeper.sdk.client import DEFAULT
from watchkeeper.sdk.transport import InMemoryTransport


def test_public_module_re_exports_capture() -> None:
    """watchkeeper.testing.capture is the SDK's capture."""
    assert watchkeeper.testing.capture is testing.capture


def test_capture_collects_decoded_records_in_order() -> None:
    """Records emitted inside capture() come back decoded, with batch defaults applied."""
    with watchkeeper.testing.capture(service="billing", release="9") as captured:
        watchkeeper.track("first")
        with watchkeeper.span("work"):
            pass
        records = captured.records
    assert [type(record) for record in records] == [Event, Span]
    assert {(record.service, record.release) for record in records} == {("billing", "9")}
    assert [event.name for event in captured.events] == ["first"]
    assert [span.name for span in captured.spans] == ["work"]


def test_capture_flushes_on_every_access() -> None:
    """Each access sees everything emitted up to that point; clear() forgets it."""
    with watchkeeper.testing.capture() as captured:
        watchkeeper.track("a")
        assert len(captured.events) == 1
        watchkeeper.track("b")
        assert [event.name for event in captured.events] == ["a", "b"]
        captured.clear()
        assert captured.records == []


def test_capture_restores_the_previous_default() -> None:
    """The default client before capture() is back afterwards, and untouched."""
    outer_transport = InMemoryTransport()
    outer = watchkeeper.init(transport=outer_transport)
    with watchkeeper.testing.capture() as captured:
        assert DEFAULT.client is captured.client
        watchkeeper.track("captured")
    assert DEFAULT.client is outer
    watchkeeper.track("outer")
    assert watchkeeper.flush()
    assert [record.name for record in outer_transport.records] == ["outer"]


def test_capture_works_when_the_sdk_is_disabled(monkeypatch: pytest.MonkeyPatch) -> None:
    """capture() records even with WATCHKEEPER_DISABLED=1 and never spools."""
    monkeypatch.setenv("WATCHKEEPER_DISABLED", "1")
    with watchkeeper.testing.capture() as captured:
        watchkeeper.track("still seen")
        assert captured.client.config.spool_max_bytes == 0
        assert [event.name for event in captured.events] == ["still seen"]


def test_capture_runs_processors() -> None:
    """Processors given to capture() run on what is captured."""

    def redact(record: Event | Span) -> Event | Span:
        record.user_id = "redacted"
        return record

    with watchkeeper.testing.capture(processors=[redact]) as captured:  # type: ignore[list-item]
        watchkeeper.track("login", user_id="alice@example.com")
        assert captured.events[0].user_id == "redacted"
