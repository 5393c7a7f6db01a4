"""The notification policy on simulated time: grouping, timers, dedup, resolved, silences,
flapping, acknowledgment, escalation, and a restart through snapshot/restore."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import replace

import pytest

from watchkeeper.alerts.model import (
    Acknowledgement,
    Alert,
    Escalation,
    Notification,
    PolicyConfig,
    Silence,
)
from watchkeeper.alerts.policy import FlapDetection, Policy, check_config
from watchkeeper.alerts.silences import parse_matchers

S = 1_000_000_000
M = 60 * S
H = 60 * M
STEP = 15 * S
"""The engine's evaluation interval in these simulations."""

CONFIG = PolicyConfig(
    channels=("ops",), group_wait=30 * S, group_interval=5 * M, repeat_interval=4 * H
)


def _alert(
    fp: str = "f1", *, rule: str = "HighLatency", starts_at: int = 0, **labels: str
) -> Alert:
    return Alert(
        project=1,
        rule=rule,
        fingerprint=fp,
        labels={"alertname": rule, **labels},
        annotations={"summary": f"{rule} on {labels.get('service', '?')}"},
        state="firing",
        value=0.9,
        starts_at=starts_at,
    )


def _resolved(alert: Alert, at: int) -> Alert:
    return replace(alert, state="inactive", ends_at=at)


Timeline = Callable[[int], Sequence[Alert]]


def _run(
    policy: Policy,
    alerts_at: Timeline,
    *,
    start: int = 0,
    until: int,
    step: int = STEP,
    silences: Sequence[Silence] = (),
    acks_at: Callable[[int], dict[str, Acknowledgement]] = lambda t: {},
) -> list[tuple[int, Notification]]:
    """Call the policy every ``step`` from ``start`` to ``until`` (excluded), as the engine does;
    return every notification with the time it came out."""
    sent: list[tuple[int, Notification]] = []
    for now in range(start, until, step):
        out = policy.process(alerts_at(now), now=now, silences=silences, acks=acks_at(now))
        sent += [(now, n) for n in out]
    return sent


def test_a_firing_alert_is_notified_once_after_group_wait() -> None:
    """One notification, at the first cycle past group_wait, carrying the group's labels."""
    alert = _alert(service="api")
    sent = _run(Policy(CONFIG, external_url="http://wk"), lambda t: [alert], until=4 * M)
    assert [t for t, _ in sent] == [30 * S]
    notification = sent[0][1]
    assert notification.channel == "ops"
    assert notification.status == "firing"
    assert notification.alerts == (alert,)
    assert notification.group_key == '{project="1"}:{alertname="HighLatency"}'
    assert notification.group_labels == {"alertname": "HighLatency"}
    assert notification.common_labels == {"alertname": "HighLatency", "service": "api"}
    assert notification.common_annotations == {"summary": "HighLatency on api"}
    assert notification.external_url == "http://wk"
    assert notification.escalation == 0


def test_pending_alerts_are_not_notified() -> None:
    """An alert still pending its ``for`` duration makes no group and no notification."""
    pending = replace(_alert(), state="pending")
    policy = Policy(CONFIG)
    assert _run(policy, lambda t: [pending], until=10 * M) == []
    assert policy.next_due() is None


def test_repeats_wait_for_repeat_interval() -> None:
    """An unchanged firing group is re-sent only every repeat_interval, on a group_interval tick."""
    alert = _alert()
    sent = _run(Policy(CONFIG), lambda t: [alert], until=9 * H)
    assert [t for t, _ in sent] == [30 * S, 4 * H + 30 * S, 8 * H + 30 * S]


def test_the_same_firing_set_is_not_sent_twice() -> None:
    """New values and duplicate instances of the same alerts do not make a new notification."""
    policy = Policy(CONFIG)

    def alerts_at(t: int) -> list[Alert]:
        alert = replace(_alert(), value=float(t))
        return [alert, alert]

    sent = _run(policy, alerts_at, until=2 * H)
    assert len(sent) == 1
    assert sent[0][1].alerts[0].value == float(30 * S)


