"""The metadata tables: projects, users, memberships, API keys and login sessions.

SQLAlchemy Core, written to run unchanged on SQLite (embedded) and PostgreSQL (scale-out): plain
portable types, CHECK constraints instead of native enums, and a naming convention so every
constraint has a stable name that later Alembic migrations can refer to (SQLite's batch mode
rebuilds tables by name). migrations/versions/ creates them; a test checks both agree.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.engine import Dialect

ROLES: Final = ("admin", "member", "viewer")
"""Roles a user can hold in a project, strongest first."""

KEY_KINDS: Final = ("ingest", "read")
"""Ingest keys write records to one project; read tokens query it through the read API."""

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


def project_column(*, primary_key: bool = False, index: bool = False) -> sa.Column[int]:
    """The ``project_id`` column of a table whose rows belong to one project (and go with it)."""
    return sa.Column(
        "project_id",
        sa.Integer,
        sa.ForeignKey("projects.id", ondelete="CASCADE"),
        primary_key=primary_key,
        nullable=False,
        index=index,
    )


class UTCDateTime(sa.TypeDecorator[datetime]):
    """An aware UTC datetime in, an aware UTC datetime out, on every database.

    SQLite keeps no time zone (it stores text), so values are normalised to UTC on the way in and
    marked UTC on the way out; PostgreSQL stores ``timestamptz``.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: metadata times must be aware (UTC)")
        return value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime from the database, got {value!r}")
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


