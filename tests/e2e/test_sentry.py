"""The unmodified sentry-sdk, with its own HTTP transport (brotli or gzip), sending to
``watchkeeper serve`` through a DSN made by ``watchkeeper keys create --format dsn``."""

from __future__ import annotations

import gzip
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import sentry_sdk
from tests.e2e.conftest import Server, cli


def dsn_of(server: Server) -> str:
    return cli(
        "keys", "create", "--project", "default", "--kind", "ingest", "--format", "dsn",
        "--endpoint", server.url, "--quiet", data_dir=server.data_dir,
    ).strip()  # fmt: skip


def read(server: Server, path: str) -> Any:
    request = urllib.request.Request(
        f"{server.url}{path}", headers={"Authorization": f"Bearer {server.read_token}"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


@contextmanager
def sentry(dsn: str, **options: Any) -> Iterator[sentry_sdk.Client]:
    """A real client with the default HTTP transport, active in an isolation scope only."""
    client = sentry_sdk.Client(
        dsn=dsn, default_integrations=False, auto_enabling_integrations=False, **options
    )
    with sentry_sdk.isolation_scope() as scope:
        scope.set_client(client)
        try:
            yield client
        finally:
            client.flush(timeout=10)
            client.close(timeout=10)


def fail(kind: int) -> None:
    if kind == 0:
        raise ZeroDivisionError("division by zero")
    if kind == 1:
        raise KeyError("user")
    raise ValueError(f"bad value {kind}")


@pytest.mark.parametrize("algo", ["br", "gzip"])
def test_errors_are_stored_and_grouped(server: Server, algo: str) -> None:
    """3 distinct errors raised 10 times each: 30 error records and 3 issues of 10."""
    dsn = dsn_of(server)
    assert dsn.startswith("http://wki_") and dsn.endswith("@127.0.0.1:" + f"{server.port}/1")
    with sentry(dsn, release="app@1", environment="e2e",
                _experiments={"transport_compression_algo": algo}):  # fmt: skip
        for _ in range(10):
            for kind in range(3):
                try:
                    fail(kind)
                except Exception as exc:
                    sentry_sdk.capture_exception(exc)
    errors = read(server, "/api/v1/records?kind=error&limit=1000")["records"]
    assert len(errors) == 30
    assert {e["type"] for e in errors} == {"ZeroDivisionError", "KeyError", "ValueError"}
    assert all(e["release"] == "app@1" and e["frames"] for e in errors)
    issues = read(server, "/api/v1/issues")["issues"]
    assert sorted(issue["count"] for issue in issues) == [10, 10, 10]


def test_transaction_becomes_linked_spans(server: Server) -> None:
    """A transaction and its nested spans arrive as spans with their parent links."""
    with (
        sentry(dsn_of(server), traces_sample_rate=1.0),
        sentry_sdk.start_transaction(name="GET /chat", op="http.server") as tx,
        sentry_sdk.start_span(op="llm.call", name="chat gpt-4o") as llm,
        sentry_sdk.start_span(op="db.query", name="SELECT 1") as db,
    ):
        pass
    spans = {s["span_id"]: s for s in read(server, "/api/v1/records?kind=span")["records"]}
    assert spans[tx.span_id]["name"] == "GET /chat"
    assert spans[tx.span_id].get("parent_span_id") is None
    assert spans[llm.span_id]["parent_span_id"] == tx.span_id
    assert spans[db.span_id]["parent_span_id"] == llm.span_id
    assert {s["trace_id"] for s in spans.values()} == {tx.trace_id}


def post(server: Server, path: str, body: bytes, **headers: str) -> tuple[int, str]:
    request = urllib.request.Request(f"{server.url}{path}", data=body, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_key_checks_query_key_and_malformed(server: Server) -> None:
    """?sentry_key= with a gzip body stores; a malformed envelope is 400 and stores nothing;
    an unknown key is 401 and another project's id 401/403."""
    dsn = dsn_of(server)
    key, project = dsn.split("//")[1].split("@")[0], dsn.rsplit("/", 1)[1]
    event = json.dumps({"event_id": "f" * 32, "message": "hello"}).encode()
    good = b'{"event_id":"' + b"f" * 32 + b'"}\n{"type":"event"}\n' + event + b"\n"
    status, _ = post(server, f"/api/{project}/envelope/?sentry_key={key}", gzip.compress(good),
                     **{"Content-Encoding": "gzip"})  # fmt: skip
    assert status == 200
    bad = b'{}\n{"type":"event"}\n' + event.replace(b"f" * 32, b"e" * 32) + b'\n{"type":'
    status, text = post(server, f"/api/{project}/envelope/?sentry_key={key}", bad)
    assert status == 400 and "malformed envelope" in text
    status, _ = post(server, f"/api/{project}/envelope/?sentry_key=wki_{'0' * 32}", good)
    assert status == 401
    status, _ = post(server, f"/api/{int(project) + 5}/envelope/?sentry_key={key}", good)
    assert status == 403
    assert [e["id"] for e in read(server, "/api/v1/records?kind=error")["records"]] == ["f" * 32]


def test_a_resolved_issue_regresses_when_it_returns_in_a_newer_release(server: Server) -> None:
    """Resolve an issue in 1.0.0: the same error from 1.0.0 leaves it resolved; from 1.1.0
    it reopens as regressed."""
    from watchkeeper.meta.store import MetaStore

    dsn = dsn_of(server)

    def raise_in(release: str) -> None:
        with sentry(dsn, release=release):
            try:
                fail(2)
            except Exception as exc:
                sentry_sdk.capture_exception(exc)

    raise_in("1.0.0")
    (issue,) = read(server, "/api/v1/issues")["issues"]
    meta = MetaStore(f"sqlite:///{server.data_dir / 'meta.sqlite3'}")
    try:
        project = meta.project_by_slug("default")
        assert project is not None
        assert meta.set_issue_status(
            project.id, issue["id"], "resolved", resolved_in_release="1.0.0"
        )
    finally:
        meta.close()
    raise_in("1.0.0")
    assert read(server, f"/api/v1/issues/{issue['id']}")["status"] == "resolved"
    raise_in("1.1.0")
    again = read(server, f"/api/v1/issues/{issue['id']}")
    assert (again["status"], again["regressed"]) == ("regressed", True)


def test_watchkeeper_and_sentry_sdks_group_the_same_error_together(
    server: Server, tmp_path: Any
) -> None:
    """The same exceptions sent by watchkeeper's SDK and by sentry-sdk land in the same issues."""
    import watchkeeper

    dsn = dsn_of(server)
    with sentry(dsn, release="2.0"):
        for kind in range(3):
            try:
                fail(kind)
            except Exception as exc:
                sentry_sdk.capture_exception(exc)
    client = watchkeeper.Client(
        endpoint=server.url,
        key=server.ingest_key,
        release="2.0",
        spool_dir=str(tmp_path),
        metrics_interval=0,
    )
    try:
        for kind in range(3):
            try:
                fail(kind)
            except Exception as exc:
                watchkeeper.capture_exception(exc, client=client)
        assert client.flush(30)
    finally:
        client.shutdown()
    issues = read(server, "/api/v1/issues")["issues"]
    assert sorted(issue["count"] for issue in issues) == [2, 2, 2]
