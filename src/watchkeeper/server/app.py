"""The composition root: ``create_app(settings)`` wires every part of the server, on one screen.

Stores are opened and the writer started in the lifespan, so importing this module touches no file.
Routes reach the parts through ``request.app.state.services`` (:class:`Services`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from watchkeeper import __version__
from watchkeeper.alerts.evaluator import Evaluator
from watchkeeper.dashboard import pages
from watchkeeper.llm.prices import PriceBook
from watchkeeper.meta.store import MetaStore
from watchkeeper.server import health
from watchkeeper.server.api import alerts as alerts_api
from watchkeeper.server.api import issues as issues_api
from watchkeeper.server.api import llm as llm_api
from watchkeeper.server.api import records as records_api
from watchkeeper.server.ingest import native, otlp, sentry
from watchkeeper.server.pipeline import Pipeline
from watchkeeper.server.settings import Settings
from watchkeeper.server.writer import Writer
from watchkeeper.store.base import Store
from watchkeeper.store.duckdb import DuckDBStore

STATIC_DIR = Path(__file__).parent.parent / "dashboard" / "static"


@dataclass
class Services:
    """What routes need, built once per app. Tests may build their own."""

    settings: Settings
    store: Store
    meta: MetaStore
    writer: Writer
    pipeline: Pipeline | None = None
    """Runs on every batch before the writer (error grouping); None in tests without it."""
    evaluator: Evaluator | None = None
    """The alert evaluator task, started and stopped by the lifespan."""


def open_services(settings: Settings) -> Services:
    """Open both stores (migrating them) and start the writer."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    meta = MetaStore(settings.meta_url)
    meta.migrate()
    store = DuckDBStore(settings.telemetry_path)
    store.migrate()
    writer = Writer(
        store,
        max_records=settings.writer_max_records,
        linger=settings.writer_linger_ms / 1000,
        queue_records=settings.writer_queue_records,
    )
    writer.start()
    pipeline = Pipeline(meta, settings.severity_rules, PriceBook(settings.prices_file))
    return Services(settings=settings, store=store, meta=meta, writer=writer, pipeline=pipeline)


def close_services(services: Services) -> None:
    """Stop the writer after it commits what it holds, then close the stores."""
    services.writer.stop()
    services.store.close()
    services.meta.close()


def create_app(settings: Settings) -> FastAPI:
    """Build the ASGI app for ``settings``."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        services = open_services(settings)
        app.state.services = services
        services.evaluator = Evaluator(
            services.store, services.meta, rules_file=settings.rules_file,
            interval=settings.alerts_interval, external_url=settings.base_url,
        )  # fmt: skip
        services.evaluator.start()
        try:
            yield
        finally:
            try:
                await services.evaluator.stop()
            finally:
                close_services(services)

    app = FastAPI(
        title="watchkeeper",
        version=__version__,
        summary="Monitoring and analytics for LLM-powered Python apps.",
        lifespan=lifespan,
        # FastAPI's /docs and /redoc pages load their scripts from a CDN; nothing here may
        # fetch from the internet, so only the machine-readable /openapi.json is served.
        docs_url=None,
        redoc_url=None,
    )
    app.include_router(native.router)
    app.include_router(otlp.router)
    app.include_router(sentry.router)
    app.include_router(records_api.router)
    app.include_router(issues_api.router)
    app.include_router(alerts_api.router)
    app.include_router(llm_api.router)
    app.include_router(health.router)
    app.include_router(pages.router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app
