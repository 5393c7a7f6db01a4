"""The rules file and single rules: what a valid file gives, and every problem with its line."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from watchkeeper.alerts.model import Escalation
from watchkeeper.alerts.rules import (
    RulesError,
    format_duration,
    load_rules,
    parse_duration,
    parse_interval,
    parse_rule,
    parse_rules,
    parse_rules_file,
)

VALID = """\
channels:
  - name: oncall
    type: webhook
    url: http://127.0.0.1:9/hook
    rate_limit: 20/h
  - name: pager
    type: webhook
    url: http://127.0.0.1:9/pager
policy:
  channels: [oncall]
  group_by: [alertname, service]
  group_wait: 10s
  repeat_interval: 1h
  escalate:
    - after: 15m
      channels: [pager]
policies:
  shop:
    channels: [pager]
    send_resolved: false
rules:
  - name: HighErrorRate
    query: signals.requests
    value: error_pct
    by: [service]
    threshold: 5
    for: 2m
    keep_firing_for: 1m
    labels: {severity: page}
    annotations:
      summary: "{{ $labels.service }} fails {{ $value | printf \\"%.1f\\" }}%"
  - name: LLMSpend
    project: shop
    query: llm.totals
    value: cost_usd
    window: 1d
    threshold: {budget: 0.8}
    no_data: OK
  - name: SlowP95
    kind: anomaly
    query: signals.requests
    value: p95_ms
    z: 2.5
    baseline_weeks: 3
  - name: NewIssue
    kind: new_issue
    severity: critical
  - name: Regressed
    kind: issue_regressed
"""


def problems(text: str) -> list[str]:
    """The problems of a rules file text, formatted as the CLI prints them."""
    with pytest.raises(RulesError) as caught:
        parse_rules(textwrap.dedent(text), "alerts.yml", build=_build)
    return [p.format("alerts.yml") for p in caught.value.problems]


def _build(name: str, type: str, options: dict[str, object]) -> object:
    from watchkeeper.alerts import notifiers

    return notifiers.build(name, type, options)


def test_a_valid_file_gives_rules_channels_and_policies(tmp_path: Path) -> None:
    """Every section is read: rules of each kind, channels with a rate limit, the default
    policy and a project's own."""
    path = tmp_path / "alerts.yml"
    path.write_text(VALID)
    ruleset = load_rules(path)
    assert [r.name for r in ruleset.rules] == [
        "HighErrorRate", "LLMSpend", "SlowP95", "NewIssue", "Regressed",
    ]  # fmt: skip
    high, spend, slow, new, regressed = ruleset.rules
    assert (high.threshold, high.for_, high.keep_firing_for) == (5.0, 120 * 10**9, 60 * 10**9)
    assert high.query_params() == {"group_by": "service"}
    assert high.labels == {"severity": "page"}
    assert (spend.project, spend.budget, spend.threshold, spend.no_data) == (
        "shop",
        0.8,
        None,
        "OK",
    )
    assert spend.window == 86_400 * 10**9
    assert (slow.kind, slow.z, slow.baseline_weeks, slow.min_baseline) == ("anomaly", 2.5, 3, 3)
    assert (new.kind, new.severity, new.window) == ("new_issue", ("critical",), 3600 * 10**9)
    assert regressed.kind == "issue_regressed"
    assert [c.name for c in ruleset.channels] == ["oncall", "pager"]
    assert str(ruleset.channels[0].rate_limit) == "20/h"
    assert "rate_limit" not in ruleset.channels[0].options
    policy = ruleset.policy_for("default")
    assert policy.channels == ("oncall",)
    assert policy.group_by == ("alertname", "service")
    assert policy.group_wait == 10 * 10**9
    assert policy.escalations == (Escalation(after=900 * 10**9, channels=("pager",)),)
    assert ruleset.policy_for("shop").send_resolved is False
    assert high.definition["annotations"]["summary"].startswith("{{ $labels.service }}")


def test_yaml_syntax_error_names_its_line() -> None:
    """A file that is not YAML is reported at the line the parser stopped."""
    assert problems("rules:\n  - name: [a\n") == [
        "alerts.yml:3: not valid YAML: did not find expected ',' or ']'"
    ]


def test_duplicate_keys_are_refused() -> None:
    """A key given twice (YAML would keep the last silently) is an error at its line."""
    found = problems("rules:\n  - name: A\n    name: B\n")
    assert found == ["alerts.yml:3: rules[0].name: duplicate key 'name'"]


