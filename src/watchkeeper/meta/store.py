"""The metadata store: projects, users and their roles, API keys, login sessions.

SQLite in the data directory (embedded) or PostgreSQL (scale-out), through SQLAlchemy Core; the
schema comes from the Alembic migrations in migrations/. Secrets never reach the database: API keys
and session tokens are stored as their sha256, passwords as argon2id hashes.

>>> meta = MetaStore("sqlite:///meta.sqlite3")  # doctest: +SKIP
>>> meta.migrate()  # doctest: +SKIP
>>> project = meta.ensure_project("default")  # doctest: +SKIP
>>> key = meta.create_key(project.id, "ingest")  # doctest: +SKIP
>>> meta.resolve_key(key, "ingest") == project.id  # doctest: +SKIP
True
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import Any, Final

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.engine import Connection, Engine

from watchkeeper.errors.issues import IssueState, Occurrence, next_status, strongest
from watchkeeper.meta import migrations
from watchkeeper.meta.tables import (
    ISSUE_STATUSES,
    KEY_KINDS,
    ROLES,
    api_keys,
    budgets,
    login_sessions,
    memberships,
)
from watchkeeper.meta.tables import issues as issues_table
from watchkeeper.meta.tables import projects as projects_table
from watchkeeper.meta.tables import users as users_table

KEY_PREFIXES: Final = {"ingest": "wki_", "read": "wkr_"}
"""How each kind of key starts, so a key pasted in the wrong place can be named in the error."""

KEY_DISPLAY_CHARS: Final = 8
"""Characters of a key kept for display (``wki_AbCd``): the prefix and 4 of its 32 random ones."""

MIN_PASSWORD_LENGTH: Final = 8

_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")


@dataclass(frozen=True)
class Project:
    id: int
    slug: str
    name: str


@dataclass(frozen=True)
class User:
    id: int
    email: str
    is_admin: bool


@dataclass(frozen=True)
class ApiKey:
    """An API key as listed: everything but the secret, which is never stored."""

    id: int
    project_id: int
    kind: str
    prefix: str
    created_at: datetime
    revoked_at: datetime | None


@dataclass(frozen=True)
class Issue:
    """A group of errors with one fingerprint in a project. Times are ns since the epoch;
    ``times_seen`` counts events as the pipeline saw them (the telemetry store's count of
    ``errors`` rows is the exact one); ``resolved_in_release`` is '' when not resolved in one."""

    id: int
    project_id: int
    fingerprint: str
    grouping_key: str
    title: str
    type: str
    culprit: str
    level: str
    severity: str
    status: str
    first_seen: int
    last_seen: int
    first_release: str
    last_release: str
    resolved_in_release: str
    resolved_at: int
    times_seen: int


class UserExistsError(ValueError):
    """A user with that email exists already."""


def secret_hash(secret: str) -> str:
    """The sha256 hex digest under which a key or session token is stored (and cached)."""
    return hashlib.sha256(secret.encode()).hexdigest()


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _normal_email(email: str) -> str:
    email = email.strip().lower()
    if len(email) > 320 or "@" not in email.strip("@") or any(c.isspace() for c in email):
        raise ValueError(f"not an email address: {email!r}")
    return email


class MetaStore:
    """Projects, users, roles, keys and sessions on one SQLAlchemy database URL.

    ``hasher`` and ``clock`` are injectable (tests use cheap argon2 parameters and a fixed clock);
    every method is safe to call from several threads.
    """

    def __init__(
        self,
        url: str,
        *,
        hasher: PasswordHasher | None = None,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self.url = url
        self._hasher = hasher or PasswordHasher()
        self._clock = clock
        self._engine = sa.create_engine(url)
        if self._engine.dialect.name == "sqlite":
            _configure_sqlite(self._engine)
        # Writes start with BEGIN IMMEDIATE on SQLite (see _configure_sqlite).
        self._writer = self._engine.execution_options(watchkeeper_write=True)

    def migrate(self) -> None:
        """Bring the schema to the newest migration; does nothing when it is there already."""
        with self._writer.begin() as conn:
            migrations.upgrade(conn)

    def close(self) -> None:
        """Close every pooled connection."""
        self._engine.dispose()

    # Projects

    def ensure_project(self, slug: str, name: str | None = None) -> Project:
        """The project ``slug``, created (named ``name`` or its slug) when it does not exist."""
        if not _SLUG.match(slug):
            raise ValueError(
                f"project slug {slug!r}: use 1-64 lower-case letters, digits and '-', "
                "starting with a letter or digit"
            )
        found = self.project_by_slug(slug)
        if found is not None:
            return found
        try:
            with self._writer.begin() as conn:
                conn.execute(
                    projects_table.insert().values(
                        slug=slug, name=name or slug, created_at=self._clock()
                    )
                )
        except sa.exc.IntegrityError:
            pass  # created by someone else meanwhile
        found = self.project_by_slug(slug)
        if found is None:
            raise RuntimeError(f"project {slug!r} was not created")
        return found

    def project_by_slug(self, slug: str) -> Project | None:
        return self._project(projects_table.c.slug == slug)

    def project_by_id(self, project_id: int) -> Project | None:
        return self._project(projects_table.c.id == project_id)

    def projects(self) -> list[Project]:
        """Every project, by slug."""
        query = sa.select(*_PROJECT_COLUMNS).order_by(projects_table.c.slug)
        with self._engine.connect() as conn:
            return [Project(*row) for row in conn.execute(query)]

    def _project(self, where: sa.ColumnElement[bool]) -> Project | None:
        with self._engine.connect() as conn:
            row = conn.execute(sa.select(*_PROJECT_COLUMNS).where(where)).first()
        return Project(*row) if row else None

    # Users

    def create_user(self, email: str, password: str, *, is_admin: bool = False) -> User:
        """Create a user; :class:`UserExistsError` when the email is taken (in any letter case)."""
        email = _normal_email(email)
        if len(password) < MIN_PASSWORD_LENGTH:
            raise ValueError(f"password too short: use at least {MIN_PASSWORD_LENGTH} characters")
        password_hash = self._hasher.hash(password)
        try:
            with self._writer.begin() as conn:
                result = conn.execute(
                    users_table.insert().values(
                        email=email,
                        password_hash=password_hash,
                        is_admin=is_admin,
                        created_at=self._clock(),
                    )
                )
        except sa.exc.IntegrityError:
            raise UserExistsError(f"a user with email {email} exists already") from None
        if result.inserted_primary_key is None:
            raise RuntimeError(f"user {email} was not created")
        return User(id=int(result.inserted_primary_key[0]), email=email, is_admin=is_admin)

    def ensure_user(
        self, email: str, password: str, *, is_admin: bool = False
    ) -> tuple[User, bool]:
        """The user ``email`` and whether it was created now. An existing user is returned
        unchanged: neither its password nor its admin flag is touched."""
        existing = self.user_by_email(email)
        if existing is not None:
            return existing, False
        try:
            return self.create_user(email, password, is_admin=is_admin), True
        except UserExistsError:
            existing = self.user_by_email(email)
            if existing is None:
                raise
            return existing, False

    def user_by_email(self, email: str) -> User | None:
        with self._engine.connect() as conn:
            row = conn.execute(
                sa.select(*_USER_COLUMNS).where(users_table.c.email == email.strip().lower())
            ).first()
        return User(*row) if row else None

    def authenticate(self, email: str, password: str) -> User | None:
        """The user when ``password`` is theirs, else None.

        An unknown email costs the same argon2 verification as a wrong password, so the answer's
        timing does not tell which emails have accounts. A hash made with older parameters is
        replaced by one with the current parameters on a successful login.
        """
        with self._engine.connect() as conn:
            row = conn.execute(
                sa.select(*_USER_COLUMNS, users_table.c.password_hash).where(
                    users_table.c.email == email.strip().lower()
                )
            ).first()
        if row is None:
            self._verify(self._dummy_hash, password)
            return None
        user, stored = User(row.id, row.email, row.is_admin), row.password_hash
        if not self._verify(stored, password):
            return None
        if self._hasher.check_needs_rehash(stored):
            with self._writer.begin() as conn:
                conn.execute(
                    users_table.update()
                    .where(users_table.c.id == user.id, users_table.c.password_hash == stored)
                    .values(password_hash=self._hasher.hash(password))
                )
        return user

    def _verify(self, password_hash: str, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    @cached_property
    def _dummy_hash(self) -> str:
        return self._hasher.hash(secrets.token_urlsafe(16))

    # Roles

    def grant(self, user_id: int, project_id: int, role: str) -> None:
        """Give the user ``role`` in the project, replacing the role they had there."""
        if role not in ROLES:
            raise ValueError(f"role {role!r}: expected one of {', '.join(ROLES)}")
        try:
            with self._writer.begin() as conn:
                updated = conn.execute(
                    memberships.update()
                    .where(memberships.c.user_id == user_id, memberships.c.project_id == project_id)
                    .values(role=role)
                )
                if updated.rowcount == 0:
                    conn.execute(
                        memberships.insert().values(
                            user_id=user_id, project_id=project_id, role=role
                        )
                    )
        except sa.exc.IntegrityError:
            raise LookupError(f"no user {user_id} or no project {project_id}") from None

    def role(self, user_id: int, project_id: int) -> str | None:
        """The user's role in the project, or None when they have none (site admins included:
        the caller decides what ``User.is_admin`` allows)."""
        with self._engine.connect() as conn:
            value = conn.execute(
                sa.select(memberships.c.role).where(
                    memberships.c.user_id == user_id, memberships.c.project_id == project_id
                )
            ).scalar()
        return str(value) if value is not None else None

    def user_projects(self, user_id: int) -> list[tuple[Project, str]]:
        """The projects the user has a role in, with that role, by slug."""
        query = (
            sa.select(*_PROJECT_COLUMNS, memberships.c.role)
            .join(memberships, memberships.c.project_id == projects_table.c.id)
            .where(memberships.c.user_id == user_id)
            .order_by(projects_table.c.slug)
        )
        with self._engine.connect() as conn:
            return [(Project(r.id, r.slug, r.name), r.role) for r in conn.execute(query)]

    # API keys

    def create_key(self, project_id: int, kind: str) -> str:
        """Create an ingest key (``wki_…``) or read token (``wkr_…``) for the project and return
        its secret: the only time it is seen, since only its sha256 is stored."""
        if kind not in KEY_KINDS:
            raise ValueError(f"key kind {kind!r}: expected one of {', '.join(KEY_KINDS)}")
        if self.project_by_id(project_id) is None:
            raise LookupError(f"no project with id {project_id}")
        secret = KEY_PREFIXES[kind] + secrets.token_urlsafe(24)  # 24 bytes: 32 characters
        with self._writer.begin() as conn:
            conn.execute(
                api_keys.insert().values(
                    project_id=project_id,
                    kind=kind,
                    prefix=secret[:KEY_DISPLAY_CHARS],
                    secret_hash=secret_hash(secret),
                    created_at=self._clock(),
                )
            )
        return secret

    def resolve_key(self, secret: str, kind: str) -> int | None:
        """The project id of a live key of ``kind``; None when unknown, of another kind or
        revoked."""
        with self._engine.connect() as conn:
            value = conn.execute(
                sa.select(api_keys.c.project_id).where(
                    api_keys.c.secret_hash == secret_hash(secret),
                    api_keys.c.kind == kind,
                    api_keys.c.revoked_at.is_(None),
                )
            ).scalar()
        return int(value) if value is not None else None

    def revoke_key(self, project_id: int, key_id: int) -> bool:
        """Revoke the project's key ``key_id``; False when there is no such live key."""
        with self._writer.begin() as conn:
            result = conn.execute(
                api_keys.update()
                .where(
                    api_keys.c.id == key_id,
                    api_keys.c.project_id == project_id,
                    api_keys.c.revoked_at.is_(None),
                )
                .values(revoked_at=self._clock())
            )
        return result.rowcount == 1

    def keys(self, project_id: int) -> list[ApiKey]:
        """The project's keys, revoked ones included, oldest first; no secrets."""
        query = (
            sa.select(
                api_keys.c.id,
                api_keys.c.project_id,
                api_keys.c.kind,
                api_keys.c.prefix,
                api_keys.c.created_at,
                api_keys.c.revoked_at,
            )
            .where(api_keys.c.project_id == project_id)
            .order_by(api_keys.c.id)
        )
        with self._engine.connect() as conn:
            return [ApiKey(*row) for row in conn.execute(query)]

    # Login sessions

    def create_session(self, user_id: int, ttl_seconds: float) -> str:
        """Start a login session for the user; returns its token (for a cookie)."""
        token = secrets.token_urlsafe(32)
        now = self._clock()
        try:
            with self._writer.begin() as conn:
                conn.execute(
                    login_sessions.insert().values(
                        token_hash=secret_hash(token),
                        user_id=user_id,
                        created_at=now,
                        expires_at=now + timedelta(seconds=ttl_seconds),
                    )
                )
        except sa.exc.IntegrityError:
            raise LookupError(f"no user {user_id}") from None
        return token

    def session_user(self, token: str) -> User | None:
        """The user of a live session, or None when the token is unknown or expired."""
        query = (
            sa.select(*_USER_COLUMNS)
            .join(login_sessions, login_sessions.c.user_id == users_table.c.id)
            .where(
                login_sessions.c.token_hash == secret_hash(token),
                login_sessions.c.expires_at > self._clock(),
            )
        )
        with self._engine.connect() as conn:
            row = conn.execute(query).first()
        return User(*row) if row else None

    def delete_session(self, token: str) -> None:
        """End a session (logout); an unknown token is not an error."""
        with self._writer.begin() as conn:
            conn.execute(
                login_sessions.delete().where(login_sessions.c.token_hash == secret_hash(token))
            )

    def delete_expired_sessions(self) -> int:
        """Delete the sessions past their expiry; returns how many went."""
        with self._writer.begin() as conn:
            result = conn.execute(
                login_sessions.delete().where(login_sessions.c.expires_at <= self._clock())
            )
        return result.rowcount

    # Budgets

    def budget(self, project_id: int) -> float | None:
        """The project's monthly LLM budget in US dollars, or None when it has none."""
        with self._engine.connect() as conn:
            value = conn.execute(
                sa.select(budgets.c.monthly_usd).where(budgets.c.project_id == project_id)
            ).scalar()
        return None if value is None else float(value)

    def set_budget(self, project_id: int, monthly_usd: float | None) -> None:
        """Set the project's monthly LLM budget (US dollars, >= 0); None removes it."""
        if monthly_usd is not None and not (monthly_usd >= 0 and monthly_usd < float("inf")):
            raise ValueError("monthly_usd must be a finite number >= 0")
        with self._writer.begin() as conn:
            conn.execute(sa.delete(budgets).where(budgets.c.project_id == project_id))
            if monthly_usd is not None:
                conn.execute(
                    sa.insert(budgets).values(
                        project_id=project_id, monthly_usd=monthly_usd, updated_at=self._clock()
                    )
                )

    # Issues

    def record_occurrences(
        self, project_id: int, occurrences: Sequence[Occurrence]
    ) -> dict[str, int]:
        """Add a batch's errors to their issues in one transaction, creating new issues and
        reopening resolved ones that regressed (errors/issues.py ``next_status``); return the
        issue id of each fingerprint."""
        by_fingerprint: dict[str, list[Occurrence]] = {}
        for occurrence in sorted(occurrences, key=lambda o: o.ts):
            by_fingerprint.setdefault(occurrence.fingerprint, []).append(occurrence)
        ids: dict[str, int] = {}
        if not by_fingerprint:
            return ids
        table = issues_table
        with self._writer.begin() as conn:
            existing: dict[str, Any] = {}
            fingerprints = list(by_fingerprint)
            for start in range(0, len(fingerprints), 500):
                rows = conn.execute(
                    sa.select(table).where(
                        table.c.project_id == project_id,
                        table.c.fingerprint.in_(fingerprints[start : start + 500]),
                    )
                )
                existing.update((row.fingerprint, row) for row in rows)
            for fingerprint, group in by_fingerprint.items():
                first, last = group[0], group[-1]
                severity = first.severity
                for occurrence in group[1:]:
                    severity = strongest(severity, occurrence.severity)
                row = existing.get(fingerprint)
                if row is None:
                    result = conn.execute(
                        table.insert().values(
                            project_id=project_id,
                            fingerprint=fingerprint,
                            grouping_key=first.grouping_key,
                            title=first.title[:300],
                            type=first.type,
                            culprit=first.culprit[:600],
                            level=last.level,
                            severity=severity,
                            status="unresolved",
                            first_seen=first.ts,
                            last_seen=last.ts,
                            first_release=first.release,
                            last_release=last.release,
                            resolved_in_release="",
                            resolved_at=0,
                            times_seen=len(group),
                        )
                    )
                    if result.inserted_primary_key is None:
                        raise RuntimeError(f"issue {fingerprint} was not created")
                    ids[fingerprint] = int(result.inserted_primary_key[0])
                    continue
                state = IssueState(row.status, row.resolved_in_release, row.resolved_at)
                for occurrence in group:
                    state = IssueState(
                        next_status(state, release=occurrence.release, ts=occurrence.ts),
                        state.resolved_in_release,
                        state.resolved_at,
                    )
                newer = last.ts >= row.last_seen
                conn.execute(
                    table.update()
                    .where(table.c.id == row.id)
                    .values(
                        status=state.status,
                        severity=strongest(row.severity, severity),
                        level=last.level if newer else row.level,
                        first_seen=min(row.first_seen, first.ts),
                        first_release=first.release
                        if first.ts < row.first_seen
                        else row.first_release,
                        last_seen=max(row.last_seen, last.ts),
                        last_release=last.release if newer else row.last_release,
                        times_seen=table.c.times_seen + len(group),
                    )
                )
                ids[fingerprint] = int(row.id)
        return ids

    def set_issue_status(
        self,
        project_id: int,
        issue_id: int,
        status: str,
        resolved_in_release: str | None = None,
    ) -> bool:
        """Set an issue's status; False when the project has no such issue.

        ``resolved`` with ``resolved_in_release`` regresses on an event of a newer release;
        without it, on any event after now. Other statuses clear the release.
        """
        if status not in ISSUE_STATUSES:
            raise ValueError(f"status {status!r}: expected one of {', '.join(ISSUE_STATUSES)}")
        resolved = status == "resolved"
        with self._writer.begin() as conn:
            result = conn.execute(
                issues_table.update()
                .where(issues_table.c.id == issue_id, issues_table.c.project_id == project_id)
                .values(
                    status=status,
                    resolved_in_release=(resolved_in_release or "") if resolved else "",
                    resolved_at=int(self._clock().timestamp() * 1e6) * 1000 if resolved else 0,
                )
            )
        return result.rowcount == 1

    def issue(self, project_id: int, issue_id: int) -> Issue | None:
        """The project's issue ``issue_id``, or None."""
        with self._engine.connect() as conn:
            row = conn.execute(
                sa.select(issues_table).where(
                    issues_table.c.id == issue_id, issues_table.c.project_id == project_id
                )
            ).first()
        return Issue(*row) if row else None

    def issues(
        self,
        project_id: int,
        *,
        statuses: Sequence[str] = (),
        since: int | None = None,
        until: int | None = None,
        text: str = "",
        ids: Sequence[int] | None = None,
        limit: int = 100,
    ) -> list[Issue]:
        """The project's issues, last seen first: those in ``statuses`` (all when empty) seen
        in ``since <= ts < until`` (ns), whose title or culprit contains ``text``, or the given
        ``ids``."""
        c = issues_table.c
        query = sa.select(issues_table).where(c.project_id == project_id)
        if statuses:
            query = query.where(c.status.in_(statuses))
        if since is not None:
            query = query.where(c.last_seen >= since)
        if until is not None:
            query = query.where(c.first_seen < until)
        if text:
            pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            query = query.where(
                sa.or_(c.title.ilike(pattern, escape="\\"), c.culprit.ilike(pattern, escape="\\"))
            )
        if ids is not None:
            query = query.where(c.id.in_(list(ids)))
        query = query.order_by(c.last_seen.desc(), c.id.desc()).limit(limit)
        with self._engine.connect() as conn:
            return [Issue(*row) for row in conn.execute(query)]


_PROJECT_COLUMNS: Final = (projects_table.c.id, projects_table.c.slug, projects_table.c.name)
_USER_COLUMNS: Final = (users_table.c.id, users_table.c.email, users_table.c.is_admin)


def _configure_sqlite(engine: Engine) -> None:
    """WAL (readers never wait for the writer; the CLI can add keys while a server runs),
    foreign keys, and transactions that SQLAlchemy begins itself.

    The last one is SQLAlchemy's documented recipe for pysqlite ("Serializable isolation /
    Savepoints / Transactional DDL"): the driver would otherwise start transactions only before
    DML, leaving migrations' DDL outside them. Writes begin IMMEDIATE, taking the write lock
    first, so a read-then-write transaction never fails with SQLITE_BUSY halfway.
    """

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        write = conn.get_execution_options().get("watchkeeper_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")