def test_alerts_arriving_during_group_wait_share_the_first_notification() -> None:
    """group_wait collects the alerts of a new group into one notification."""
    a, b = _alert("a", service="api"), _alert("b", service="web")
    sent = _run(Policy(CONFIG), lambda t: [a] if t < 20 * S else [a, b], until=4 * M)
    assert [(t, [x.fingerprint for x in n.alerts]) for t, n in sent] == [(30 * S, ["a", "b"])]
    assert sent[0][1].common_labels == {"alertname": "HighLatency"}


def test_group_interval_batches_later_alerts() -> None:
    """Alerts joining a notified group wait for the next group_interval tick, together."""
    a, b, c = _alert("a", service="api"), _alert("b", service="web"), _alert("c", service="db")

    def alerts_at(t: int) -> list[Alert]:
        return [a] + ([b] if t >= 1 * M else []) + ([c] if t >= 2 * M else [])

    sent = _run(Policy(CONFIG), alerts_at, until=20 * M)
    assert [(t, [x.fingerprint for x in n.alerts]) for t, n in sent] == [
        (30 * S, ["a"]),
        (5 * M + 30 * S, ["a", "c", "b"]),  # sorted by labels: service api < db < web
    ]


def test_group_by_splits_groups_and_dots_group_by_every_label() -> None:
    """Alerts with different group_by values notify separately, each with its own key."""
    a, b = _alert("a", service="api"), _alert("b", service="web")
    by_service = Policy(replace(CONFIG, group_by=("alertname", "service")))
    keys = sorted(n.group_key for _, n in _run(by_service, lambda t: [a, b], until=M))
    assert keys == [
        '{project="1"}:{alertname="HighLatency",service="api"}',
        '{project="1"}:{alertname="HighLatency",service="web"}',
    ]
    every = Policy(replace(CONFIG, group_by=("...",)))
    sent = _run(every, lambda t: [a, b], until=M)
    assert len(sent) == 2
    assert {tuple(n.group_labels.items()) for _, n in sent} == {
        (("alertname", "HighLatency"), ("service", "api")),
        (("alertname", "HighLatency"), ("service", "web")),
    }


def test_every_channel_gets_the_notification() -> None:
    """One notification per channel of the policy, in the policy's order."""
    policy = Policy(replace(CONFIG, channels=("ops", "email", "slack")))
    sent = _run(policy, lambda t: [_alert()], until=M)
    assert [n.channel for _, n in sent] == ["ops", "email", "slack"]


def test_a_resolved_alert_is_notified_at_the_next_tick() -> None:
    """The engine's resolved instance (given once) goes out as resolved at the next flush."""
    alert = _alert()
    gone = _resolved(alert, 10 * M)

    def alerts_at(t: int) -> list[Alert]:
        return [alert] if t < 10 * M else [gone] if t == 10 * M else []

    policy = Policy(CONFIG)
    sent = _run(policy, alerts_at, until=H)
    assert [(t, n.status) for t, n in sent] == [(30 * S, "firing"), (10 * M + 30 * S, "resolved")]
    assert sent[1][1].alerts == (gone,)
    assert policy.next_due() is None  # the group is closed


def test_resolution_without_send_resolved_is_silent_and_reopens_with_group_wait() -> None:
    """send_resolved off: nothing on resolution; a new firing starts a new group (group_wait)."""
    alert = _alert()

    def alerts_at(t: int) -> list[Alert]:
        return [alert] if t < 10 * M or t >= 20 * M else []

    sent = _run(Policy(replace(CONFIG, send_resolved=False)), alerts_at, until=30 * M)
    assert [(t, n.status) for t, n in sent] == [(30 * S, "firing"), (20 * M + 30 * S, "firing")]


def test_a_vanished_alert_resolves_and_a_partial_resolution_keeps_the_group_firing() -> None:
    """An alert missing from the input resolves at that cycle; the rest of the group still fires."""
    a, b = _alert("a", service="api"), _alert("b", service="web")
    sent = _run(Policy(CONFIG), lambda t: [a, b] if t < 7 * M else [a], until=12 * M)
    assert [(t, n.status) for t, n in sent] == [(30 * S, "firing"), (10 * M + 30 * S, "firing")]
    last = sent[1][1].alerts
    assert [(x.fingerprint, x.state, x.ends_at) for x in last] == [
        ("a", "firing", 0),
        ("b", "inactive", 7 * M),
    ]


