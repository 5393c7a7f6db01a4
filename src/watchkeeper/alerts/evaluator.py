"""The evaluator: the server's one alerting task, engine → policy → dispatcher every interval.

Each cycle it reloads the rules file when its modification time changed (keeping the last good
one when the new one has problems, which it logs), takes or renews the evaluator lease in the
metadata store, evaluates every enabled rule (alerts/engine.py) in a worker thread, persists
the instances, transitions and rule health, runs each project's notification policy
(alerts/policy.py) with its silences and acknowledgements, hands the notifications to the
dispatcher (alerts/dispatch.py), and stores the policies' state. Several servers over one
metadata database share the lease: only its holder evaluates (docs/alerts.md).

>>> evaluator = Evaluator(store, meta, rules_file=Path("alerts.yml"))  # doctest: +SKIP
>>> await evaluator.cycle(now=time.time_ns())  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import secrets
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final
from urllib.parse import quote

from watchkeeper.alerts import notifiers
from watchkeeper.alerts.dispatch import DeliveryAttempt, Dispatcher
from watchkeeper.alerts.engine import Engine, Source
from watchkeeper.alerts.model import Alert, Notification, Notifier, Silence
from watchkeeper.alerts.policy import Policy
from watchkeeper.alerts.rules import RulesError, RuleSet, load_rules
from watchkeeper.alerts.silences import silenced
from watchkeeper.meta.alerts import AlertStore
from watchkeeper.meta.store import MetaStore

log = logging.getLogger(__name__)

LEASE: Final = "alerts.evaluator"
MIN_LEASE_NS: Final = 60 * 10**9
ALERTMANAGER_RESEND: Final = 60 * 10**9
"""Alertmanager resolves a firing alert it has not heard of for its ``resolve_timeout`` (5 m by
default), so, as Prometheus does (``resend_delay``, 1 m), firing alerts are posted again to
Alertmanager channels every minute besides what the policy sends; Alertmanager deduplicates."""
STOP_TIMEOUT: Final = 30.0
"""Seconds :meth:`Evaluator.stop` waits for the cycle under way before cancelling it."""


@dataclass
class CycleReport:
    """What one cycle did (for logs, tests and the benchmark)."""

    at: int
    holder: bool
    """False when another server holds the lease: nothing was evaluated."""
    rules: int = 0
    queries: int = 0
    transitions: int = 0
    notifications: list[Notification] = field(default_factory=list)
    seconds: float = 0.0
    phases: dict[str, float] = field(default_factory=dict)
    """Seconds spent evaluating, saving, and running the policies."""


class Evaluator:
    """Runs alerting in the server. ``clock`` (ns) and ``dispatcher`` options are injectable;
    ``holder`` names this server in the lease (default: host, pid and a random part)."""

    def __init__(
        self,
        store: Any,
        meta: MetaStore,
        *,
        rules_file: Path | None = None,
        interval: float = 30.0,
        clock: Callable[[], int] = time.time_ns,
        holder: str | None = None,
        lease_ttl: int | None = None,
        external_url: str = "",
        dispatcher_options: Mapping[str, Any] | None = None,
    ) -> None:
        self.store = store
        self.meta = meta
        self.alerts = AlertStore(meta)
        self.rules_file = rules_file
        self.interval = interval
        self.clock = clock
        self.holder = holder or f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        self.lease_ttl = lease_ttl or max(MIN_LEASE_NS, int(3 * interval * 1e9))
        self.external_url = external_url
        self.ruleset = RuleSet()
        self.file_error = ""
        """The problems of the rules file as last read ('' when it loaded)."""
        self._mtime: float | None = None
        self._unsynced = False
        self._skipped: tuple[str, ...] = ()
        self._engine: Engine | None = None
        self._policies: dict[int, Policy] = {}
        self._group_projects: dict[str, int] = {}
        self._resent: dict[int, int] = {}
        self._attempts: list[tuple[int, DeliveryAttempt]] = []
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self.dispatcher = Dispatcher(
            {}, on_attempt=self._on_attempt, clock=clock, **(dispatcher_options or {})
        )

    # -- the rules file ---------------------------------------------------------------------

    def reload(self) -> bool:
        """Read the rules file again if it changed since the last read; True when a new
        version was loaded. A file with problems keeps the previous rules in force."""
        if self.rules_file is None:
            return False
        if self._unsynced:
            # Rules for projects that did not exist yet: try again, the project may exist now.
            self._sync(self.ruleset)
        try:
            mtime = self.rules_file.stat().st_mtime
        except OSError as exc:
            mtime = None
            problem = f"{self.rules_file}: cannot read: {exc.strerror or exc}"
            if problem != self.file_error:
                log.error("alert rules file: %s", problem)
            self.file_error = problem
            return False
        if mtime == self._mtime:
            return False
        self._mtime = mtime
        try:
            ruleset = load_rules(self.rules_file)
        except RulesError as exc:
            self.file_error = str(exc)
            log.error("alert rules file has problems; the previous rules stay:\n%s", exc)
            return False
        self._sync(ruleset)
        self.dispatcher.notifiers = self._notifiers(ruleset)
        self.dispatcher.rate_limits = {
            c.name: c.rate_limit for c in ruleset.channels if c.rate_limit is not None
        }
        self.ruleset = ruleset
        self.file_error = ""
        slugs = {p.id: p.slug for p in self.meta.projects()}
        for project, policy in list(self._policies.items()):
            config = ruleset.policy_for(slugs.get(project, ""))
            self._policies[project] = Policy.restore(
                config, policy.snapshot(), external_url=self.external_url
            )
        log.info("alert rules loaded: %d rules, %d channels", len(ruleset.rules),
                 len(ruleset.channels))  # fmt: skip
        return True

    def _sync(self, ruleset: RuleSet) -> None:
        report = self.alerts.sync_file_rules(ruleset.rules)
        if report.skipped != self._skipped:
            for reason in report.skipped:
                log.warning("alert rule not stored: %s", reason)
        self._skipped = report.skipped
        self._unsynced = bool(report.skipped)

    def _notifiers(self, ruleset: RuleSet) -> dict[str, Notifier]:
        return {c.name: notifiers.build(c.name, c.type, c.options) for c in ruleset.channels}

    # -- one cycle ----------------------------------------------------------------------------

    async def cycle(self, now: int | None = None) -> CycleReport:
        """Run one evaluation cycle at ``now`` (ns; the clock when None)."""
        started = time.perf_counter()
        now = self.clock() if now is None else now
        await asyncio.to_thread(self.reload)
        held = await asyncio.to_thread(
            self.alerts.acquire_lease, LEASE, self.holder, now, self.lease_ttl
        )
        if not held:
            # Another server evaluates; drop what we knew, it is stale once we hold it again.
            self._engine, self._policies = None, {}
            return CycleReport(now, holder=False)
        if self._engine is None:
            self._engine = Engine(await asyncio.to_thread(self.alerts.instances))
        engine = self._engine
        rules = await asyncio.to_thread(self.alerts.enabled_rules)
        source = Source(self.store, self.alerts)
        marks = [time.perf_counter()]
        result = await asyncio.to_thread(engine.evaluate, rules, now, source)
        marks.append(time.perf_counter())
        await asyncio.to_thread(self.alerts.save_cycle, result)
        marks.append(time.perf_counter())
        notifications = await asyncio.to_thread(self._notify, result.alerts, now)
        marks.append(time.perf_counter())
        for notification in notifications:
            if notification.alerts:
                self._group_projects[notification.group_key] = notification.alerts[0].project
        self.dispatcher.submit(notifications)
        await asyncio.to_thread(self._save_attempts)
        return CycleReport(
            now, holder=True, rules=len(rules), queries=source.queries_run,
            transitions=len(result.transitions), notifications=notifications,
            seconds=time.perf_counter() - started,
            phases={
                name: marks[n + 1] - marks[n]
                for n, name in enumerate(("evaluate", "save", "notify"))
            },
        )  # fmt: skip

    def _notify(self, alerts: Mapping[int, list[Any]], now: int) -> list[Notification]:
        """Each project's policy over its alerts (projects with open groups included)."""
        slugs = {p.id: p.slug for p in self.meta.projects()}
        out: list[Notification] = []
        for project in sorted(set(alerts) | set(self._policies)):
            slug = slugs.get(project, "")
            policy = self._policy(project, slug)
            current = [self._linked(alert, slug) for alert in alerts.get(project, [])]
            silences = self.alerts.silences(project, active_at=now)
            out += policy.process(
                current, now=now, silences=silences, acks=self.alerts.acks(project)
            )
            out += self._resend(project, slug, current, silences, now)
        self.alerts.save_policy_snapshots(
            {project: policy.snapshot() for project, policy in self._policies.items()}, now
        )
        return out

    def _linked(self, alert: Alert, slug: str) -> Alert:
        """The alert with a link to its rule on the Alerts page (``public_url`` setting)."""
        if not self.external_url or alert.generator_url:
            return alert
        url = f"{self.external_url}/alerts/rules/{quote(alert.rule)}?project={quote(slug)}"
        return dataclasses.replace(alert, generator_url=url)

    def _resend(
        self, project: int, slug: str, alerts: list[Alert], silences: list[Silence], now: int
    ) -> list[Notification]:
        """The project's firing, unsilenced alerts for its Alertmanager channels, once a
        minute (:data:`ALERTMANAGER_RESEND`)."""
        if now - self._resent.get(project, 0) < ALERTMANAGER_RESEND:
            return []
        config = self.ruleset.policy_for(slug)
        wanted = {*config.channels, *(c for step in config.escalations for c in step.channels)}
        channels = [
            c.name for c in self.ruleset.channels if c.type == "alertmanager" and c.name in wanted
        ]
        muted = silenced(alerts, silences, now)
        firing = tuple(a for a in alerts if a.state == "firing" and a.fingerprint not in muted)
        if not channels or not firing:
            return []
        self._resent[project] = now
        return [
            Notification(
                channel=channel,
                group_key=f'{{project="{project}"}}:resend',
                status="firing",
                alerts=firing,
                external_url=self.external_url,
            )
            for channel in channels
        ]

    def _policy(self, project: int, slug: str) -> Policy:
        policy = self._policies.get(project)
        if policy is None:
            config = self.ruleset.policy_for(slug)
            snapshot = self.alerts.policy_snapshot(project)
            policy = Policy(config, external_url=self.external_url)
            if snapshot is not None:
                try:
                    policy = Policy.restore(config, snapshot, external_url=self.external_url)
                except ValueError as exc:
                    log.warning("alert policy state of project %d not restored: %s", project, exc)
            self._policies[project] = policy
        return policy

    def _on_attempt(self, attempt: DeliveryAttempt) -> None:
        project = self._group_projects.get(attempt.group_key)
        if project is not None:
            self._attempts.append((project, attempt))

    def _save_attempts(self) -> None:
        attempts, self._attempts = self._attempts, []
        for project, attempt in attempts:
            self.alerts.record_attempt(project, attempt)

    async def drain(self) -> None:
        """Wait for the notifications in flight and log their attempts (tests, shutdown)."""
        await self.dispatcher.drain()
        await asyncio.to_thread(self._save_attempts)

    # -- the task -------------------------------------------------------------------------------

    async def run(self) -> None:
        """Cycle every ``interval`` seconds until :meth:`stop`; a failed cycle is logged and
        the next one runs on time."""
        while not self._stopping.is_set():
            started = time.monotonic()
            try:
                report = await self.cycle()
                if report.seconds > self.interval:
                    log.warning("alert evaluation took %.1f s, longer than its interval of %g s",
                                report.seconds, self.interval)  # fmt: skip
            except Exception:
                log.exception("alert evaluation cycle failed")
            wait = max(0.0, self.interval - (time.monotonic() - started))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), wait)

    def start(self) -> None:
        """Start :meth:`run` as a task of the running loop (the server's lifespan)."""
        self._stopping = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self.run(), name="alert-evaluator")

    async def stop(self) -> None:
        """Let the cycle under way finish (its worker threads use the stores, which close
        next), cancel deliveries still waiting, log attempts, give the lease up."""
        if self._task is not None:
            self._stopping.set()
            try:
                await asyncio.wait_for(asyncio.shield(self._task), STOP_TIMEOUT)
            except TimeoutError:
                log.warning("alert evaluation still running after %g s; cancelled", STOP_TIMEOUT)
                self._task.cancel()
                await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        await self.dispatcher.aclose()
        await asyncio.to_thread(self._save_attempts)
        await asyncio.to_thread(self.alerts.release_lease, LEASE, self.holder)
