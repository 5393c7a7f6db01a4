"""GET /api/v1/records and /records/count: a read token sees its project's records."""

from __future__ import annotations

import time

import pytest
from tests.conftest import Running, make_event, make_span

from watchkeeper.server.api.records import parse_time

HOUR = 3600 * 10**9


def test_list_is_newest_first_with_limit(running: Running) -> None:
    """Records come back newest first, as record JSON with their kind, cut at limit."""
    now = time.time_ns()
    events = [make_event(f"e{i}", ts=now - i * 10**9, attributes={"i": i}) for i in range(5)]
    running.app.state.services.store.write([(running.project_id, events)])
    response = running.client.get(
        "/api/v1/records?kind=event&limit=3", headers=running.read_headers()
    )
    assert response.status_code == 200
    records = response.json()["records"]
    assert [r["name"] for r in records] == ["e0", "e1", "e2"]
    assert records[0]["kind"] == "event" and records[0]["attributes"] == {"i": 0}
    assert "project" not in records[0]


def test_window_by_duration_iso_and_ns(running: Running) -> None:
    """since/until accept ns, ISO 8601 and durations back from now."""
    now = time.time_ns()
    old, new = make_span(ts=now - 3 * HOUR), make_span(ts=now - 10**9)
    running.app.state.services.store.write([(running.project_id, [old, new])])

    def count(query: str) -> int:
        url = f"/api/v1/records/count?kind=span&{query}"
        return int(running.client.get(url, headers=running.read_headers()).json()["count"])

    assert count("") == 2
    assert count("since=1h") == 1
    assert count(f"until={now - HOUR}") == 1
    assert count("since=2020-01-01T00:00:00Z&until=2h") == 1


def test_other_projects_are_invisible(running: Running) -> None:
    """A read token counts only its own project's records."""
    running.app.state.services.store.write([(running.project_id + 1, [make_event()])])
    response = running.client.get(
        "/api/v1/records/count?kind=event", headers=running.read_headers()
    )
    assert response.json() == {"count": 0}


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("kind=check", "kind"),
        ("kind=event&since=yesterday", "since"),
        ("kind=event&since=2h&until=3h", "until"),
    ],
)
def test_bad_parameters_are_400_naming_the_field(running: Running, query: str, field: str) -> None:
    """An unknown kind or an unreadable time answers 400 whose message starts with the field."""
    response = running.client.get(f"/api/v1/records?{query}", headers=running.read_headers())
    assert response.status_code == 400
    assert response.json()["detail"].startswith(f"{field}:")


def test_ingest_key_cannot_read(running: Running) -> None:
    """Reading needs a read token; an ingest key or nothing answers 401."""
    for headers in ({}, {"Authorization": f"Bearer {running.ingest_key}"}):
        assert (
            running.client.get("/api/v1/records/count?kind=event", headers=headers).status_code
            == 401
        )


def test_parse_time_forms() -> None:
    """parse_time reads ns, ISO with and without zone, and s/m/h/d/w durations."""
    assert parse_time("123", 0, field="since") == 123
    assert parse_time("1970-01-01T00:00:01Z", 0, field="since") == 10**9
    assert parse_time("1970-01-01T00:00:02", 0, field="since") == 2 * 10**9
    assert parse_time("2w", 0, field="since", now=10**18) == 10**18 - 14 * 24 * HOUR
    assert parse_time(None, 7, field="since") == 7


def test_openapi_describes_the_api(running: Running) -> None:
    """/openapi.json lists ingest, the read API and health endpoints."""
    paths = running.client.get("/openapi.json").json()["paths"]
    assert {
        "/api/v1/ingest",
        "/api/v1/records",
        "/api/v1/records/count",
        "/healthz",
        "/readyz",
    } <= set(paths)


def test_no_page_loads_scripts_from_the_internet(running: Running) -> None:
    """FastAPI's CDN-backed /docs and /redoc pages are not served."""
    assert running.client.get("/docs").status_code == 404
    assert running.client.get("/redoc").status_code == 404