def test_an_alert_resolved_during_group_wait_is_never_notified() -> None:
    """Fired and resolved before the first flush: the channels never hear of it."""
    alert = _alert()
    sent = _run(
        Policy(CONFIG),
        lambda t: [alert] if t < 15 * S else [_resolved(alert, 15 * S)],
        until=10 * M,
    )
    assert sent == []


def test_a_silence_suppresses_and_its_expiry_notifies() -> None:
    """Silenced alerts are left out; a fully silenced group sends nothing until the silence ends."""
    a, b = _alert("a", service="api"), _alert("b", service="web")
    mute_api = Silence(1, 1, parse_matchers('service="api"'), starts_at=0, ends_at=H)
    mute_all = Silence(2, 1, parse_matchers('alertname="HighLatency"'), starts_at=0, ends_at=H)
    sent = _run(Policy(CONFIG), lambda t: [a, b], until=20 * M, silences=[mute_api])
    assert [[x.fingerprint for x in n.alerts] for _, n in sent] == [["b"]]

    policy = Policy(CONFIG)
    assert _run(policy, lambda t: [a, b], until=H, silences=[mute_all]) == []
    after = _run(policy, lambda t: [a, b], start=H, until=2 * H, silences=[mute_all])
    assert len(after) == 1 and after[0][0] - H < 5 * M
    assert [x.fingerprint for x in after[0][1].alerts] == ["a", "b"]


def test_another_projects_silence_does_not_apply() -> None:
    """A silence of project 2 does not mute project 1's alerts."""
    other = Silence(1, 2, parse_matchers('service="api"'), starts_at=0, ends_at=H)
    assert len(_run(Policy(CONFIG), lambda t: [_alert(service="api")], until=M, silences=[other]))


def test_an_acknowledgment_stops_repeats_but_not_the_resolution() -> None:
    """No repeat after an ack; the resolved notification still goes out."""
    alert = _alert()
    ack = {"f1": Acknowledgement("f1", by="ana", at=H)}

    def alerts_at(t: int) -> list[Alert]:
        return [alert] if t < 9 * H else []

    sent = _run(Policy(CONFIG), alerts_at, until=10 * H, acks_at=lambda t: ack if t >= H else {})
    assert [(t, n.status) for t, n in sent] == [(30 * S, "firing"), (9 * H + 30 * S, "resolved")]


def test_an_ack_from_an_earlier_episode_is_ignored() -> None:
    """An ack made before the alert's current starts_at does not silence its repeats."""
    alert = _alert(starts_at=2 * H)
    stale = {"f1": Acknowledgement("f1", by="ana", at=H)}
    sent = _run(Policy(CONFIG), lambda t: [alert], until=7 * H, acks_at=lambda t: stale)
    assert [t for t, _ in sent] == [30 * S, 4 * H + 30 * S]


def test_repeats_continue_while_any_alert_of_the_group_is_unacknowledged() -> None:
    """An ack on one alert does not stop reminders about its unacknowledged neighbour."""
    a, b = _alert("a", service="api"), _alert("b", service="web")
    ack = {"a": Acknowledgement("a", by="ana", at=M)}
    sent = _run(Policy(CONFIG), lambda t: [a, b], until=5 * H, acks_at=lambda t: ack)
    assert [t for t, _ in sent] == [30 * S, 4 * H + 30 * S]


ESCALATING = replace(
    CONFIG,
    escalations=(Escalation(after=15 * M, channels=("pager",)), Escalation(2 * H, ("cto",))),
)


def test_escalation_fires_after_its_delay_and_only_once() -> None:
    """Each step goes to its channels once, at the first cycle past its delay, numbered."""
    alert = _alert()
    sent = _run(Policy(ESCALATING), lambda t: [alert], until=5 * H)
    assert [(t, n.channel, n.escalation) for t, n in sent] == [
        (30 * S, "ops", 0),
        (15 * M, "pager", 1),
        (2 * H, "cto", 2),
        (4 * H + 30 * S, "ops", 0),
    ]
    assert sent[1][1].status == "firing" and sent[1][1].alerts == (alert,)


