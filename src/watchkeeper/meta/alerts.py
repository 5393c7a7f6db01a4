"""Alerts in the metadata store: rules, instances, history, silences, acknowledgements, delivery
attempts, the policy's state, and the evaluator's lease.

Rules are kept as their definition (the mapping a file or the API gave) and read back through
alerts/rules.py, so a stored rule is always checked the same way as a new one. Rules from the
rules file are written by :meth:`AlertStore.sync_file_rules` on every load and are read-only
here; UI/API rules are created, replaced and deleted one by one. Everything takes the project
id first, so a page or API route can only reach its own project's alerts.

>>> alerts = AlertStore(meta)  # doctest: +SKIP
>>> rule = parse_rule({"name": "NewIssue", "kind": "new_issue"})
>>> alerts.create_rule(project.id, rule).source  # doctest: +SKIP
'ui'
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import sqlalchemy as sa

from watchkeeper.alerts.dispatch import DeliveryAttempt
from watchkeeper.alerts.engine import Cycle, Instance
from watchkeeper.alerts.model import Acknowledgement, Matcher, Silence
from watchkeeper.alerts.rules import Rule, RulesError, parse_rule
from watchkeeper.alerts.silences import validate_silence
from watchkeeper.errors.issues import OPEN_STATUSES
from watchkeeper.meta.store import Issue, MetaStore
from watchkeeper.meta.tables import (
    alert_acks,
    alert_history,
    alert_instances,
    alert_policy_state,
    alert_rules,
    issues,
    leases,
    notification_attempts,
    silences,
)

MAX_LIST: Final = 1000


class RuleExistsError(ValueError):
    """The project has a rule of that name already."""


class ReadOnlyRuleError(PermissionError):
    """The rule comes from the rules file: change it there."""


@dataclass(frozen=True)
class StoredRule:
    """A rule with where it came from and how its last evaluation went."""

    id: int
    project_id: int
    source: str
    rule: Rule
    created_at: datetime
    updated_at: datetime
    last_eval: int
    health: str
    """``unknown`` (never evaluated), ``ok``, ``nodata`` or ``error``."""
    last_error: str

    @property
    def name(self) -> str:
        return self.rule.name


@dataclass(frozen=True)
class HistoryEntry:
    id: int
    project_id: int
    rule: str
    fingerprint: str
    labels: Mapping[str, str]
    from_state: str
    to_state: str
    at: int
    value: float | None


@dataclass(frozen=True)
class AttemptEntry:
    """A delivery attempt as logged (alerts/dispatch.py ``DeliveryAttempt`` and its project)."""

    id: int
    project_id: int
    channel: str
    group_key: str
    status: str
    escalation: int
    attempt: int
    ok: bool
    error: str
    at: int


@dataclass(frozen=True)
class SyncReport:
    """What :meth:`AlertStore.sync_file_rules` did; ``skipped`` says why a rule was not stored."""

    written: int
    deleted: int
    skipped: tuple[str, ...] = ()


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


class AlertStore:
    """The alert tables, on the connections of a :class:`MetaStore` (same database, same
    pool, same clock)."""

    def __init__(self, meta: MetaStore) -> None:
        self.meta = meta
        # The MetaStore's engines: its writer begins IMMEDIATE on SQLite (see store.py).
        self._engine = meta._engine
        self._writer = meta._writer
        self._clock = meta._clock

    # -- rules ------------------------------------------------------------------------------

    def sync_file_rules(self, rules: Sequence[Rule]) -> SyncReport:
        """Make the stored file rules exactly ``rules``: insert, update, delete. A file rule
        replaces a UI rule of the same project and name (the file is the reviewed source);
        a rule for a project that does not exist is skipped and named in the report."""
        now = self._clock()
        skipped: list[str] = []
        written = 0
        with self._writer.begin() as conn:
            slugs = {p.slug: p.id for p in self.meta.projects()}
            keep: set[tuple[int, str]] = set()
            stored = {
                (row.project_id, row.name): row
                for row in conn.execute(
                    sa.select(
                        alert_rules.c.id,
                        alert_rules.c.project_id,
                        alert_rules.c.name,
                        alert_rules.c.source,
                        alert_rules.c.definition,
                        alert_rules.c.enabled,
                    )
                )
            }
            for rule in rules:
                project = slugs.get(rule.project)
                if project is None:
                    skipped.append(f"{rule.name}: no project {rule.project!r}")
                    continue
                keep.add((project, rule.name))
                definition = _json(rule.definition)
                row = stored.get((project, rule.name))
                if row is None:
                    conn.execute(
                        alert_rules.insert().values(
                            project_id=project,
                            name=rule.name,
                            source="file",
                            definition=definition,
                            enabled=rule.enabled,
                            created_at=now,
                            updated_at=now,
                            last_eval=0,
                            health="unknown",
                            last_error="",
                        )
                    )
                    written += 1
                elif (row.source, row.definition, row.enabled) != (
                    "file",
                    definition,
                    rule.enabled,
                ):
                    conn.execute(
                        alert_rules.update()
                        .where(alert_rules.c.id == row.id)
                        .values(
                            source="file",
                            definition=definition,
                            enabled=rule.enabled,
                            updated_at=now,
                        )
                    )
                    written += 1
            gone = [
                row.id for key, row in stored.items() if row.source == "file" and key not in keep
            ]
            if gone:
                conn.execute(alert_rules.delete().where(alert_rules.c.id.in_(gone)))
        return SyncReport(written, len(gone), tuple(skipped))

    def rules(self, project_id: int | None = None) -> list[StoredRule]:
        """The stored rules (of one project, or all), by project and name. A definition that no
        longer checks (a catalog query was renamed) is listed with health ``error``."""
        query = sa.select(alert_rules).order_by(alert_rules.c.project_id, alert_rules.c.name)
        if project_id is not None:
            query = query.where(alert_rules.c.project_id == project_id)
        with self._engine.connect() as conn:
            return [_stored(row) for row in conn.execute(query)]

    def rule(self, project_id: int, name: str) -> StoredRule | None:
        with self._engine.connect() as conn:
            row = conn.execute(
                sa.select(alert_rules).where(
                    alert_rules.c.project_id == project_id, alert_rules.c.name == name
                )
            ).first()
        return _stored(row) if row else None

    def enabled_rules(self) -> list[tuple[int, Rule]]:
        """What the evaluator runs: (project id, rule) of every enabled rule that checks."""
        return [
            (stored.project_id, stored.rule)
            for stored in self.rules()
            if stored.rule.enabled and stored.rule.definition
        ]

    def create_rule(self, project_id: int, rule: Rule) -> StoredRule:
        """Store a UI rule; :class:`RuleExistsError` when the name is taken in the project."""
        now = self._clock()
        try:
            with self._writer.begin() as conn:
                conn.execute(
                    alert_rules.insert().values(
                        project_id=project_id,
                        name=rule.name,
                        source="ui",
                        definition=_json(rule.definition),
                        enabled=rule.enabled,
                        created_at=now,
                        updated_at=now,
                        last_eval=0,
                        health="unknown",
                        last_error="",
                    )
                )
        except sa.exc.IntegrityError:
            raise RuleExistsError(f"name: this project has a rule named {rule.name!r}") from None
        found = self.rule(project_id, rule.name)
        if found is None:
            raise RuntimeError(f"rule {rule.name} was not stored")
        return found

    def update_rule(self, project_id: int, name: str, rule: Rule) -> StoredRule:
        """Replace the UI rule ``name`` (it may be renamed); LookupError when there is none,
        :class:`ReadOnlyRuleError` for a file rule, :class:`RuleExistsError` for a taken name."""
        self._writable(project_id, name)
        try:
            with self._writer.begin() as conn:
                conn.execute(
                    alert_rules.update()
                    .where(alert_rules.c.project_id == project_id, alert_rules.c.name == name)
                    .values(
                        name=rule.name,
                        definition=_json(rule.definition),
                        enabled=rule.enabled,
                        updated_at=self._clock(),
                    )
                )
        except sa.exc.IntegrityError:
            raise RuleExistsError(f"name: this project has a rule named {rule.name!r}") from None
        found = self.rule(project_id, rule.name)
        if found is None:
            raise RuntimeError(f"rule {rule.name} was not stored")
        return found

    def delete_rule(self, project_id: int, name: str) -> None:
        """Delete the UI rule ``name``; its alerts resolve at the next cycle."""
        self._writable(project_id, name)
        with self._writer.begin() as conn:
            conn.execute(
                alert_rules.delete().where(
                    alert_rules.c.project_id == project_id, alert_rules.c.name == name
                )
            )

    def _writable(self, project_id: int, name: str) -> None:
        found = self.rule(project_id, name)
        if found is None:
            raise LookupError(f"no rule named {name!r} in this project")
        if found.source == "file":
            raise ReadOnlyRuleError(f"{name} comes from the rules file: change it there")

    # -- instances, history -----------------------------------------------------------------

    def instances(
        self, project_id: int | None = None, states: Sequence[str] = ()
    ) -> list[Instance]:
        """Pending and firing instances (of one project, or all), firing first, newest first."""
        c = alert_instances.c
        query = sa.select(alert_instances).order_by(c.state, c.active_at.desc(), c.fingerprint)
        if project_id is not None:
            query = query.where(c.project_id == project_id)
        if states:
            query = query.where(c.state.in_(list(states)))
        with self._engine.connect() as conn:
            return [
                Instance(
                    project=row.project_id,
                    rule=row.rule,
                    fingerprint=row.fingerprint,
                    labels=json.loads(row.labels),
                    annotations=json.loads(row.annotations),
                    state=row.state,
                    active_at=row.active_at,
                    fired_at=row.fired_at,
                    last_true=row.last_true,
                    value=row.value,
                    last_eval=row.last_eval,
                )
                for row in conn.execute(query)
            ]

    def save_cycle(self, cycle: Cycle) -> None:
        """Persist a cycle in one transaction: changed and removed instances, transitions
        into the history, each evaluated rule's health."""
        with self._writer.begin() as conn:
            gone = set(cycle.removed)
            changed = {i.fingerprint: i for i in cycle.changed if i.fingerprint not in gone}
            if gone or changed:
                conn.execute(
                    alert_instances.delete().where(
                        alert_instances.c.fingerprint.in_(sorted(gone | set(changed)))
                    )
                )
            if changed:
                conn.execute(alert_instances.insert(), [_instance_row(i) for i in changed.values()])
            if cycle.transitions:
                conn.execute(
                    alert_history.insert(),
                    [
                        {
                            "project_id": t.project,
                            "rule": t.rule,
                            "fingerprint": t.fingerprint,
                            "labels": _json(dict(t.labels)),
                            "from_state": t.from_state,
                            "to_state": t.to_state,
                            "at": t.at,
                            "value": t.value,
                        }
                        for t in cycle.transitions
                    ],
                )
            if cycle.health:
                # One executemany: a cycle touches every rule's health.
                conn.execute(
                    alert_rules.update()
                    .where(
                        alert_rules.c.project_id == sa.bindparam("p"),
                        alert_rules.c.name == sa.bindparam("r"),
                    )
                    .values(
                        last_eval=sa.bindparam("at"),
                        health=sa.bindparam("h"),
                        last_error=sa.bindparam("e"),
                    ),
                    [
                        {
                            "p": h.project,
                            "r": h.rule,
                            "at": h.at,
                            "h": h.health,
                            "e": h.error[:2000],
                        }
                        for h in cycle.health
                    ],
                )

    def history(
        self,
        project_id: int,
        *,
        since: int | None = None,
        until: int | None = None,
        rule: str | None = None,
        fingerprint: str | None = None,
        limit: int = 100,
    ) -> list[HistoryEntry]:
        """The project's transitions, newest first, filtered by time, rule or instance."""
        c = alert_history.c
        query = sa.select(alert_history).where(c.project_id == project_id)
        if since is not None:
            query = query.where(c.at >= since)
        if until is not None:
            query = query.where(c.at < until)
        if rule is not None:
            query = query.where(c.rule == rule)
        if fingerprint is not None:
            query = query.where(c.fingerprint == fingerprint)
        query = query.order_by(c.at.desc(), c.id.desc()).limit(min(limit, MAX_LIST))
        with self._engine.connect() as conn:
            return [
                HistoryEntry(
                    r.id,
                    r.project_id,
                    r.rule,
                    r.fingerprint,
                    json.loads(r.labels),
                    r.from_state,
                    r.to_state,
                    r.at,
                    r.value,
                )
                for r in conn.execute(query)
            ]

    # -- silences, acknowledgements ---------------------------------------------------------

    def create_silence(
        self,
        project_id: int,
        matchers: Sequence[Matcher],
        starts_at: int,
        ends_at: int,
        *,
        created_by: str = "",
        comment: str = "",
    ) -> Silence:
        """Store a silence (checked by alerts/silences.py; ValueError names the field)."""
        validate_silence(Silence(0, project_id, tuple(matchers), starts_at, ends_at))
        data = [{"name": m.name, "op": m.op, "value": m.value} for m in matchers]
        with self._writer.begin() as conn:
            result = conn.execute(
                silences.insert().values(
                    project_id=project_id,
                    matchers=_json(data),
                    starts_at=starts_at,
                    ends_at=ends_at,
                    created_by=created_by[:320],
                    comment=comment,
                    created_at=self._clock(),
                )
            )
        if result.inserted_primary_key is None:
            raise RuntimeError("silence was not stored")
        silence_id = int(result.inserted_primary_key[0])
        return Silence(
            silence_id, project_id, tuple(matchers), starts_at, ends_at, created_by, comment
        )

    def silences(
        self, project_id: int | None = None, *, active_at: int | None = None
    ) -> list[Silence]:
        """Silences (of one project, or all), newest first; with ``active_at`` only those not
        expired then (active or pending)."""
        c = silences.c
        query = sa.select(silences).order_by(c.id.desc()).limit(MAX_LIST)
        if project_id is not None:
            query = query.where(c.project_id == project_id)
        if active_at is not None:
            query = query.where(c.ends_at > active_at)
        with self._engine.connect() as conn:
            return [_silence(row) for row in conn.execute(query)]

    def expire_silence(self, project_id: int, silence_id: int, now: int) -> bool:
        """End a silence now (kept for the record, as Alertmanager does); False when the project
        has no such silence that is still in force or pending."""
        c = silences.c
        with self._writer.begin() as conn:
            result = conn.execute(
                silences.update()
                .where(c.id == silence_id, c.project_id == project_id, c.ends_at > now)
                .values(ends_at=now, starts_at=sa.case((c.starts_at > now, now), else_=c.starts_at))
            )
        return result.rowcount == 1

    def acknowledge(
        self, project_id: int, fingerprint: str, by: str, at: int, comment: str = ""
    ) -> Acknowledgement:
        """Record that ``by`` took the alert: its repeats and escalation stop until it
        resolves. LookupError when the project has no firing alert with that fingerprint."""
        with self._writer.begin() as conn:
            firing = conn.execute(
                sa.select(alert_instances.c.fingerprint).where(
                    alert_instances.c.project_id == project_id,
                    alert_instances.c.fingerprint == fingerprint,
                    alert_instances.c.state == "firing",
                )
            ).first()
            if firing is None:
                raise LookupError(f"no firing alert {fingerprint} in this project")
            conn.execute(
                alert_acks.insert().values(
                    project_id=project_id,
                    fingerprint=fingerprint,
                    by=by[:320],
                    at=at,
                    comment=comment,
                )
            )
        return Acknowledgement(fingerprint, by, at, comment)

    def acks(self, project_id: int) -> dict[str, Acknowledgement]:
        """The latest acknowledgement of each of the project's current alerts."""
        c = alert_acks.c
        query = (
            sa.select(alert_acks)
            .join(alert_instances, alert_instances.c.fingerprint == c.fingerprint)
            .where(c.project_id == project_id)
            .order_by(c.at, c.id)
        )
        with self._engine.connect() as conn:
            return {
                row.fingerprint: Acknowledgement(row.fingerprint, row.by, row.at, row.comment)
                for row in conn.execute(query)
            }

    # -- notifications, policy --------------------------------------------------------------

    def record_attempt(self, project_id: int, attempt: DeliveryAttempt) -> None:
        """Log one delivery attempt (or hold) of a notification."""
        with self._writer.begin() as conn:
            conn.execute(
                notification_attempts.insert().values(
                    project_id=project_id,
                    channel=attempt.channel,
                    group_key=attempt.group_key,
                    status=attempt.status,
                    escalation=attempt.escalation,
                    attempt=attempt.attempt,
                    ok=attempt.ok,
                    error=attempt.error[:2000],
                    at=attempt.at,
                )
            )

    def attempts(
        self, project_id: int, *, channel: str | None = None, limit: int = 100
    ) -> list[AttemptEntry]:
        """The project's delivery attempts, newest first."""
        c = notification_attempts.c
        query = sa.select(notification_attempts).where(c.project_id == project_id)
        if channel is not None:
            query = query.where(c.channel == channel)
        query = query.order_by(c.at.desc(), c.id.desc()).limit(min(limit, MAX_LIST))
        with self._engine.connect() as conn:
            return [AttemptEntry(*row) for row in conn.execute(query)]

    def policy_snapshot(self, project_id: int) -> dict[str, Any] | None:
        with self._engine.connect() as conn:
            text = conn.execute(
                sa.select(alert_policy_state.c.snapshot).where(
                    alert_policy_state.c.project_id == project_id
                )
            ).scalar()
        return None if text is None else dict(json.loads(text))

    def save_policy_snapshots(self, snapshots: Mapping[int, Mapping[str, Any]], at: int) -> None:
        """Store each project's policy state (alerts/policy.py ``Policy.snapshot``)."""
        if not snapshots:
            return
        with self._writer.begin() as conn:
            conn.execute(
                alert_policy_state.delete().where(
                    alert_policy_state.c.project_id.in_(list(snapshots))
                )
            )
            conn.execute(
                alert_policy_state.insert(),
                [
                    {"project_id": project, "snapshot": _json(dict(snapshot)), "updated_at": at}
                    for project, snapshot in snapshots.items()
                ],
            )

    # -- the lease --------------------------------------------------------------------------

    def acquire_lease(self, name: str, holder: str, now: int, ttl: int) -> bool:
        """Take or renew the lease ``name`` until ``now + ttl`` (ns): True when ``holder`` has
        it now. Only one holder at a time: another's lease is taken only once it expired.
        One conditional UPDATE (or the INSERT of a first row) decides, so two servers racing
        cannot both win, on SQLite or PostgreSQL."""
        c = leases.c
        with self._writer.begin() as conn:
            result = conn.execute(
                leases.update()
                .where(c.name == name, sa.or_(c.holder == holder, c.expires_at <= now))
                .values(holder=holder, expires_at=now + ttl)
            )
            if result.rowcount == 1:
                return True
            exists = conn.execute(sa.select(c.holder).where(c.name == name)).first()
            if exists is not None:
                return False
        try:
            with self._writer.begin() as conn:
                conn.execute(leases.insert().values(name=name, holder=holder, expires_at=now + ttl))
        except sa.exc.IntegrityError:
            return False  # another server inserted it first
        return True

    def release_lease(self, name: str, holder: str) -> None:
        """Give the lease up (at shutdown) so another server takes over at once."""
        with self._writer.begin() as conn:
            conn.execute(leases.delete().where(leases.c.name == name, leases.c.holder == holder))

    def lease_holder(self, name: str, now: int) -> str | None:
        """Who holds the lease at ``now``, or None."""
        with self._engine.connect() as conn:
            row = conn.execute(
                sa.select(leases.c.holder).where(leases.c.name == name, leases.c.expires_at > now)
            ).first()
        return None if row is None else str(row.holder)

    # -- what issue and budget rules read (alerts/engine.py ``Issues``) ---------------------

    def new_issues(
        self, project: int, since: int, until: int, severities: Sequence[str]
    ) -> list[Issue]:
        """Open issues first seen in ``since <= ts < until``, oldest first (at most 1000)."""
        c = issues.c
        query = sa.select(issues).where(
            c.project_id == project,
            c.first_seen >= since,
            c.first_seen < until,
            c.status.in_(OPEN_STATUSES),
        )
        if severities:
            query = query.where(c.severity.in_(list(severities)))
        with self._engine.connect() as conn:
            return [
                Issue(*row) for row in conn.execute(query.order_by(c.first_seen).limit(MAX_LIST))
            ]

    def regressed_issues(self, project: int, severities: Sequence[str]) -> list[Issue]:
        """Issues whose status is ``regressed`` (at most 1000)."""
        c = issues.c
        query = sa.select(issues).where(c.project_id == project, c.status == "regressed")
        if severities:
            query = query.where(c.severity.in_(list(severities)))
        with self._engine.connect() as conn:
            return [Issue(*row) for row in conn.execute(query.order_by(c.id).limit(MAX_LIST))]

    def budget(self, project: int) -> float | None:
        return self.meta.budget(project)


def _instance_row(instance: Instance) -> dict[str, Any]:
    return {
        "fingerprint": instance.fingerprint,
        "project_id": instance.project,
        "rule": instance.rule,
        "labels": _json(instance.labels),
        "annotations": _json(instance.annotations),
        "state": instance.state,
        "active_at": instance.active_at,
        "fired_at": instance.fired_at,
        "last_true": instance.last_true,
        "last_eval": instance.last_eval,
        "value": instance.value,
    }


def _silence(row: Any) -> Silence:
    matchers = tuple(Matcher(m["name"], m["op"], m["value"]) for m in json.loads(row.matchers))
    return Silence(
        row.id, row.project_id, matchers, row.starts_at, row.ends_at, row.created_by, row.comment
    )


def _stored(row: Any) -> StoredRule:
    health, error = row.health, row.last_error
    try:
        rule = parse_rule(json.loads(row.definition))
    except (RulesError, ValueError) as exc:
        rule = Rule(name=row.name, enabled=False)
        health, error = "error", f"the stored rule no longer checks: {exc}"
    return StoredRule(
        row.id,
        row.project_id,
        row.source,
        rule,
        row.created_at,
        row.updated_at,
        row.last_eval,
        health,
        error,
    )
