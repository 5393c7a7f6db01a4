"""Alerts in the metadata store on a real SQLite file: rules from the file and the UI,
instances and history, silences, acknowledgements, attempts, policy state, the lease."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from watchkeeper.alerts.dispatch import DeliveryAttempt
from watchkeeper.alerts.engine import Cycle, Health, Instance, Transition
from watchkeeper.alerts.rules import parse_rule
from watchkeeper.alerts.silences import parse_matchers
from watchkeeper.errors.issues import Occurrence
from watchkeeper.meta.alerts import AlertStore, ReadOnlyRuleError, RuleExistsError
from watchkeeper.meta.store import MetaStore


@pytest.fixture
def meta(tmp_path: Path) -> Iterator[MetaStore]:
    store = MetaStore(f"sqlite:///{tmp_path / 'meta.sqlite3'}")
    store.migrate()
    store.ensure_project("default")
    store.ensure_project("shop")
    yield store
    store.close()


@pytest.fixture
def alerts(meta: MetaStore) -> AlertStore:
    return AlertStore(meta)


def new_issue(name: str, project: str = "default", **fields: object) -> object:
    return parse_rule({"name": name, "kind": "new_issue", "project": project, **fields})


def instance(fp: str, state: str = "firing", project: int = 1) -> Instance:
    return Instance(project, "Down", fp, {"alertname": "Down", "fp": fp}, {"summary": "s"},
                    state, active_at=10, fired_at=20 if state == "firing" else 0,
                    last_true=30, value=1.5, last_eval=30)  # type: ignore[arg-type]  # fmt: skip


def test_sync_file_rules_inserts_updates_and_deletes(alerts: AlertStore) -> None:
    """The stored file rules become exactly the file's: new ones in, changed ones updated,
    missing ones out; a rule for an unknown project is skipped and named."""
    report = alerts.sync_file_rules([new_issue("A"), new_issue("B"), new_issue("C", "nowhere")])
    assert (report.written, report.deleted) == (2, 0)
    assert report.skipped == ("C: no project 'nowhere'",)
    again = alerts.sync_file_rules([new_issue("A"), new_issue("B")])
    assert (again.written, again.deleted) == (0, 0)
    changed = alerts.sync_file_rules([new_issue("A", window="2h")])
    assert (changed.written, changed.deleted) == (1, 1)
    [stored] = alerts.rules()
    assert (stored.name, stored.source, stored.rule.window) == ("A", "file", 2 * 3600 * 10**9)
    assert stored.health == "unknown"


def test_file_rule_replaces_a_ui_rule_of_the_same_name(alerts: AlertStore) -> None:
    """The rules file is the reviewed source: its rule takes over a UI rule's name."""
    alerts.create_rule(1, new_issue("A"))  # type: ignore[arg-type]
    alerts.sync_file_rules([new_issue("A", window="3h")])
    stored = alerts.rule(1, "A")
    assert stored is not None
    assert (stored.source, stored.rule.window) == ("file", 3 * 3600 * 10**9)


def test_ui_rules_are_created_updated_and_deleted(alerts: AlertStore) -> None:
    """UI rules can be changed (and renamed); names are unique per project."""
    created = alerts.create_rule(1, new_issue("A"))  # type: ignore[arg-type]
    assert (created.source, created.project_id) == ("ui", 1)
    with pytest.raises(RuleExistsError, match="name: this project has a rule named 'A'"):
        alerts.create_rule(1, new_issue("A"))  # type: ignore[arg-type]
    alerts.create_rule(2, new_issue("A", "shop"))  # type: ignore[arg-type]
    renamed = alerts.update_rule(1, "A", new_issue("B"))  # type: ignore[arg-type]
    assert renamed.name == "B"
    assert alerts.rule(1, "A") is None
    alerts.delete_rule(1, "B")
    assert [r.project_id for r in alerts.rules()] == [2]
    with pytest.raises(LookupError):
        alerts.delete_rule(1, "B")


