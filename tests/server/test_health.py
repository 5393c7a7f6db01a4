"""/healthz and /readyz answer in application/health+json."""

from __future__ import annotations

from tests.conftest import Running


def test_healthz_passes_while_the_process_runs(running: Running) -> None:
    """Liveness answers pass with the health+json media type."""
    response = running.client.get("/healthz")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/health+json")
    assert response.json()["status"] == "pass"


def test_readyz_checks_each_component(running: Running) -> None:
    """Readiness reports the stores and the writer, each passing."""
    body = running.client.get("/readyz").json()
    assert body["status"] == "pass"
    assert set(body["checks"]) == {"telemetry:store", "metadata:store", "writer:queue"}
    assert all(entry[0]["status"] == "pass" for entry in body["checks"].values())
    assert body["checks"]["writer:queue"][0]["observedUnit"] == "records"


def test_readyz_fails_when_the_writer_is_down(running: Running) -> None:
    """With the writer stopped, readiness answers 503 and names the failing component."""
    running.app.state.services.writer.stop()
    response = running.client.get("/readyz")
    assert response.status_code == 503
    assert response.headers["content-type"].startswith("application/health+json")
    body = response.json()
    assert body["status"] == "fail"
    assert body["checks"]["writer:queue"][0]["status"] == "fail"
