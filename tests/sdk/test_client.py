from __future__ import annotations

import logging
import threading
from typing import Any

import pytest

import watchkeeper
from watchkeeper.records import MAX_ATTRIBUTES, Event
from watchkeeper.sdk.client import DEFAULT, Client, flatten
from watchkeeper.sdk.transport import InMemoryTransport
from watchkeeper.testing import capture

COUNTERS = {"queued", "sent", "dropped", "spooled", "replayed", "retried", "failed"}


def batcher_threads() -> int:
    return sum(thread.name == "watchkeeper-batcher" for thread in threading.enumerate())


def test_init_installs_and_returns_the_default_client() -> None:
    """init() builds a client, makes it the default and returns it."""
    transport = InMemoryTransport()
    client = watchkeeper.init(transport=transport, service="svc")
    assert DEFAULT.client is client and client.config.service == "svc"
    watchkeeper.track("signup")
    assert watchkeeper.flush()
    assert [record.name for record in transport.records] == ["signup"]


def test_init_again_replaces_and_shuts_down_the_previous_client() -> None:
    """A second init() flushes and stops the first client's thread."""
    first_transport = InMemoryTransport()
    first = watchkeeper.init(transport=first_transport, metrics_interval=0)
    watchkeeper.track("to-first")
    second = watchkeeper.init(transport=InMemoryTransport())
    assert DEFAULT.client is second and first is not second
    assert [record.name for record in first_transport.records] == ["to-first"]
    assert batcher_threads() == 1


def test_without_a_client_capture_calls_are_no_ops() -> None:
    """With no init(), track/span/flush/shutdown/stats do nothing and raise nothing."""
    assert DEFAULT.client is None
    watchkeeper.track("nobody listens", properties={"a": 1})
    with watchkeeper.span("nothing") as span:
        span.set_attribute("k", "v")
    assert watchkeeper.flush() is True
    watchkeeper.shutdown()
    assert watchkeeper.stats() == dict.fromkeys(COUNTERS, 0)
    assert batcher_threads() == 0


def test_disabled_client_starts_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    """WATCHKEEPER_DISABLED=1 gives a client with no thread, not installed as default."""
    monkeypatch.setenv("WATCHKEEPER_DISABLED", "1")
    client = watchkeeper.init()
    assert not client.enabled and DEFAULT.client is None and batcher_threads() == 0
    watchkeeper.track("ignored", client=client)
    assert client.flush() and client.stats() == dict.fromkeys(COUNTERS, 0)


def test_bad_endpoint_disables_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    """An unusable endpoint logs a warning and disables the client instead of raising."""
    with caplog.at_level(logging.WARNING, logger="watchkeeper"):
        client = Client(endpoint="not a url")
    assert not client.enabled
    assert "endpoint must be an http(s) URL" in caplog.text


def test_stats_has_exactly_the_documented_counters(make_client: Any) -> None:
    """stats() returns the seven counters, all ints."""
    stats = make_client(transport=InMemoryTransport()).stats()
    assert set(stats) == COUNTERS and all(type(value) is int for value in stats.values())


def test_track_builds_an_event() -> None:
    """track() records an Event with user_id and flattened, stringified properties."""

    class Plan:
        def __str__(self) -> str:
            return "pro-plan"

    with capture(service="shop") as captured:
        watchkeeper.track(
            "checkout",
            user_id="u42",
            properties={"cart": {"items": 3, "total": 9.5}, "plan": Plan(), "tags": ("a", 1)},
        )
    (event,) = captured.events
    assert isinstance(event, Event)
    assert (event.name, event.user_id, event.service) == ("checkout", "u42", "shop")
    assert event.attributes == {
        "cart.items": 3,
        "cart.total": 9.5,
        "plan": "pro-plan",
        "tags": ["a", 1],
    }
    assert event.trace_id is None and event.ts > 0


def test_track_inside_a_span_carries_its_ids() -> None:
    """An event tracked inside a span has that span's trace and span ids."""
    with capture() as captured, watchkeeper.span("request") as span:
        watchkeeper.track("clicked")
    (event,) = captured.events
    (recorded,) = captured.spans
    assert (event.trace_id, event.span_id) == (recorded.trace_id, recorded.span_id)
    assert span.trace_id is None  # closed


def test_track_copies_properties_at_call_time() -> None:
    """Changing the properties dict after track() does not change the event."""
    with capture() as captured:
        properties: dict[str, object] = {"step": 1}
        watchkeeper.track("step", properties=properties)
        properties["step"] = 2
    assert captured.events[0].attributes == {"step": 1}


def test_track_never_raises_and_counts_failures() -> None:
    """Bad arguments to track() are swallowed and counted as failed, not raised."""
    with capture() as captured:
        watchkeeper.track("bad", properties=42)  # type: ignore[arg-type]
        watchkeeper.track("")  # the contract needs a name
        watchkeeper.track("good")
        assert [event.name for event in captured.events] == ["good"]
        assert captured.stats()["failed"] == 2


def test_explicit_client_wins_over_the_default(make_client: Any) -> None:
    """client= sends to that client even when a default is installed."""
    mine = make_client(transport=InMemoryTransport())
    with capture() as captured:
        watchkeeper.track("to-mine", client=mine)
        assert captured.events == []
    assert mine.flush()
    assert [record.name for record in mine.transport.records] == ["to-mine"]


def test_flatten_keeps_to_the_contract() -> None:
    """flatten() cuts keys to 256 chars, strings to 64 KiB and keeps 128 attributes."""
    many = {f"k{n}": n for n in range(300)}
    assert len(flatten(many)) == MAX_ATTRIBUTES
    long = flatten({"x" * 300: "y" * 70_000, "n": None, "ok": True, "deep": {"a": {"b": [object]}}})
    assert {len(key) for key in long} >= {256}
    assert len(long["x" * 256]) == 65_536  # type: ignore[arg-type]
    assert long["n"] is None and long["ok"] is True
    assert long["deep.a.b"] == ["<class 'object'>"]


def test_flatten_survives_unprintable_values() -> None:
    """A value whose str() raises becomes a placeholder instead of failing the record."""

    class Unprintable:
        def __str__(self) -> str:
            raise RuntimeError("no")

    assert flatten({"v": Unprintable()}) == {"v": "<unprintable Unprintable>"}


def test_init_pushes_metrics_and_routes_opentelemetry() -> None:
    """After init(), business metrics reach the server as metric records (a last push at
    shutdown) and OpenTelemetry API spans are recorded."""
    from opentelemetry import trace as otel_trace

    from watchkeeper.records import Metric, Span

    transport = InMemoryTransport()
    client = watchkeeper.init(transport=transport, metrics_interval=3600)
    watchkeeper.counter("wk_client_test_jobs_total", "Jobs done in the client test.").inc(3)
    with otel_trace.get_tracer("test").start_as_current_span("otel-op"):
        pass
    client.shutdown()
    metrics = {r.name: r for r in transport.records if isinstance(r, Metric)}
    assert metrics["wk_client_test_jobs_total"].value == 3
    assert "otel-op" in [r.name for r in transport.records if isinstance(r, Span)]


def test_redaction_is_on_by_default() -> None:
    """A secret in an event's properties is masked before it leaves the process."""
    transport = InMemoryTransport()
    client = Client(transport=transport)
    watchkeeper.track(
        "login", properties={"password": "hunter2", "note": "mail me at a@b.io"}, client=client
    )
    client.flush()
    (event,) = transport.records
    assert "hunter2" not in str(event.attributes) and "a@b.io" not in str(event.attributes)
    client.shutdown()