def test_file_rules_are_read_only(alerts: AlertStore) -> None:
    """A file rule cannot be changed or deleted through the store's UI methods."""
    alerts.sync_file_rules([new_issue("A")])
    with pytest.raises(ReadOnlyRuleError, match="comes from the rules file"):
        alerts.update_rule(1, "A", new_issue("A", window="2h"))  # type: ignore[arg-type]
    with pytest.raises(ReadOnlyRuleError):
        alerts.delete_rule(1, "A")
    assert alerts.rule(1, "A") is not None


def test_a_definition_that_no_longer_checks_is_listed_as_an_error(
    alerts: AlertStore, meta: MetaStore
) -> None:
    """A stored rule whose definition fails today's checks shows up disabled with the reason,
    and the evaluator does not run it."""
    alerts.create_rule(1, new_issue("A"))  # type: ignore[arg-type]
    with meta._writer.begin() as conn:
        conn.execute(sa.text("UPDATE alert_rules SET definition = :d"),
                     {"d": json.dumps({"name": "A", "query": "gone.query"})})  # fmt: skip
    [stored] = alerts.rules()
    assert stored.health == "error"
    assert "query: 'gone.query' is not a catalog query" in stored.last_error
    assert alerts.enabled_rules() == []


def test_save_cycle_persists_instances_history_and_health(alerts: AlertStore) -> None:
    """One cycle's changed and removed instances, transitions and rule health are stored."""
    alerts.sync_file_rules([new_issue("Down")])
    first = Cycle(
        changed=[instance("a"), instance("b", "pending")],
        transitions=[Transition(1, "Down", "a", {"alertname": "Down"}, "inactive", "firing", 20, 1.5)],
        health=[Health(1, "Down", 30, "ok")],
    )  # fmt: skip
    alerts.save_cycle(first)
    assert [(i.fingerprint, i.state) for i in alerts.instances(1)] == [
        ("a", "firing"),
        ("b", "pending"),
    ]
    assert alerts.instances(1, ["pending"])[0].labels == {"alertname": "Down", "fp": "b"}
    assert alerts.instances(2) == []
    alerts.save_cycle(Cycle(removed=["a"], transitions=[
        Transition(1, "Down", "a", {"alertname": "Down"}, "firing", "resolved", 40, None)
    ], health=[Health(1, "Down", 40, "error", "boom")]))  # fmt: skip
    assert [i.fingerprint for i in alerts.instances()] == ["b"]
    history = alerts.history(1)
    assert [(h.to_state, h.at) for h in history] == [("resolved", 40), ("firing", 20)]
    assert alerts.history(1, since=30) == history[:1]
    assert alerts.history(1, fingerprint="zzz") == []
    stored = alerts.rule(1, "Down")
    assert stored is not None
    assert (stored.last_eval, stored.health, stored.last_error) == (40, "error", "boom")


def test_silences_are_validated_stored_and_expired(alerts: AlertStore) -> None:
    """A silence is checked like Alertmanager's, listed while in force, and expired (kept)."""
    with pytest.raises(ValueError, match="at least one matcher must not match the empty"):
        alerts.create_silence(1, parse_matchers('env!="prod"'), 0, 100)
    with pytest.raises(ValueError, match="ends_at: must be after starts_at"):
        alerts.create_silence(1, parse_matchers('service="api"'), 100, 50)
    silence = alerts.create_silence(1, parse_matchers('service="api"'), 0, 100,
                                    created_by="ana@example.com", comment="deploy")  # fmt: skip
    assert alerts.silences(1, active_at=50) == [silence]
    assert alerts.silences(2, active_at=50) == []
    assert not alerts.expire_silence(2, silence.id, 60)
    assert alerts.expire_silence(1, silence.id, 60)
    assert alerts.silences(1, active_at=61) == []
    assert alerts.silences(1)[0].ends_at == 60


def test_acknowledge_needs_a_firing_alert(alerts: AlertStore) -> None:
    """Only a firing alert of the project can be acknowledged; the latest ack wins."""
    alerts.save_cycle(Cycle(changed=[instance("a"), instance("b", "pending")]))
    with pytest.raises(LookupError):
        alerts.acknowledge(1, "b", "ana", 50)
    with pytest.raises(LookupError):
        alerts.acknowledge(2, "a", "ana", 50)
    alerts.acknowledge(1, "a", "ana", 50, "looking")
    alerts.acknowledge(1, "a", "bo", 60)
    assert {fp: (a.by, a.at) for fp, a in alerts.acks(1).items()} == {"a": ("bo", 60)}
    alerts.save_cycle(Cycle(removed=["a"]))
    assert alerts.acks(1) == {}


