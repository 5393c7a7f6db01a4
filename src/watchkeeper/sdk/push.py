"""The push of metric samples to the server: every ``metrics_interval`` seconds the registry's
samples become ``metric`` records for the client's batcher, so the server charts an app's
metrics without anything scraping it (Prometheus still can, at ``/metrics``: metrics.py).

>>> push = start_push()  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
import weakref
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Final

from prometheus_client import REGISTRY, CollectorRegistry

from watchkeeper.records import Metric
from watchkeeper.sdk.batcher import Item

if TYPE_CHECKING:
    from watchkeeper.sdk.client import Client

logger = logging.getLogger("watchkeeper")


class MetricsPush:
    """Every ``interval`` seconds, on its own daemon thread, the registry's samples become
    ``metric`` records for the client's batcher: counters and gauges as values, histograms
    with cumulative buckets, count and sum, labels as attributes. Values are cumulative, as
    Prometheus scrapes them; the server charts increases. Start it with :func:`start_push`.
    """

    def __init__(
        self, client: Client, registry: CollectorRegistry = REGISTRY, interval: float = 15.0
    ) -> None:
        self.client = client
        self.registry = registry
        self.interval = max(interval, 0.01)
        self._warned = False
        self._start()
        _track(self)

    def _start(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="watchkeeper-metrics", daemon=True)
        self._thread.start()

    def push(self) -> int:
        """Collect now and enqueue one record per series; return how many."""
        items = collect_items(self.registry, time.time_ns())
        enqueue = self.client.enqueue
        for item in items:
            enqueue(item)
        return len(items)

    def stop(self, timeout: float = 5.0, *, final: bool = True) -> None:
        """Stop the thread; with ``final``, push once more so that a short-lived process
        reports what it counted since the last push."""
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout)
        _live.discard(self)
        if final:
            self._push_safely()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._push_safely()

    def _push_safely(self) -> None:
        try:
            self.push()
        except Exception as exc:  # a collector that raises must not end the pushes
            self.client.count_failure()
            if not self._warned:
                self._warned = True
                logger.warning("watchkeeper: metrics push failed (continuing): %r", exc)


def start_push(
    client: Client | None = None,
    *,
    registry: CollectorRegistry | None = None,
    interval: float | None = None,
) -> MetricsPush | None:
    """Push ``registry``'s samples (``REGISTRY`` by default) through ``client`` (the default
    client) every ``interval`` seconds (its ``metrics_interval``). None when there is no
    enabled client or the interval is 0.

    >>> push = start_push()  # doctest: +SKIP
    """
    from watchkeeper.sdk.client import DEFAULT  # noqa: PLC0415 - client imports this module

    client = client or DEFAULT.client
    if client is None or not client.enabled:
        return None
    interval = client.config.metrics_interval if interval is None else interval
    if interval <= 0:
        return None
    return MetricsPush(client, REGISTRY if registry is None else registry, interval)


_COMPOUND: Final = {"histogram": "histogram", "gaugehistogram": "histogram", "summary": "histogram"}
_SKIPPED_SUFFIXES: Final = ("_created", "_gsum", "_gcount")


def collect_items(registry: CollectorRegistry, ts: int) -> list[Item]:
    """The registry's samples as batcher items, one per series (a histogram's buckets, count
    and sum are one). Non-finite values are left out: JSON has no NaN or infinity."""
    items: list[Item] = []
    for family in registry.collect():
        name, kind = family.name, family.type
        unit = family.unit or _unit_of(name)
        if kind in _COMPOUND:
            items += _histogram_items(family.name, family.samples, unit, ts)
            continue
        metric_type = "counter" if kind == "counter" else "gauge"
        for sample in family.samples:
            if sample.name.endswith("_created") or not math.isfinite(sample.value):
                continue
            items.append(
                (_build_metric, ts, sample.name, metric_type, float(sample.value), unit,
                 0, 0.0, [], dict(sample.labels))
            )  # fmt: skip
    return items


def _histogram_items(name: str, samples: Iterable[Any], unit: str, ts: int) -> list[Item]:
    series: dict[tuple[tuple[str, str], ...], list[Any]] = {}
    for sample in samples:
        labels = {k: v for k, v in sample.labels.items() if k not in ("le", "quantile")}
        entry = series.setdefault(tuple(sorted(labels.items())), [labels, [], 0, 0.0])
        suffix = sample.name[len(name) :]
        if suffix == "_bucket":
            bound = float(sample.labels["le"])
            if math.isfinite(bound):  # +Inf is `count`
                entry[1].append((bound, int(sample.value)))
        elif suffix in ("_count", "_gcount"):
            entry[2] = int(sample.value)
        elif suffix in ("_sum", "_gsum") and math.isfinite(sample.value):
            entry[3] = float(sample.value)
    return [
        (_build_metric, ts, name, "histogram", 0.0, unit, count, total, buckets, labels)
        for labels, buckets, count, total in series.values()
    ]


def _unit_of(name: str) -> str:
    # UCUM, as OpenTelemetry writes units: seconds "s", bytes "By".
    base = name.removesuffix("_total")
    if base.endswith("_seconds"):
        return "s"
    if base.endswith("_bytes"):
        return "By"
    return ""


def _build_metric(item: Item, record_id: str) -> Metric:
    _, ts, name, kind, value, unit, count, total, buckets, labels = item
    return Metric(
        id=record_id,
        ts=ts,
        name=name[:256],
        type=kind,
        value=value,
        unit=unit,
        count=count,
        sum=total,
        buckets=buckets,
        attributes=labels,
    )


_live: weakref.WeakSet[MetricsPush] = weakref.WeakSet()
_fork_hook = False


def _track(push: MetricsPush) -> None:
    global _fork_hook  # noqa: PLW0603 - one-time process hook
    _live.add(push)
    if not _fork_hook and hasattr(os, "register_at_fork"):
        _fork_hook = True
        os.register_at_fork(after_in_child=_restart_in_child)


def _restart_in_child() -> None:
    # A forked child has no threads but the one that forked; its pushes start over.
    for push in list(_live):
        if not push._stop.is_set():
            push._start()
