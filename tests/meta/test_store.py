"""The metadata store on a real SQLite file: migrations, projects, users, roles, keys, sessions."""

from __future__ import annotations

import sqlite3
import string
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from argon2 import PasswordHasher

from watchkeeper.errors.issues import STATUSES, Occurrence
from watchkeeper.meta import migrations
from watchkeeper.meta.store import MetaStore, UserExistsError, secret_hash
from watchkeeper.meta.tables import metadata

# Cheap argon2 parameters keep the suite fast; the rehash test switches to stronger ones.
FAST = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
TABLES = {"projects", "users", "memberships", "api_keys", "login_sessions", "issues", "budgets"}


class Clock:
    """A settable clock for the store."""

    def __init__(self) -> None:
        self.now = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'meta.sqlite3'}"


@pytest.fixture
def meta(url: str, clock: Clock) -> Iterator[MetaStore]:
    store = MetaStore(url, hasher=FAST, clock=clock)
    store.migrate()
    yield store
    store.close()


def test_migrate_creates_the_tables(meta: MetaStore, url: str) -> None:
    """Migrating an empty database creates every metadata table."""
    engine = sa.create_engine(url)
    assert set(sa.inspect(engine).get_table_names()) >= TABLES
    engine.dispose()


def test_migrate_is_idempotent(meta: MetaStore, url: str) -> None:
    """Migrating again changes nothing and leaves the database at the newest revision."""
    meta.ensure_project("default")
    meta.migrate()
    meta.migrate()
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        version = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
    assert version == ScriptDirectory.from_config(migrations.config()).get_current_head()
    engine.dispose()
    assert [p.slug for p in meta.projects()] == ["default"]


def test_migrations_match_the_declared_tables(meta: MetaStore, url: str) -> None:
    """The migrated schema is exactly tables.py: Alembic's autogenerate finds nothing to add."""
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, metadata) == []
    engine.dispose()


def test_sqlite_runs_in_wal_mode(meta: MetaStore, tmp_path: Path) -> None:
    """The SQLite file is in WAL mode, so readers never wait for a writer."""
    connection = sqlite3.connect(tmp_path / "meta.sqlite3")
    assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    connection.close()


def test_ensure_project_creates_once(meta: MetaStore) -> None:
    """ensure_project creates a project the first time and returns the same one after."""
    first = meta.ensure_project("shop", "Web shop")
    again = meta.ensure_project("shop", "Another name")
    assert first == again
    assert (first.slug, first.name) == ("shop", "Web shop")
    assert meta.ensure_project("blog").name == "blog"


def test_projects_are_found_by_slug_and_id(meta: MetaStore) -> None:
    """Projects are found by slug and numeric id, listed by slug, and None when unknown."""
    b = meta.ensure_project("bravo")
    a = meta.ensure_project("alpha")
    assert meta.project_by_slug("bravo") == b
    assert meta.project_by_id(a.id) == a
    assert meta.project_by_slug("nope") is None
    assert meta.project_by_id(999) is None
    assert meta.projects() == [a, b]


def test_project_slugs_are_checked(meta: MetaStore) -> None:
    """A slug that is not lower-case letters, digits and '-' is refused."""
    for bad in ("", "Has Caps", "-lead", "a/b", "x" * 65):
        with pytest.raises(ValueError, match="slug"):
            meta.ensure_project(bad)


def test_create_user_stores_email_lower_cased(meta: MetaStore) -> None:
    """Emails are stored lower-cased and trimmed."""
    user = meta.create_user("  Ada@Example.COM ", "correct horse", is_admin=True)
    assert (user.email, user.is_admin) == ("ada@example.com", True)
    assert meta.user_by_email("ADA@example.com") == user


def test_create_user_refuses_an_existing_email(meta: MetaStore) -> None:
    """Creating a user whose email exists, in any letter case, raises UserExistsError."""
    meta.create_user("ada@example.com", "correct horse")
    with pytest.raises(UserExistsError, match=r"ada@example\.com exists already"):
        meta.create_user("ADA@example.com", "another password")


def test_create_user_checks_email_and_password(meta: MetaStore) -> None:
    """A malformed email or a short password is refused with a clear error."""
    with pytest.raises(ValueError, match="not an email address"):
        meta.create_user("ada", "correct horse")
    with pytest.raises(ValueError, match="too short"):
        meta.create_user("ada@example.com", "short")


