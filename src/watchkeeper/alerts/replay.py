"""Replaying a rule over stored data: when would it have fired and resolved?

The same engine as the server's evaluator, stepped through past times with a fresh state, so
``for``, ``keep_firing_for`` and the no-data handling behave exactly as they would have live
(what ``watchkeeper alerts test`` prints).

>>> step = 60 * 10**9
>>> episodes = replay(rule, 1, store, issues, since=t0, until=t1, step=step)  # doctest: +SKIP
>>> [(e.firing_at, e.resolved_at) for e in episodes]  # doctest: +SKIP
[(1793620980000000000, 1793621850000000000)]
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from watchkeeper.alerts.engine import Engine, Issues, Source, Transition
from watchkeeper.alerts.rules import Rule

MAX_STEPS = 200_000
"""More evaluations than this is a mistake (a 1 s step over a month): refuse it."""


@dataclass
class Episode:
    """One instance from pending (or straight firing) to its end; 0 for what did not happen
    (never fired, not resolved before the end of the replay)."""

    fingerprint: str
    labels: Mapping[str, str]
    pending_at: int = 0
    firing_at: int = 0
    resolved_at: int = 0
    ended_at: int = 0
    """When a pending instance went back to inactive without firing."""
    peak: float | None = None
    values: list[float] = field(default_factory=list, repr=False)


def replay(
    rule: Rule,
    project: int,
    store: object,
    issues: Issues,
    *,
    since: int,
    until: int,
    step: int,
    progress: Callable[[int], None] | None = None,
) -> list[Episode]:
    """Evaluate ``rule`` at ``since``, ``since + step``, … up to ``until`` (ns) and return its
    episodes in the order they began. ``progress`` is called with each evaluation's index."""
    if step <= 0:
        raise ValueError("step: must be longer than 0")
    if until < since:
        raise ValueError("since: must not be after the end")
    if (until - since) // step > MAX_STEPS:
        raise ValueError(f"step: more than {MAX_STEPS:,} evaluations; use a longer step")
    engine = Engine()
    source = Source(store, issues)
    open_: dict[str, Episode] = {}
    done: list[Episode] = []
    for index, now in enumerate(range(since, until + 1, step)):
        source.clear()
        cycle = engine.evaluate([(project, rule)], now, source)
        for transition in cycle.transitions:
            _record(open_, done, transition, now)
        for alert in cycle.alerts.get(project, []):
            episode = open_.get(alert.fingerprint)
            if episode is not None and alert.value is not None:
                episode.values.append(alert.value)
                episode.peak = max(episode.peak or alert.value, alert.value)
        if progress is not None:
            progress(index)
    episodes = done + list(open_.values())
    return sorted(episodes, key=lambda e: (e.pending_at or e.firing_at, e.fingerprint))


def _record(
    open_: dict[str, Episode], done: list[Episode], transition: Transition, now: int
) -> None:
    episode = open_.get(transition.fingerprint)
    if episode is None:
        episode = Episode(transition.fingerprint, dict(transition.labels))
        open_[transition.fingerprint] = episode
    if transition.to_state == "pending":
        episode.pending_at = now
    elif transition.to_state == "firing":
        episode.firing_at = now
    else:
        if transition.to_state == "resolved":
            episode.resolved_at = now
        else:
            episode.ended_at = now
        done.append(open_.pop(transition.fingerprint))
