"""Request queries over server spans: by route template, per bucket, slowest routes."""

from __future__ import annotations

from tests.conftest import make_span

from watchkeeper.query import catalog
from watchkeeper.store.base import Store

NOW = 1_800_000_000_000_000_000
MINUTE = 60 * 10**9
WINDOW = {"project": 1, "since": NOW, "until": NOW + 10 * MINUTE}


def request(
    route: str | None, status: int | str, ms: float, *, method: str = "GET", old_names: bool = False
):  # type: ignore[no-untyped-def]
    attributes: dict[str, object] = (
        {"http.method": method, "http.status_code": status}
        if old_names
        else {"http.request.method": method, "http.response.status_code": status}
    )
    if route:
        attributes["http.route"] = route
    return make_span(
        f"{method} {route or '/raw'}",
        duration_ms=ms,
        ts=NOW,
        span_kind="server",
        attributes=attributes,
    )


def seed(store: Store) -> None:
    store.write([(1, [
        *(request("/users/{id}", 200, ms) for ms in range(1, 11)),
        request("/users/{id}", 503, 50),
        request("/chat", 200, 900, method="POST"),
        request("/chat", "500", 1200, method="POST", old_names=True),
        request(None, 404, 2),
        make_span("internal work", ts=NOW),  # not a server span: not a request
    ])])  # fmt: skip


def test_by_route_groups_templates_and_counts_errors(store: Store) -> None:
    """Requests group by method and route template; 5xx count as errors; old attribute names work."""
    seed(store)
    rows = {
        (r["method"], r["route"]): r
        for r in catalog.run(store, "requests.by_route", **WINDOW, limit=10)
    }
    assert set(rows) == {("GET", "/users/{id}"), ("POST", "/chat"), ("GET", "GET /raw")}
    assert (rows[("GET", "/users/{id}")]["count"], rows[("GET", "/users/{id}")]["errors"]) == (
        11,
        1,
    )
    assert (rows[("POST", "/chat")]["count"], rows[("POST", "/chat")]["errors"]) == (2, 1)
    assert rows[("GET", "GET /raw")]["errors"] == 0


def test_slowest_routes_sort_by_p95(store: Store) -> None:
    """requests.slowest_routes puts the highest p95 first."""
    seed(store)
    routes = [r["route"] for r in catalog.run(store, "requests.slowest_routes", **WINDOW, limit=10)]
    assert routes[0] == "/chat"


def test_per_bucket_counts_only_server_spans(store: Store) -> None:
    """requests.per_bucket counts requests and errors; a route filter narrows it."""
    seed(store)
    (row,) = catalog.run(store, "requests.per_bucket", **WINDOW, bucket=MINUTE)
    assert (row["count"], row["errors"]) == (14, 2)
    (chat,) = catalog.run(store, "requests.per_bucket", **WINDOW, bucket=MINUTE, http_route="/chat")
    assert chat["count"] == 2