def test_unknown_sections_and_fields_are_named() -> None:
    """Typos in section and field names are reported, not ignored."""
    found = problems("""\
        rule: []
        rules:
          - name: A
            kind: new_issue
            treshold: 5
        """)
    assert found == [
        "alerts.yml:1: rule: is not a section (channels, policy, policies, rules)",
        "alerts.yml:5: rules[0].treshold: is not a field of new_issue rules",
    ]


def test_bad_durations_name_line_and_field() -> None:
    """Durations must be like 30s, 5m, 2h, 7d."""
    found = problems("""\
        rules:
          - name: A
            query: signals.requests
            value: error_pct
            threshold: 5
            window: 5 minutes
            for: soon
        """)
    assert found == [
        "alerts.yml:6: rules[0].window: '5 minutes' is not a duration like 30s, 5m, 2h, 7d",
        "alerts.yml:7: rules[0].for: 'soon' is not a duration like 30s, 5m, 2h, 7d",
    ]


def test_queries_and_their_parameters_are_checked_against_the_catalog() -> None:
    """Unknown queries, unknown or bad parameters, window parameters and missing required
    ones are each reported at their line."""
    found = problems("""\
        rules:
          - name: A
            query: signals.request
            value: error_pct
            threshold: 5
          - name: B
            query: signals.metric
            value: last
            threshold: 5
            params:
              service: 3
              since: 0
              colour: red
          - name: C
            query: signals.requests
            value: error_pct
            threshold: 5
            by: [route]
        """)
    assert found == [
        "alerts.yml:3: rules[0].query: 'signals.request' is not a catalog query",
        "alerts.yml:10: rules[1].params: signals.metric needs parameter 'name'",
        "alerts.yml:11: rules[1].params.service: must be a string of at most 256 characters",
        "alerts.yml:12: rules[1].params.since: is set by the engine from the rule's window",
        "alerts.yml:13: rules[1].params.colour: is not a catalog parameter",
        "alerts.yml:18: rules[2].by[0]: signals.requests groups by environment, http_method,"
        " http_route, release, service",
    ]


def test_threshold_op_and_modes_are_checked() -> None:
    """The threshold (number or budget form), operator, no-data and error modes."""
    found = problems("""\
        rules:
          - name: A
            query: signals.requests
            value: error_pct
            threshold: five
            op: "=>"
            no_data: Nothing
            on_error: Ignore
          - name: B
            query: llm.totals
            value: cost_usd
            threshold: {budget: -1}
          - name: C
            query: llm.totals
            value: cost_usd
        """)
    assert found == [
        "alerts.yml:5: rules[0].threshold: must be a number, not 'five'",
        "alerts.yml:6: rules[0].op: '=>' is not one of >, >=, <, <=, ==, !=",
        "alerts.yml:7: rules[0].no_data: 'Nothing' is not one of NoData, OK, Alerting, KeepLast",
        "alerts.yml:8: rules[0].on_error: 'Ignore' is not one of Error, OK, Alerting, KeepLast",
        "alerts.yml:12: rules[1].threshold.budget: must be above 0",
        "alerts.yml:13: rules[2].threshold: is required: a number or {budget: <fraction>}",
    ]


def test_labels_and_templates_are_checked() -> None:
    """Reserved and malformed label names, and templates that do not parse."""
    found = problems("""\
        rules:
          - name: A
            kind: new_issue
            labels:
              alertname: x
              bad-name: y
            annotations:
              summary: "{{ $value | eval }}"
              other: "{{ $nope }}"
        """)
    assert found == [
        "alerts.yml:5: rules[0].labels.alertname: alertname is set by the engine",
        "alerts.yml:6: rules[0].labels.bad-name: is not a valid label name (letters, digits, _)",
        "alerts.yml:8: rules[0].annotations.summary: template: unknown function 'eval': use one"
        " of default, humanize, humanizeDuration, humanizePercentage, lower, printf, upper",
        "alerts.yml:9: rules[0].annotations.other: template: unknown variable $nope: use $value,"
        " $labels.<name>, $threshold, $z or $baseline",
    ]