def test_ensure_user_keeps_an_existing_user_unchanged(meta: MetaStore) -> None:
    """ensure_user creates once; later calls neither change the password nor the admin flag."""
    user, created = meta.ensure_user("ada@example.com", "first password", is_admin=True)
    again, created_again = meta.ensure_user("ada@example.com", "second password")
    assert (created, created_again) == (True, False)
    assert again == user
    assert meta.authenticate("ada@example.com", "first password") == user
    assert meta.authenticate("ada@example.com", "second password") is None


def test_authenticate(meta: MetaStore) -> None:
    """authenticate returns the user for the right password and None otherwise."""
    user = meta.create_user("ada@example.com", "correct horse")
    assert meta.authenticate("Ada@Example.com", "correct horse") == user
    assert meta.authenticate("ada@example.com", "wrong horse") is None
    assert meta.authenticate("nobody@example.com", "correct horse") is None


def test_password_is_stored_as_argon2id(meta: MetaStore, tmp_path: Path) -> None:
    """The password is stored as an argon2id hash, never in clear."""
    meta.create_user("ada@example.com", "correct horse")
    stored = _scalar(tmp_path, "SELECT password_hash FROM users")
    assert stored.startswith("$argon2id$")
    assert "correct horse" not in stored


def test_authenticate_rehashes_with_new_parameters(url: str, tmp_path: Path) -> None:
    """A login with a hash made under older parameters stores a hash with the current ones."""
    old = MetaStore(url, hasher=FAST)
    old.migrate()
    old.create_user("ada@example.com", "correct horse")
    old.close()
    stronger = PasswordHasher(time_cost=2, memory_cost=2048, parallelism=1)
    new = MetaStore(url, hasher=stronger)
    assert new.authenticate("ada@example.com", "correct horse") is not None
    new.close()
    stored = _scalar(tmp_path, "SELECT password_hash FROM users")
    assert not stronger.check_needs_rehash(stored)
    assert FAST.check_needs_rehash(stored)


def test_grant_sets_and_replaces_a_role(meta: MetaStore) -> None:
    """grant gives a role in a project and a second grant replaces it."""
    user = meta.create_user("ada@example.com", "correct horse")
    shop = meta.ensure_project("shop")
    assert meta.role(user.id, shop.id) is None
    meta.grant(user.id, shop.id, "viewer")
    assert meta.role(user.id, shop.id) == "viewer"
    meta.grant(user.id, shop.id, "admin")
    assert meta.role(user.id, shop.id) == "admin"


def test_grant_refuses_unknown_roles_users_and_projects(meta: MetaStore) -> None:
    """grant refuses a role outside admin|member|viewer, and users or projects that do not exist."""
    user = meta.create_user("ada@example.com", "correct horse")
    shop = meta.ensure_project("shop")
    with pytest.raises(ValueError, match="role 'owner'"):
        meta.grant(user.id, shop.id, "owner")
    with pytest.raises(LookupError):
        meta.grant(user.id + 1, shop.id, "member")
    with pytest.raises(LookupError):
        meta.grant(user.id, shop.id + 1, "member")


def test_user_projects_lists_roles(meta: MetaStore) -> None:
    """user_projects lists the projects a user has a role in, with the role, by slug."""
    user = meta.create_user("ada@example.com", "correct horse")
    shop, blog, _other = (meta.ensure_project(s) for s in ("shop", "blog", "other"))
    meta.grant(user.id, shop.id, "member")
    meta.grant(user.id, blog.id, "viewer")
    assert meta.user_projects(user.id) == [(blog, "viewer"), (shop, "member")]


@pytest.mark.parametrize(("kind", "prefix"), [("ingest", "wki_"), ("read", "wkr_")])
def test_create_key_returns_a_prefixed_secret(meta: MetaStore, kind: str, prefix: str) -> None:
    """Keys are the kind's prefix and 32 url-safe random characters, resolving to the project."""
    shop = meta.ensure_project("shop")
    secret = meta.create_key(shop.id, kind)
    assert secret.startswith(prefix)
    body = secret.removeprefix(prefix)
    assert len(body) == 32
    assert set(body) <= set(string.ascii_letters + string.digits + "-_")
    assert meta.resolve_key(secret, kind) == shop.id