def test_an_acknowledged_group_does_not_escalate() -> None:
    """Acked before the delay: no escalation step is sent."""
    ack = {"f1": Acknowledgement("f1", by="ana", at=10 * M)}
    sent = _run(
        Policy(ESCALATING),
        lambda t: [_alert()],
        until=3 * H,
        acks_at=lambda t: ack if t >= 10 * M else {},
    )
    assert [(n.channel, n.escalation) for _, n in sent] == [("ops", 0)]


def test_escalated_channels_hear_the_resolution() -> None:
    """The resolved notification reaches the escalation steps that were sent, with their number."""
    alert = _alert()

    def alerts_at(t: int) -> list[Alert]:
        return [alert] if t < 30 * M else []

    sent = _run(Policy(ESCALATING), alerts_at, until=H)
    assert [(t, n.channel, n.status, n.escalation) for t, n in sent] == [
        (30 * S, "ops", "firing", 0),
        (15 * M, "pager", "firing", 1),
        (30 * M + 30 * S, "ops", "resolved", 0),
        (30 * M + 30 * S, "pager", "resolved", 1),
    ]


def _toggling(alert: Alert, until: int) -> Timeline:
    """Fires on even minutes and resolves on odd ones, until ``until``, then stays resolved."""
    return lambda t: [alert] if t < until and (t // M) % 2 == 0 else []


FAST = replace(CONFIG, group_wait=0, group_interval=M)


def test_flapping_alerts_are_held_until_stable() -> None:
    """Once flapping, an alert's changes are not notified; its final state goes out once stable."""
    alert = _alert()
    timeline = _toggling(alert, until=30 * M)
    unguarded = _run(Policy(FAST, flap_detection=None), timeline, until=2 * H, step=M)
    assert len(unguarded) == 30  # every change told: the fatigue flap detection prevents

    policy = Policy(FAST)
    sent: list[tuple[int, Notification]] = []
    flapping_at: list[int] = []
    for now in range(0, 2 * H, M):
        sent += [(now, n) for n in policy.process(timeline(now), now=now)]
        if policy.flapping:
            flapping_at.append(now)
    assert flapping_at, "the alert was never seen flapping"
    start, stop = flapping_at[0], flapping_at[-1]
    assert start <= 5 * M  # four changes are enough
    assert stop > 30 * M  # held beyond the last change, until the changes age out
    assert all(not start <= t <= stop for t, _ in sent)
    assert len(sent) <= 5
    assert [n.status for t, n in sent if t > stop] == ["resolved"]
    assert policy.flapping == frozenset()


def test_a_flapping_alert_is_marked_in_repeats() -> None:
    """A held firing alert repeats with a flapping annotation."""
    alert = _alert()
    policy = Policy(replace(FAST, repeat_interval=10 * M))
    sent = _run(policy, _toggling(alert, until=10 * H), until=25 * M, step=M)
    marked = [t for t, n in sent if n.alerts[0].annotations.get("flapping") == "true"]
    assert marked and all(n.status == "firing" for t, n in sent if t in marked)


def test_flap_detection_thresholds() -> None:
    """Nagios' weighting: four recent changes exceed 20 %, three never do; bad thresholds fail."""
    detection = FlapDetection()
    assert detection.percent([False, True, False, True, False]) > 20
    assert detection.percent([False] * 17 + [True, False, True]) < 20
    assert detection.percent([True] * 21) == 0
    assert detection.percent([False, True] * 11) == pytest.approx(100.0)
    with pytest.raises(ValueError, match="low, high"):
        FlapDetection(low=30, high=20)
    with pytest.raises(ValueError, match="samples"):
        FlapDetection(samples=2)


def test_snapshot_and_restore_continue_without_renotifying() -> None:
    """A restart through a JSON snapshot keeps timers, what was told, escalations and flaps."""
    alert = _alert()
    first = Policy(ESCALATING)
    before = _run(first, lambda t: [alert], until=20 * M)
    assert [(n.channel, n.escalation) for _, n in before] == [("ops", 0), ("pager", 1)]
    saved = json.loads(json.dumps(first.snapshot()))
    second = Policy.restore(ESCALATING, saved)
    assert second.snapshot() == saved
    after = _run(second, lambda t: [alert], start=20 * M, until=5 * H)
    assert [(t, n.channel) for t, n in after] == [(2 * H, "cto"), (4 * H + 30 * S, "ops")]


def test_restore_during_group_wait_keeps_the_original_deadline() -> None:
    """A group restored mid-wait is notified at its first deadline, not group_wait after restart."""
    alert = _alert()
    first = Policy(CONFIG)
    assert _run(first, lambda t: [alert], until=20 * S) == []
    second = Policy.restore(CONFIG, json.loads(json.dumps(first.snapshot())))
    assert [t for t, _ in _run(second, lambda t: [alert], start=30 * S, until=M)] == [30 * S]


def test_snapshot_keeps_resolved_alerts_awaiting_their_notification() -> None:
    """A resolution seen once before the restart is still told after it; odd values survive."""
    alert = replace(_alert(), value=float("nan"))
    policy = Policy(CONFIG)
    _run(policy, lambda t: [alert], until=M)
    policy.process([_resolved(alert, 2 * M)], now=2 * M)
    restored = Policy.restore(CONFIG, json.loads(json.dumps(policy.snapshot())))
    sent = _run(restored, lambda t: [], start=3 * M, until=10 * M)
    assert [(t, n.status) for t, n in sent] == [(5 * M + 30 * S, "resolved")]
    assert sent[0][1].alerts[0].ends_at == 2 * M


@pytest.mark.parametrize(
    ("snapshot", "message"),
    [
        ({"version": 99}, "snapshot.version"),
        ({"version": 1, "groups": [{"key": "k"}], "flaps": {}}, "snapshot: malformed"),
        ({"version": 1, "groups": [], "flaps": {"f": {"history": 3}}}, "snapshot: malformed"),
    ],
)
def test_restore_rejects_a_bad_snapshot(snapshot: dict[str, object], message: str) -> None:
    """A snapshot of another version or shape raises ValueError instead of half-restoring."""
    with pytest.raises(ValueError, match=message):
        Policy.restore(CONFIG, snapshot)


def test_next_due_names_the_next_flush_or_escalation() -> None:
    """next_due is the earliest flush or escalation time of the open groups."""
    policy = Policy(ESCALATING)
    policy.process([_alert()], now=0)
    assert policy.next_due() == 30 * S
    policy.process([_alert()], now=30 * S)
    assert policy.next_due() == 5 * M + 30 * S
    policy.process([_alert()], now=5 * M + 30 * S)
    assert policy.next_due() == 10 * M + 30 * S
    policy.process([_alert()], now=10 * M + 30 * S)
    assert policy.next_due() == 15 * M
    acked = Policy(ESCALATING)
    ack = {"f1": Acknowledgement("f1", by="ana", at=0)}
    for now in (0, 30 * S, 20 * M):
        acked.process([_alert()], now=now, acks=ack)
    assert acked.next_due() == 20 * M + 5 * M  # the skipped first step is not due again


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (replace(CONFIG, group_wait=-1), "group_wait: must not be negative"),
        (replace(CONFIG, group_interval=0), "group_interval, repeat_interval: must be positive"),
        (replace(CONFIG, group_by=("...", "service")), "group_by"),
        (replace(CONFIG, escalations=(Escalation(-1, ("x",)),)), r"escalate\[0\].after"),
        (replace(CONFIG, escalations=(Escalation(1, ()),)), r"escalate\[0\].channels"),
    ],
)
def test_bad_configs_are_refused(config: PolicyConfig, message: str) -> None:
    """A config with impossible timers or escalations raises ValueError naming the field."""
    with pytest.raises(ValueError, match=message):
        check_config(config)
    with pytest.raises(ValueError, match=message):
        Policy(config)
