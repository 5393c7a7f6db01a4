"""The push of metric samples: registry samples become metric records, sent from a background
thread, and off without a client."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from watchkeeper.records import Metric
from watchkeeper.sdk.metrics import counter, gauge, histogram
from watchkeeper.sdk.push import collect_items, start_push
from watchkeeper.testing import capture


@pytest.fixture
def registry() -> CollectorRegistry:
    """A fresh registry."""
    return CollectorRegistry()


def test_collect_items_turns_samples_into_metric_records(registry: CollectorRegistry) -> None:
    """Counters and gauges become values, histograms cumulative buckets with count and sum
    (no +Inf), labels become attributes; _created and non-finite samples are left out."""
    counter("orders_total", "Orders.", ["shop"], registry=registry).labels("eu").inc(2)
    gauge("temperature_celsius", "T.", registry=registry).set(float("nan"))
    gauge("queue_depth", "Q.", registry=registry).set(7)
    latency = histogram("rag_seconds", "RAG.", ["index"], buckets=(0.1, 1.0), registry=registry)
    latency.labels("docs").observe(0.05)
    latency.labels("docs").observe(0.5)
    latency.labels("docs").observe(5.0)
    items = collect_items(registry, 123)
    records = [item[0](item, f"id{n}") for n, item in enumerate(items)]
    by_name = {record.name: record for record in records}
    assert set(by_name) == {"orders_total", "queue_depth", "rag_seconds"}
    orders = by_name["orders_total"]
    assert (orders.type, orders.value, orders.attributes, orders.ts) == (
        "counter",
        2.0,
        {"shop": "eu"},
        123,
    )
    assert (by_name["queue_depth"].type, by_name["queue_depth"].value) == ("gauge", 7.0)
    rag = by_name["rag_seconds"]
    assert (rag.type, rag.count, rag.sum, rag.unit) == ("histogram", 3, pytest.approx(5.55), "s")
    assert rag.buckets == [(0.1, 1), (1.0, 2)] and rag.attributes == {"index": "docs"}


def test_push_sends_metric_records_from_a_background_thread() -> None:
    """With an interval, the registry's samples arrive as metric records, pushed by the
    watchkeeper-metrics thread; stop() pushes a last time and ends the thread."""
    registry = CollectorRegistry()
    hits = counter("hits_total", "Hits.", registry=registry)
    hits.inc()
    threads: list[str] = []

    class Watching(CollectorRegistry):
        def collect(self) -> Any:
            threads.append(threading.current_thread().name)
            return registry.collect()

    with capture() as captured:
        push = start_push(registry=Watching(), interval=0.02)
        assert push is not None
        deadline = 5.0
        while not any(isinstance(r, Metric) for r in captured.records) and deadline > 0:
            threading.Event().wait(0.02)
            deadline -= 0.02
        hits.inc(4)
        push.stop()
        pushed = [r for r in captured.records if isinstance(r, Metric) and r.name == "hits_total"]
    assert pushed[0].value >= 1 and pushed[-1].value == 5
    assert threads[0] == "watchkeeper-metrics" and threads[-1] == threading.current_thread().name
    assert not [t for t in threading.enumerate() if t.name == "watchkeeper-metrics"]


def test_push_is_off_without_a_client_or_with_interval_zero() -> None:
    """start_push returns None when there is no client or metrics_interval is 0."""
    assert start_push() is None
    with capture(metrics_interval=0):
        assert start_push() is None