def test_resolve_key_refuses_unknown_wrong_kind_and_revoked(meta: MetaStore) -> None:
    """resolve_key is None for an unknown key, a key of the other kind and a revoked key."""
    shop = meta.ensure_project("shop")
    secret = meta.create_key(shop.id, "ingest")
    assert meta.resolve_key("wki_" + "x" * 32, "ingest") is None
    assert meta.resolve_key(secret, "read") is None
    (key,) = meta.keys(shop.id)
    assert meta.revoke_key(shop.id, key.id) is True
    assert meta.resolve_key(secret, "ingest") is None
    assert meta.revoke_key(shop.id, key.id) is False


def test_revoke_key_is_scoped_to_its_project(meta: MetaStore) -> None:
    """A key cannot be revoked through another project."""
    shop, blog = meta.ensure_project("shop"), meta.ensure_project("blog")
    secret = meta.create_key(shop.id, "ingest")
    (key,) = meta.keys(shop.id)
    assert meta.revoke_key(blog.id, key.id) is False
    assert meta.resolve_key(secret, "ingest") == shop.id


def test_keys_lists_without_secrets(meta: MetaStore, clock: Clock, tmp_path: Path) -> None:
    """keys lists kind, display prefix and times; the database holds only the sha256."""
    shop = meta.ensure_project("shop")
    ingest = meta.create_key(shop.id, "ingest")
    read = meta.create_key(shop.id, "read")
    listed = meta.keys(shop.id)
    assert [(k.kind, k.prefix) for k in listed] == [("ingest", ingest[:8]), ("read", read[:8])]
    assert listed[0].created_at == clock.now
    assert listed[0].revoked_at is None
    dump = _dump(tmp_path)
    assert ingest not in dump
    assert read not in dump
    assert secret_hash(ingest) in dump


def test_create_key_checks_kind_and_project(meta: MetaStore) -> None:
    """create_key refuses an unknown kind and a project that does not exist."""
    shop = meta.ensure_project("shop")
    with pytest.raises(ValueError, match="kind"):
        meta.create_key(shop.id, "write")
    with pytest.raises(LookupError):
        meta.create_key(shop.id + 1, "ingest")


def test_session_resolves_to_its_user_until_it_expires(meta: MetaStore, clock: Clock) -> None:
    """A session token gives its user until the session's lifetime has passed."""
    user = meta.create_user("ada@example.com", "correct horse")
    token = meta.create_session(user.id, ttl_seconds=3600)
    assert meta.session_user(token) == user
    clock.now += timedelta(seconds=3599)
    assert meta.session_user(token) == user
    clock.now += timedelta(seconds=1)
    assert meta.session_user(token) is None
    assert meta.session_user("not a token") is None


def test_session_token_is_stored_hashed(meta: MetaStore, tmp_path: Path) -> None:
    """Only the sha256 of a session token is stored."""
    user = meta.create_user("ada@example.com", "correct horse")
    token = meta.create_session(user.id, 60)
    dump = _dump(tmp_path)
    assert token not in dump
    assert secret_hash(token) in dump


def test_delete_session_logs_out(meta: MetaStore) -> None:
    """delete_session ends the session; deleting an unknown token is harmless."""
    user = meta.create_user("ada@example.com", "correct horse")
    token = meta.create_session(user.id, 60)
    meta.delete_session(token)
    meta.delete_session(token)
    assert meta.session_user(token) is None


def test_delete_expired_sessions(meta: MetaStore, clock: Clock) -> None:
    """delete_expired_sessions removes the expired sessions only and counts them."""
    user = meta.create_user("ada@example.com", "correct horse")
    short = meta.create_session(user.id, 60)
    long = meta.create_session(user.id, 3600)
    clock.now += timedelta(seconds=120)
    assert meta.delete_expired_sessions() == 1
    assert meta.session_user(long) == user
    assert meta.session_user(short) is None
    assert meta.delete_expired_sessions() == 0


def _scalar(tmp_path: Path, sql: str) -> str:
    connection = sqlite3.connect(tmp_path / "meta.sqlite3")
    try:
        (value,) = connection.execute(sql).fetchone()
        return str(value)
    finally:
        connection.close()


def _dump(tmp_path: Path) -> str:
    connection = sqlite3.connect(tmp_path / "meta.sqlite3")
    try:
        return "\n".join(connection.iterdump())
    finally:
        connection.close()


def occurrence(fingerprint: str = "f1", *, ts: int = 1, release: str = "1.0",
               severity: str = "major") -> Occurrence:  # fmt: skip
    return Occurrence(fingerprint=fingerprint, grouping_key=f"v1|{fingerprint}", title="E: x",
                      type="E", culprit="app in f", level="error", severity=severity, ts=ts,
                      release=release)  # fmt: skip