def test_anomaly_and_issue_fields_are_checked() -> None:
    """Anomaly baselines and issue severities have their own ranges."""
    found = problems("""\
        rules:
          - name: A
            kind: anomaly
            query: signals.requests
            value: p95_ms
            baseline_weeks: 20
            z: 0
          - name: B
            kind: issue_regressed
            severity: [huge]
          - name: C
            kind: sometimes
        """)
    assert found == [
        "alerts.yml:6: rules[0].baseline_weeks: must be a whole number in 1..12",
        "alerts.yml:7: rules[0].z: must be above 0",
        "alerts.yml:10: rules[1].severity[0]: is not one of critical, major, minor",
        "alerts.yml:12: rules[2].kind: 'sometimes' is not one of threshold, new_issue,"
        " issue_regressed, anomaly",
    ]


def test_names_must_be_unique_per_project() -> None:
    """Two rules of one project may not share a name (it is their alertname)."""
    found = problems("""\
        rules:
          - {name: A, kind: new_issue}
          - {name: A, kind: issue_regressed}
          - {name: A, kind: new_issue, project: shop}
        """)
    assert found == ["alerts.yml:3: rules[1].name: another rule of default is named so"]


def test_channels_are_checked_by_their_notifier() -> None:
    """Channel options go through notifiers.build; its field lands on the option's line."""
    found = problems("""\
        channels:
          - name: oncall
            type: webhook
            url: example.test
          - name: pager
            type: pigeon
          - name: slow
            type: webhook
            url: http://127.0.0.1:9/
            rate_limit: lots
          - name: oncall
            type: webhook
            url: http://127.0.0.1:9/
        """)
    assert found[0] == "alerts.yml:4: channels[0].url: must be an http(s) URL, not 'example.test'"
    assert found[1].startswith("alerts.yml:6: channels[1].type: unknown channel type 'pigeon'")
    assert found[2].startswith("alerts.yml:10: channels[2].rate_limit: expected a count per")
    assert found[3] == "alerts.yml:11: channels[3].name: another channel is named 'oncall'"


def test_policy_names_known_channels_and_sane_timers() -> None:
    """The policy may only name declared channels; its timers are checked by the policy."""
    found = problems("""\
        channels:
          - {name: oncall, type: webhook, url: "http://127.0.0.1:9/"}
        policy:
          channels: [oncall, nobody]
          group_interval: 0s
          escalate:
            - after: later
              channels: [ghost]
          colour: red
        policies:
          Not A Slug: {}
        """)
    assert found == [
        "alerts.yml:4: policy.channels[1]: no channel named 'nobody' in channels",
        "alerts.yml:5: policy.group_interval: must be positive",
        "alerts.yml:7: policy.escalate[0].after: 'later' is not a duration like 30s, 5m, 2h, 7d",
        "alerts.yml:8: policy.escalate[0].channels[0]: no channel named 'ghost' in channels",
        "alerts.yml:9: policy.colour: is not a policy field (channels, group_by, group_wait,"
        " group_interval, repeat_interval, escalate, send_resolved)",
        "alerts.yml:11: policies.Not A Slug: is not a project slug",
    ]


def test_parse_rule_names_fields_without_lines() -> None:
    """A rule from the API is checked the same way; problems name fields only."""
    with pytest.raises(RulesError) as caught:
        parse_rule({"name": "A", "query": "signals.requests", "threshold": 1, "window": "x"})
    assert [p.format() for p in caught.value.problems] == [
        "window: 'x' is not a duration like 30s, 5m, 2h, 7d",
        "value: is required: the result column to compare, e.g. error_pct",
    ]


def test_durations_read_and_print() -> None:
    """Durations combine units and print back in their shortest form."""
    assert parse_duration("1h30m") == 5400 * 10**9
    assert parse_duration("250ms") == 250 * 10**6
    assert parse_duration("0") == 0
    assert format_duration(parse_duration("1d2h")) == "1d2h"
    for bad in ("", "5", "5 m", "m5", "-5m", 5):
        with pytest.raises(ValueError, match="is not a duration"):
            parse_duration(bad)


def test_settings_parsers(tmp_path: Path) -> None:
    """The rules_file setting loads the file (problems stop start-up); the interval takes
    seconds or a duration."""
    assert parse_interval("1m") == 60.0
    assert parse_interval("15") == 15.0
    with pytest.raises(ValueError, match="at least 1 second"):
        parse_interval(0.5)
    assert parse_rules_file("") is None
    good = tmp_path / "good.yml"
    good.write_text(VALID)
    assert parse_rules_file(str(good)) == good
    bad = tmp_path / "bad.yml"
    bad.write_text("rules: 5\n")
    with pytest.raises(RulesError, match=r"bad.yml:1: rules: must be a list of rules"):
        parse_rules_file(str(bad))
