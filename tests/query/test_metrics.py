"""Metric queries: names with their last value, one metric's series per label set."""

from __future__ import annotations

import itertools

from watchkeeper.query import catalog
from watchkeeper.records import Metric
from watchkeeper.store.base import Store

NOW = 1_800_000_000_000_000_000
MINUTE = 60 * 10**9
WINDOW = {"project": 1, "since": NOW, "until": NOW + 10 * MINUTE}
_ids = itertools.count()


def sample(name: str, value: float, at_minute: int, **fields: object) -> Metric:
    return Metric(
        id=f"m{next(_ids)}", ts=NOW + at_minute * MINUTE, name=name, value=value, **fields
    )  # type: ignore[arg-type]


def test_names_and_series(store: Store) -> None:
    """metrics.names lists each metric with its last value; metrics.series splits label sets."""
    store.write([(1, [
        sample("queue_depth", 3, 0, type="gauge"), sample("queue_depth", 7, 1, type="gauge"),
        sample("jobs_total", 10, 0, type="counter", attributes={"queue": "a"}),
        sample("jobs_total", 25, 1, type="counter", attributes={"queue": "a"}),
        sample("jobs_total", 4, 1, type="counter", attributes={"queue": "b"}),
        sample("latency_seconds", 0, 1, type="histogram", count=3, sum=1.5, buckets=[(0.5, 2), (1.0, 3)]),
    ])])  # fmt: skip
    names = {r["name"]: r for r in catalog.run(store, "metrics.names", **WINDOW)}
    assert names["queue_depth"]["last_value"] == 7 and names["queue_depth"]["samples"] == 2
    assert names["jobs_total"]["type"] == "counter"
    series = catalog.run(store, "metrics.series", **WINDOW, bucket=MINUTE, name="jobs_total")
    assert [(r["labels"], r["max"]) for r in series] == [
        ('{"queue":"a"}', 10),
        ('{"queue":"a"}', 25),
        ('{"queue":"b"}', 4),
    ]
    (histogram,) = catalog.run(
        store, "metrics.series", **WINDOW, bucket=MINUTE, name="latency_seconds"
    )
    assert (histogram["count"], histogram["sum"]) == (3, 1.5)