def test_record_occurrences_creates_and_counts_issues(meta: MetaStore) -> None:
    """New fingerprints make unresolved issues; later batches add to their counts and times."""
    project = meta.ensure_project("default").id
    ids = meta.record_occurrences(project, [occurrence(ts=5), occurrence(ts=3), occurrence("f2")])
    assert set(ids) == {"f1", "f2"}
    meta.record_occurrences(project, [occurrence(ts=9, release="1.1", severity="critical")])
    issue = meta.issue(project, ids["f1"])
    assert issue is not None and issue.status == "unresolved" and issue.times_seen == 3
    assert (issue.first_seen, issue.last_seen, issue.last_release) == (3, 9, "1.1")
    assert issue.severity == "critical"
    assert [i.id for i in meta.issues(project)] == [ids["f1"], ids["f2"]]
    assert meta.issue(project + 1, ids["f1"]) is None


def test_issue_lifecycle_resolve_regress_ignore(meta: MetaStore) -> None:
    """Resolved in 1.0: older events keep it resolved, newer ones regress it; ignored stays."""
    project = meta.ensure_project("default").id
    issue_id = meta.record_occurrences(project, [occurrence()])["f1"]
    assert meta.set_issue_status(project, issue_id, "resolved", resolved_in_release="1.0")
    meta.record_occurrences(project, [occurrence(ts=2, release="0.9")])
    assert meta.issue(project, issue_id).status == "resolved"  # type: ignore[union-attr]
    meta.record_occurrences(project, [occurrence(ts=3, release="1.1")])
    assert meta.issue(project, issue_id).status == "regressed"  # type: ignore[union-attr]
    assert meta.issues(project, statuses=("regressed",))[0].id == issue_id
    meta.set_issue_status(project, issue_id, "ignored")
    meta.record_occurrences(project, [occurrence(ts=4, release="2.0")])
    assert meta.issue(project, issue_id).status == "ignored"  # type: ignore[union-attr]


def test_set_issue_status_checks_status_and_project(meta: MetaStore) -> None:
    """Unknown statuses raise; another project's issue is not changed."""
    project = meta.ensure_project("default").id
    issue_id = meta.record_occurrences(project, [occurrence()])["f1"]
    with pytest.raises(ValueError, match="status"):
        meta.set_issue_status(project, issue_id, "fixed")
    assert not meta.set_issue_status(project + 1, issue_id, "resolved")


def test_issues_filter_by_status_window_and_text(meta: MetaStore) -> None:
    """issues() narrows by status, last/first seen window and title/culprit text."""
    project = meta.ensure_project("default").id
    ids = meta.record_occurrences(project, [occurrence("a", ts=10), occurrence("b", ts=20)])
    meta.set_issue_status(project, ids["a"], "resolved")
    assert [i.id for i in meta.issues(project, statuses=("unresolved",))] == [ids["b"]]
    assert [i.id for i in meta.issues(project, since=15)] == [ids["b"]]
    assert [i.id for i in meta.issues(project, until=15)] == [ids["a"]]
    assert len(meta.issues(project, text="APP IN")) == 2
    assert meta.issues(project, text="50%") == []


def test_issue_statuses_agree_with_the_domain() -> None:
    """meta/tables.py repeats errors/issues.py's statuses exactly."""
    from watchkeeper.meta.tables import ISSUE_STATUSES

    assert ISSUE_STATUSES == STATUSES


def test_budget_is_set_replaced_and_removed(meta: MetaStore) -> None:
    project = meta.ensure_project("shop")
    assert meta.budget(project.id) is None
    meta.set_budget(project.id, 250.0)
    assert meta.budget(project.id) == 250.0
    meta.set_budget(project.id, 75.5)
    assert meta.budget(project.id) == 75.5
    meta.set_budget(project.id, None)
    assert meta.budget(project.id) is None


@pytest.mark.parametrize("bad", [-1.0, float("nan"), float("inf")])
def test_budget_refuses_a_bad_amount_and_keeps_the_old_one(meta: MetaStore, bad: float) -> None:
    project = meta.ensure_project("shop")
    meta.set_budget(project.id, 10.0)
    with pytest.raises(ValueError, match="monthly_usd"):
        meta.set_budget(project.id, bad)
    assert meta.budget(project.id) == 10.0