def test_attempts_and_policy_snapshots(alerts: AlertStore) -> None:
    """Delivery attempts are logged per project, newest first; policy state round-trips."""
    for n, ok in enumerate((False, True), start=1):
        alerts.record_attempt(1, DeliveryAttempt("oncall", "{}:{}", "firing", 0, n, ok,
                                                 "" if ok else "HTTP 500", 100 + n))  # fmt: skip
    attempts = alerts.attempts(1)
    assert [(a.attempt, a.ok, a.error) for a in attempts] == [(2, True, ""), (1, False, "HTTP 500")]
    assert alerts.attempts(2) == []
    assert alerts.policy_snapshot(1) is None
    alerts.save_policy_snapshots({1: {"version": 1, "groups": []}}, 5)
    alerts.save_policy_snapshots({1: {"version": 1, "groups": [], "flaps": {}}}, 6)
    assert alerts.policy_snapshot(1) == {"version": 1, "groups": [], "flaps": {}}


def test_lease_has_one_holder_until_it_expires(alerts: AlertStore) -> None:
    """The first server takes the lease and renews it; a second gets it only after it
    expired or was released."""
    assert alerts.acquire_lease("evaluator", "a", now=0, ttl=100)
    assert not alerts.acquire_lease("evaluator", "b", now=50, ttl=100)
    assert alerts.acquire_lease("evaluator", "a", now=90, ttl=100)
    assert not alerts.acquire_lease("evaluator", "b", now=150, ttl=100)
    assert alerts.lease_holder("evaluator", 150) == "a"
    assert alerts.acquire_lease("evaluator", "b", now=190, ttl=100)
    assert not alerts.acquire_lease("evaluator", "a", now=200, ttl=100)
    alerts.release_lease("evaluator", "b")
    assert alerts.lease_holder("evaluator", 200) is None
    assert alerts.acquire_lease("evaluator", "a", now=200, ttl=100)


def test_two_stores_on_one_database_share_the_lease(meta: MetaStore, tmp_path: Path) -> None:
    """Two servers (two MetaStores on one file) see one lease."""
    other = MetaStore(f"sqlite:///{tmp_path / 'meta.sqlite3'}")
    try:
        assert AlertStore(meta).acquire_lease("evaluator", "a", now=0, ttl=100)
        assert not AlertStore(other).acquire_lease("evaluator", "b", now=10, ttl=100)
    finally:
        other.close()


def _occurrence(fingerprint: str, ts: int, severity: str = "major") -> Occurrence:
    return Occurrence(fingerprint=fingerprint, grouping_key=fingerprint, title=fingerprint,
                      type="E", culprit="f", level="error", severity=severity, ts=ts,
                      release="1")  # fmt: skip


def test_issue_queries_for_issue_rules(alerts: AlertStore, meta: MetaStore) -> None:
    """New issues are open ones first seen in the window (by severity when asked); regressed
    issues are those with that status."""
    ids = meta.record_occurrences(1, [_occurrence("old", 10), _occurrence("new", 100),
                                      _occurrence("crit", 110, "critical")])  # fmt: skip
    assert [i.title for i in alerts.new_issues(1, 50, 200, ())] == ["new", "crit"]
    assert [i.title for i in alerts.new_issues(1, 50, 200, ("critical",))] == ["crit"]
    meta.set_issue_status(1, ids["new"], "ignored")
    assert [i.title for i in alerts.new_issues(1, 50, 200, ())] == ["crit"]
    meta.set_issue_status(1, ids["old"], "regressed")
    assert [i.id for i in alerts.regressed_issues(1, ())] == [ids["old"]]
    assert alerts.regressed_issues(1, ("critical",)) == []
    assert alerts.regressed_issues(2, ()) == []
