"""The real app (DuckDB and SQLite in tmp_path) under TestClient; a user in project "shop"."""

from __future__ import annotations

import html
import itertools
import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from watchkeeper.meta.store import Project, User
from watchkeeper.records import Event, Log, Metric, Record, Span
from watchkeeper.server.app import Services, create_app
from watchkeeper.server.settings import Settings

EMAIL = "ada@example.com"
PASSWORD = "correct-horse-battery"
SECOND = 1_000_000_000

_ids = itertools.count()


def event(name: str, *, ago_s: float = 60, user_id: str = "") -> Event:
    """An event ``ago_s`` seconds ago."""
    return Event(
        id=f"ev-{next(_ids)}", ts=time.time_ns() - int(ago_s * SECOND), name=name, user_id=user_id
    )


def span(name: str, duration_ms: float, *, ago_s: float = 60, status: str = "ok") -> Span:
    """A root span ``ago_s`` seconds ago."""
    n = next(_ids)
    return Span(
        id=f"sp-{n}",
        ts=time.time_ns() - int(ago_s * SECOND),
        name=name,
        trace_id=f"{n:032x}",
        span_id=f"{n + 1:016x}",
        duration_ns=int(duration_ms * 1e6),
        status=status,  # type: ignore[arg-type]
    )


def log(body: str, *, ago_s: float = 60, level: str = "INFO", number: int = 9,
        **fields: Any) -> Log:  # fmt: skip
    """A log line ``ago_s`` seconds ago."""
    ts = time.time_ns() - int(ago_s * SECOND)
    return Log(id=f"lg-{next(_ids):06d}", ts=ts, body=body, severity_text=level,
               severity_number=number, **fields)  # fmt: skip


def trace_span(trace_id: str, span_id: str, name: str, start_ms: float, duration_ms: float,
               parent: str | None = None, *, start: int, **fields: Any) -> Span:  # fmt: skip
    """A span of trace ``trace_id`` starting ``start_ms`` after ``start`` (ns)."""
    return Span(id=f"sp-{next(_ids)}", ts=start + int(start_ms * 1e6), trace_id=trace_id,
                span_id=span_id, parent_span_id=parent, name=name,
                duration_ns=int(duration_ms * 1e6), **fields)  # fmt: skip


def request_span(method: str, route: str, status: int, duration_ms: float, *,
                 ago_s: float = 60, service: str = "api") -> Span:  # fmt: skip
    """An HTTP server span, as a web framework's instrumentation records one."""
    n = next(_ids)
    attributes = {"http.request.method": method, "http.route": route,
                  "http.response.status_code": status}  # fmt: skip
    return Span(id=f"rq-{n}", ts=time.time_ns() - int(ago_s * SECOND), name=f"{method} {route}",
                trace_id=f"{n:032x}", span_id=f"{n + 1:016x}", duration_ns=int(duration_ms * 1e6),
                span_kind="server", service=service, attributes=attributes)  # fmt: skip


def metric(name: str, kind: str, value: float, *, ago_s: float = 60, **fields: Any) -> Metric:
    """A metric sample ``ago_s`` seconds ago."""
    ts = time.time_ns() - int(ago_s * SECOND)
    return Metric(id=f"mt-{next(_ids)}", ts=ts, name=name, type=kind, value=value, **fields)  # type: ignore[arg-type]


def charts(page: str) -> list[dict[str, Any]]:
    """The chart data embedded in a page, in page order."""
    found = re.findall(r"data-chart='([^']*)'", page)
    return [json.loads(html.unescape(text)) for text in found]


def table_rows(page: str, name: str) -> list[list[str]]:
    """The text of each cell of the page's table ``name``, row by row."""
    found = re.search(rf'data-table="{name}">(.*?)</table>', page, re.S)
    assert found, f"no table {name!r} in the page"
    body = found.group(1).split("<tbody", 1)[1]
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S)
    cell = lambda text: html.unescape(re.sub(r"<[^>]+>", "", text)).strip()
    return [[cell(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)] for row in rows]


def form_token(html: str) -> str:
    """The CSRF token a page's forms carry."""
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no csrf_token field in the page"
    return found.group(1)


@dataclass
class Dashboard:
    client: TestClient
    services: Services
    project: Project
    user: User

    def write(self, *records: Record, project: Project | None = None) -> None:
        self.services.store.write([((project or self.project).id, list(records))])

    def login(self, email: str = EMAIL, password: str = PASSWORD, next_path: str = "/") -> Any:
        token = form_token(self.client.get("/login").text)
        return self.client.post(
            "/login",
            data={"email": email, "password": password, "next": next_path, "csrf_token": token},
            follow_redirects=False,
        )


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path)


@pytest.fixture
def dashboard(settings: Settings) -> Iterator[Dashboard]:
    """Anonymous so far; ada@example.com is a member of project "shop"."""
    app = create_app(settings)
    with TestClient(app) as client:
        services: Services = app.state.services
        project = services.meta.ensure_project("shop", "Shop")
        user = services.meta.create_user(EMAIL, PASSWORD)
        services.meta.grant(user.id, project.id, "member")
        yield Dashboard(client=client, services=services, project=project, user=user)


@pytest.fixture
def logged_in(dashboard: Dashboard) -> Dashboard:
    """The same, logged in."""
    assert dashboard.login().status_code == 303
    return dashboard
