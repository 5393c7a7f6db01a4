"""The server's own health: ``/healthz`` (the process answers) and ``/readyz`` (it can do its
job: both stores answer and the writer runs), in ``application/health+json``
(draft-inadarei-api-health-check: status pass|warn|fail, per-component ``checks``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from watchkeeper import __version__
from watchkeeper.query.sql import Statement

router = APIRouter(tags=["health"])

MEDIA_TYPE = "application/health+json"


class HealthResponse(JSONResponse):
    media_type = MEDIA_TYPE


def _probe(check: Callable[[], int | None], unit: str = "") -> dict[str, Any]:
    """Run one component check; a raised exception is that component's failure."""
    started = time.perf_counter()
    entry: dict[str, Any] = {"time": datetime.now(UTC).isoformat(timespec="seconds")}
    try:
        observed = check()
    except Exception as exc:  # a failing dependency is the answer, not an error of this endpoint
        entry.update(status="fail", output=f"{type(exc).__name__}: {exc}")
    else:
        entry["status"] = "pass"
        if observed is not None:
            entry.update(observedValue=observed, observedUnit=unit)
    entry["durationMs"] = round((time.perf_counter() - started) * 1000, 3)
    return entry


@router.get("/healthz", summary="Liveness", response_class=HealthResponse)
def healthz() -> HealthResponse:
    return HealthResponse({"status": "pass", "version": __version__, "serviceId": "watchkeeper"})


@router.get(
    "/readyz", summary="Readiness: stores open, writer alive", response_class=HealthResponse
)
def readyz(request: Request) -> HealthResponse:
    services = getattr(request.app.state, "services", None)
    if services is None:
        return HealthResponse({"status": "fail", "output": "starting"}, status_code=503)

    def writer() -> int:
        if not services.writer.alive:
            raise RuntimeError("the writer thread is not running")
        return int(services.writer.queued_records)

    def telemetry() -> None:
        services.store.query(Statement("SELECT 1"))

    def metadata() -> None:
        services.meta.projects()

    checks = {
        "telemetry:store": [_probe(telemetry)],
        "metadata:store": [_probe(metadata)],
        "writer:queue": [_probe(writer, unit="records")],
    }
    failed = any(entry["status"] == "fail" for entries in checks.values() for entry in entries)
    body = {
        "status": "fail" if failed else "pass",
        "version": __version__,
        "serviceId": "watchkeeper",
        "checks": checks,
    }
    return HealthResponse(body, status_code=503 if failed else 200)
