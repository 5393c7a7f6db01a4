"""API key dependencies on a real FastAPI app and a real metadata store in tmp_path."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Annotated

import pytest
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient

from watchkeeper.meta.store import MetaStore, secret_hash
from watchkeeper.server.auth import KeyCache, ingest_project, read_project


class Clock:
    """A settable monotonic clock for the key cache."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def meta(tmp_path: Path) -> Iterator[MetaStore]:
    store = MetaStore(f"sqlite:///{tmp_path / 'meta.sqlite3'}")
    store.migrate()
    yield store
    store.close()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def client(meta: MetaStore, clock: Clock) -> Iterator[TestClient]:
    app = FastAPI()
    # Only what the dependencies read: the metadata store and the key cache.
    app.state.services = SimpleNamespace(meta=meta)
    app.state.key_cache = KeyCache(ttl=30, clock=clock)

    @app.post("/ingest")
    async def ingest(project: Annotated[int, Depends(ingest_project)]) -> dict[str, int]:
        return {"project": project}

    @app.get("/read")
    async def read(project: Annotated[int, Depends(read_project)]) -> dict[str, int]:
        return {"project": project}

    with TestClient(app) as test_client:
        yield test_client


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def test_ingest_key_gives_its_project(client: TestClient, meta: MetaStore) -> None:
    """A live ingest key lets the request through with its project id."""
    shop = meta.ensure_project("shop")
    key = meta.create_key(shop.id, "ingest")
    response = client.post("/ingest", headers=bearer(key))
    assert response.status_code == 200
    assert response.json() == {"project": shop.id}


def test_read_token_gives_its_project(client: TestClient, meta: MetaStore) -> None:
    """A live read token lets a read request through with its project id."""
    shop = meta.ensure_project("shop")
    token = meta.create_key(shop.id, "read")
    assert client.get("/read", headers=bearer(token)).json() == {"project": shop.id}


def test_missing_header_names_the_header(client: TestClient) -> None:
    """No Authorization header answers 401 saying which header and value are expected."""
    response = client.post("/ingest")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["detail"] == (
        "missing Authorization header: expected 'Bearer <ingest key>'"
    )
    assert "Bearer <read token>" in client.get("/read").json()["detail"]


@pytest.mark.parametrize("header", ["Basic dXNlcjpwdw==", "Bearer", "Bearer   ", "wki_abc"])
def test_malformed_header(client: TestClient, header: str) -> None:
    """A header that is not 'Bearer <secret>' answers 401 saying the form expected."""
    response = client.post("/ingest", headers={"Authorization": header})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["detail"].startswith("malformed Authorization header")


def test_unknown_key(client: TestClient) -> None:
    """A well-formed key that does not exist answers 401 'unknown or revoked'."""
    response = client.post("/ingest", headers=bearer("wki_" + "A" * 32))
    assert response.status_code == 401
    assert response.json()["detail"] == "unknown or revoked ingest key"


def test_key_of_the_wrong_kind_is_named(client: TestClient, meta: MetaStore) -> None:
    """An ingest key on the read API, or a read token at ingest, answers 401 naming both kinds."""
    shop = meta.ensure_project("shop")
    key, token = meta.create_key(shop.id, "ingest"), meta.create_key(shop.id, "read")
    read = client.get("/read", headers=bearer(key))
    assert read.status_code == 401
    assert read.json()["detail"] == (
        "an ingest key (wki_…) was sent where a read token (wkr_…) is needed"
    )
    ingest = client.post("/ingest", headers=bearer(token))
    assert ingest.status_code == 401
    assert ingest.json()["detail"] == (
        "a read token (wkr_…) was sent where an ingest key (wki_…) is needed"
    )


def test_foreign_secret_is_named(client: TestClient) -> None:
    """A bearer secret that is no watchkeeper key at all answers 401 saying how keys start."""
    response = client.post("/ingest", headers=bearer("sk-proj-123"))
    assert response.status_code == 401
    assert response.json()["detail"] == "not a watchkeeper ingest key: it should start with wki_"


def test_revoked_key_is_refused_once_the_cache_expires(
    client: TestClient, meta: MetaStore, clock: Clock
) -> None:
    """Resolutions are cached: a revoked key works until its cache entry expires, then gets 401."""
    shop = meta.ensure_project("shop")
    key = meta.create_key(shop.id, "ingest")
    assert client.post("/ingest", headers=bearer(key)).status_code == 200
    (listed,) = meta.keys(shop.id)
    meta.revoke_key(shop.id, listed.id)
    assert client.post("/ingest", headers=bearer(key)).status_code == 200
    clock.now += 30
    response = client.post("/ingest", headers=bearer(key))
    assert response.status_code == 401
    assert response.json()["detail"] == "unknown or revoked ingest key"


def test_unknown_keys_are_cached_too(client: TestClient, meta: MetaStore, clock: Clock) -> None:
    """An unknown key's absence is cached, so repeated bad requests do not reach the database."""
    shop = meta.ensure_project("shop")
    key = meta.create_key(shop.id, "ingest")
    client.app.state.key_cache.put(secret_hash(key), "ingest", None)  # type: ignore[attr-defined]
    assert client.post("/ingest", headers=bearer(key)).status_code == 401
    clock.now += 30
    assert client.post("/ingest", headers=bearer(key)).status_code == 200


def test_cache_holds_digests_not_secrets(client: TestClient, meta: MetaStore) -> None:
    """The key cache is keyed by the key's sha256, never the key itself."""
    shop = meta.ensure_project("shop")
    key = meta.create_key(shop.id, "ingest")
    client.post("/ingest", headers=bearer(key))
    cache: KeyCache = client.app.state.key_cache  # type: ignore[attr-defined]
    assert cache.get(secret_hash(key), "ingest") == (True, shop.id)
    assert key not in repr(vars(cache))


def test_cache_is_made_on_first_use(meta: MetaStore) -> None:
    """An app without a key cache gets one on its first authenticated request."""
    app = FastAPI()
    app.state.services = SimpleNamespace(meta=meta)

    @app.post("/ingest")
    async def ingest(project: Annotated[int, Depends(ingest_project)]) -> dict[str, int]:
        return {"project": project}

    shop = meta.ensure_project("shop")
    with TestClient(app) as client:
        assert client.post("/ingest", headers=bearer(meta.create_key(shop.id, "ingest"))).is_success
    assert isinstance(app.state.key_cache, KeyCache)


def test_key_cache_is_bounded(clock: Clock) -> None:
    """The cache keeps at most max_size entries, dropping the least recently used."""
    cache = KeyCache(ttl=30, max_size=2, clock=clock)
    cache.put("a", "ingest", 1)
    cache.put("b", "ingest", 2)
    assert cache.get("a", "ingest") == (True, 1)
    cache.put("c", "ingest", 3)
    assert cache.get("b", "ingest") == (False, None)
    assert cache.get("a", "ingest") == (True, 1)
    assert cache.get("c", "ingest") == (True, 3)


def test_key_cache_entries_expire(clock: Clock) -> None:
    """An entry is forgotten once its time to live has passed."""
    cache = KeyCache(ttl=30, clock=clock)
    cache.put("a", "read", 7)
    clock.now += 29.9
    assert cache.get("a", "read") == (True, 7)
    clock.now += 0.1
    assert cache.get("a", "read") == (False, None)
