"""Fixtures shared by the suite: records to write, a migrated store, a running app with keys."""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from tests.fakes.llm_provider import FakeProvider

from watchkeeper.records import Event, Span
from watchkeeper.store.duckdb import DuckDBStore

_ids = itertools.count()


def make_event(name: str = "signup", *, ts: int | None = None, **fields: object) -> Event:
    """An event with a fresh id, now unless ``ts`` is given."""
    return Event(id=f"ev-{next(_ids)}", ts=ts or time.time_ns(), name=name, **fields)  # type: ignore[arg-type]


def make_span(
    name: str = "llm.chat", *, duration_ms: float = 12.0, ts: int | None = None, **fields: object
) -> Span:
    """A root span with fresh ids, now unless ``ts`` is given."""
    n = next(_ids)
    return Span(
        id=f"sp-{n}",
        ts=ts or time.time_ns(),
        name=name,
        trace_id=f"{n:032x}",
        span_id=f"{n + 1:016x}",
        duration_ns=int(duration_ms * 1e6),
        **fields,  # type: ignore[arg-type]
    )


@pytest.fixture(params=["duckdb"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DuckDBStore]:
    """A migrated, empty telemetry store of each backend."""
    backend = DuckDBStore(tmp_path / "telemetry.duckdb")
    backend.migrate()
    yield backend
    backend.close()


@dataclass
class Running:
    """An app under TestClient with project ``default``, an ingest key and a read token."""

    client: object
    app: object
    project_id: int
    ingest_key: str
    read_token: str
    data_dir: Path

    def ingest_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.ingest_key}", "Content-Type": "application/json"}

    def read_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.read_token}"}


@pytest.fixture
def running(tmp_path: Path) -> Iterator[Running]:
    """The real app (real DuckDB and SQLite in tmp_path) driven in-process by TestClient."""
    from fastapi.testclient import TestClient

    from watchkeeper.server.app import create_app
    from watchkeeper.server.settings import Settings

    app = create_app(Settings(data_dir=tmp_path))
    with TestClient(app) as client:
        meta = app.state.services.meta
        project = meta.ensure_project("default")
        yield Running(
            client=client,
            app=app,
            project_id=project.id,
            ingest_key=meta.create_key(project.id, "ingest"),
            read_token=meta.create_key(project.id, "read"),
            data_dir=tmp_path,
        )


# litellm downloads its model price map from GitHub when imported unless told to use the copy it
# ships; tests never reach the internet, so this is set before any test module imports litellm.
os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"


@pytest.fixture(scope="session")
def llm_provider_server() -> Iterator[FakeProvider]:
    """The fake OpenAI/Anthropic/Gemini server on 127.0.0.1, one for the whole session."""
    with FakeProvider() as provider:
        yield provider


@pytest.fixture
def llm_provider(llm_provider_server: FakeProvider) -> FakeProvider:
    """The session's fake LLM provider, with no requests or injected failures left over."""
    llm_provider_server.reset()
    return llm_provider_server