projects = sa.Table(
    "projects",
    metadata,
    # A plain integer: Sentry DSNs carry the project as a number (…/api/<project id>/envelope/).
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("slug", sa.String(64), nullable=False, unique=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
)

users = sa.Table(
    "users",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    # Stored lower-cased, so the unique constraint is case-insensitive on every database.
    sa.Column("email", sa.String(320), nullable=False, unique=True),
    sa.Column("password_hash", sa.String(255), nullable=False),
    sa.Column("is_admin", sa.Boolean, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
)

memberships = sa.Table(
    "memberships",
    metadata,
    sa.Column(
        "user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    ),
    project_column(primary_key=True, index=True),
    sa.Column("role", sa.String(16), nullable=False),
    sa.CheckConstraint(_in("role", ROLES), name="role"),
)

api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    project_column(index=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("prefix", sa.String(16), nullable=False),
    # sha256 of the whole secret: the secret itself is shown once and never stored. A fast hash is
    # enough here (unlike passwords): the secrets are 192 random bits, not guessable words.
    sa.Column("secret_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("revoked_at", UTCDateTime, nullable=True),
    sa.CheckConstraint(_in("kind", KEY_KINDS), name="kind"),
)

login_sessions = sa.Table(
    "login_sessions",
    metadata,
    sa.Column("token_hash", sa.String(64), primary_key=True),
    sa.Column(
        "user_id",
        sa.Integer,
        sa.ForeignKey("users.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("expires_at", UTCDateTime, nullable=False, index=True),
)

ISSUE_STATUSES: Final = ("unresolved", "resolved", "ignored", "regressed")
"""The same as errors/issues.py ``STATUSES`` (a test checks); repeated so this module stays
free of domain imports."""

issues = sa.Table(
    "issues",
    metadata,
    # An integer id: short in URLs and the ``issue_id`` column of telemetry errors.
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    project_column(),
    # sha256 of the grouping key (errors/grouping.py); the key itself explains the grouping.
    sa.Column("fingerprint", sa.String(64), nullable=False),
    sa.Column("grouping_key", sa.Text, nullable=False),
    sa.Column("title", sa.String(300), nullable=False),
    sa.Column("type", sa.String(256), nullable=False),
    sa.Column("culprit", sa.String(600), nullable=False),
    sa.Column("level", sa.String(16), nullable=False),
    sa.Column("severity", sa.String(16), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    # Times of events are ns since the epoch, as in the telemetry store, so they compare as is.
    sa.Column("first_seen", sa.BigInteger, nullable=False),
    sa.Column("last_seen", sa.BigInteger, nullable=False),
    sa.Column("first_release", sa.String(256), nullable=False),
    sa.Column("last_release", sa.String(256), nullable=False),
    sa.Column("resolved_in_release", sa.String(256), nullable=False),
    sa.Column("resolved_at", sa.BigInteger, nullable=False),
    sa.Column("times_seen", sa.BigInteger, nullable=False),
    sa.UniqueConstraint("project_id", "fingerprint"),
    sa.Index(None, "project_id", "last_seen"),
    sa.CheckConstraint(_in("status", ISSUE_STATUSES), name="status"),
    sa.CheckConstraint(_in("severity", ("critical", "major", "minor")), name="severity"),
)

budgets = sa.Table(
    "budgets",
    metadata,
    # One monthly LLM spending budget per project, in US dollars (the LLM page shows spend
    # against it; the alerts issue alerts on it).
    project_column(primary_key=True),
    sa.Column("monthly_usd", sa.Float, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.CheckConstraint("monthly_usd >= 0", name="monthly_usd"),
)

# Alerts (alerts/, meta/alerts.py). Times of alerts are ns since the epoch, like telemetry.

ALERT_RULE_SOURCES: Final = ("file", "ui")
"""Where a rule comes from: the rules file (read-only in the UI) or the UI/API."""

ALERT_STATES: Final = ("pending", "firing")
"""States an alert instance is stored in; an inactive one is deleted (its history stays)."""

ALERT_TRANSITIONS: Final = ("inactive", "pending", "firing", "resolved")

alert_rules = sa.Table(
    "alert_rules",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    project_column(),
    sa.Column("name", sa.String(128), nullable=False),
    sa.Column("source", sa.String(8), nullable=False),
    # The rule as written (the rules file's mapping, or the API's JSON), checked by alerts/rules.py
    # on the way in and read back through it, so the file and the UI share one definition.
    sa.Column("definition", sa.Text, nullable=False),
    sa.Column("enabled", sa.Boolean, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("last_eval", sa.BigInteger, nullable=False),
    sa.Column("health", sa.String(16), nullable=False),
    sa.Column("last_error", sa.Text, nullable=False),
    sa.UniqueConstraint("project_id", "name"),
    sa.CheckConstraint(_in("source", ALERT_RULE_SOURCES), name="source"),
)

alert_instances = sa.Table(
    "alert_instances",
    metadata,
    # sha256 of project, rule and labels (alerts/engine.py fingerprint).
    sa.Column("fingerprint", sa.String(64), primary_key=True),
    project_column(index=True),
    sa.Column("rule", sa.String(128), nullable=False),
    sa.Column("labels", sa.Text, nullable=False),
    sa.Column("annotations", sa.Text, nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("active_at", sa.BigInteger, nullable=False),
    sa.Column("fired_at", sa.BigInteger, nullable=False),
    sa.Column("last_true", sa.BigInteger, nullable=False),
    sa.Column("last_eval", sa.BigInteger, nullable=False),
    sa.Column("value", sa.Float, nullable=True),
    sa.CheckConstraint(_in("state", ALERT_STATES), name="state"),
)

alert_history = sa.Table(
    "alert_history",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    project_column(),
    sa.Column("rule", sa.String(128), nullable=False),
    sa.Column("fingerprint", sa.String(64), nullable=False),
    sa.Column("labels", sa.Text, nullable=False),
    sa.Column("from_state", sa.String(16), nullable=False),
    sa.Column("to_state", sa.String(16), nullable=False),
    sa.Column("at", sa.BigInteger, nullable=False),
    sa.Column("value", sa.Float, nullable=True),
    sa.Index(None, "project_id", "at"),
    sa.CheckConstraint(_in("to_state", ALERT_TRANSITIONS), name="to_state"),
)

silences = sa.Table(
    "silences",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    project_column(),
    # JSON list of {name, op, value} (alerts/model.py Matcher).
    sa.Column("matchers", sa.Text, nullable=False),
    sa.Column("starts_at", sa.BigInteger, nullable=False),
    sa.Column("ends_at", sa.BigInteger, nullable=False),
    sa.Column("created_by", sa.String(320), nullable=False),
    sa.Column("comment", sa.Text, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Index(None, "project_id", "ends_at"),
)

alert_acks = sa.Table(
    "alert_acks",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    project_column(),
    sa.Column("fingerprint", sa.String(64), nullable=False),
    sa.Column("by", sa.String(320), nullable=False),
    sa.Column("at", sa.BigInteger, nullable=False),
    sa.Column("comment", sa.Text, nullable=False),
    sa.Index(None, "project_id", "fingerprint"),
)

notification_attempts = sa.Table(
    "notification_attempts",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    project_column(),
    sa.Column("channel", sa.String(64), nullable=False),
    sa.Column("group_key", sa.Text, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("escalation", sa.Integer, nullable=False),
    sa.Column("attempt", sa.Integer, nullable=False),
    sa.Column("ok", sa.Boolean, nullable=False),
    sa.Column("error", sa.Text, nullable=False),
    sa.Column("at", sa.BigInteger, nullable=False),
    sa.Index(None, "project_id", "at"),
)

alert_policy_state = sa.Table(
    "alert_policy_state",
    metadata,
    # alerts/policy.py Policy.snapshot() as JSON: groups, what they were told, flapping.
    project_column(primary_key=True),
    sa.Column("snapshot", sa.Text, nullable=False),
    sa.Column("updated_at", sa.BigInteger, nullable=False),
)

leases = sa.Table(
    "leases",
    metadata,
    # One row per job that only one server may run at a time (the alert evaluator): the
    # holder renews it every cycle; another server takes it over once it expired.
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("holder", sa.String(128), nullable=False),
    sa.Column("expires_at", sa.BigInteger, nullable=False),
)
