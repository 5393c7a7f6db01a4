"""Silences: matcher syntax, anchored regexes, missing labels, activity windows, validation."""

from __future__ import annotations

import pytest

from watchkeeper.alerts.model import Alert, Matcher, Silence
from watchkeeper.alerts.silences import (
    active,
    format_matcher,
    matches,
    parse_matcher,
    parse_matchers,
    silenced,
    silenced_by,
    state,
    validate_silence,
)


def _alert(fp: str, project: int = 1, **labels: str) -> Alert:
    return Alert(project, "HighLatency", fp, labels, {}, "firing", 1.0, 0)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('service="api"', Matcher("service", "=", "api")),
        ("env!=dev", Matcher("env", "!=", "dev")),
        ('model=~"gpt-.*"', Matcher("model", "=~", "gpt-.*")),
        ('a!~"b|c"', Matcher("a", "!~", "b|c")),
        ("  region = eu-west-1 ", Matcher("region", "=", "eu-west-1")),
        ('env=""', Matcher("env", "=", "")),
        ('summary="say \\"hi\\" \\\\o/"', Matcher("summary", "=", 'say "hi" \\o/')),
        ('"gen_ai.system"="openai"', Matcher("gen_ai.system", "=", "openai")),
        ("http.route=/v1/chat", Matcher("http.route", "=", "/v1/chat")),
    ],
)
def test_parse_one_matcher(text: str, expected: Matcher) -> None:
    """Alertmanager's forms parse: quoted or bare values, all four operators, escapes."""
    assert parse_matcher(text) == expected


def test_parse_a_list_in_braces_with_a_trailing_comma() -> None:
    """A comma-separated list parses in order, with or without braces."""
    expected = (
        Matcher("service", "=", "api"),
        Matcher("env", "!=", "dev"),
        Matcher("model", "=~", "gpt-4o|o1"),
    )
    assert parse_matchers('{service="api", env!=dev, model=~"gpt-4o|o1",}') == expected
    assert parse_matchers('service="api",env!=dev,model=~"gpt-4o|o1"') == expected
    assert parse_matchers("{}") == ()


def test_parse_the_list_forms() -> None:
    """Lists take matcher texts, {name, op, value} maps and Alertmanager's API maps."""
    parsed = parse_matchers(
        [
            'service="api"',
            {"name": "env", "op": "!=", "value": "dev"},
            {"name": "model", "value": "gpt-.*", "isRegex": True, "isEqual": True},
            {"name": "route", "value": "/health", "isRegex": False, "isEqual": False},
        ]
    )
    assert parsed == (
        Matcher("service", "=", "api"),
        Matcher("env", "!=", "dev"),
        Matcher("model", "=~", "gpt-.*"),
        Matcher("route", "!=", "/health"),
    )


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ('service=="api"', "expected ',' between matchers"),
        ("=api", "expected a label name"),
        ('service~"api"', "expected = != =~ !~"),
        ('{service="api"', "missing closing '}'"),
        ('model=~"gpt-(4"', 'matcher model=~"gpt-(4": bad regex: missing )'),
        ('a="b" c="d"', "expected ',' between matchers"),
        ([{"name": "env", "op": "==", "value": "x"}], "matchers[0].op: expected one of"),
        ([{"name": 3, "value": "x"}], "matchers[0]: 'name' and 'value' must be strings"),
        ([{"name": "a", "value": "x", "isRegex": "yes"}], "'isRegex' and 'isEqual'"),
        ([42], "matchers[0]: expected a string or a mapping"),
        (['a="b", c="d"'], "expected exactly one matcher, found 2"),
    ],
)
def test_bad_matchers_are_rejected_with_a_clear_error(spec: object, message: str) -> None:
    """Each malformed matcher raises ValueError naming what is wrong."""
    with pytest.raises(ValueError) as raised:
        parse_matchers(spec)  # type: ignore[arg-type]
    assert message in str(raised.value)


def test_format_reads_back() -> None:
    """format_matcher quotes and escapes so parse_matcher returns the same matcher."""
    for matcher in (Matcher("a", "=~", r"x\.y|\"z\""), Matcher("b", "!=", "")):
        assert parse_matcher(format_matcher(matcher)) == matcher


def test_regexes_are_anchored() -> None:
    """=~ matches the whole value; an alternation stays inside the anchors."""
    assert matches(parse_matchers('model=~"gpt-4"'), {"model": "gpt-4"})
    assert not matches(parse_matchers('model=~"gpt-4"'), {"model": "gpt-4o"})
    assert not matches(parse_matchers('model=~"gpt-4"'), {"model": "my-gpt-4"})
    assert not matches(parse_matchers('model=~"a|b"'), {"model": "ab"})
    assert matches(parse_matchers('model!~"a|b"'), {"model": "ab"})
    assert not matches(parse_matchers('model!~"gpt-.*"'), {"model": "gpt-4o"})


def test_a_missing_label_reads_as_empty() -> None:
    """Matchers see an absent label as "": != and !~ match, = only the empty value."""
    labels = {"service": "api"}
    assert matches(parse_matchers('env!="dev"'), labels)
    assert matches(parse_matchers('env=""'), labels)
    assert not matches(parse_matchers('env="dev"'), labels)
    assert matches(parse_matchers('env!~"dev|staging"'), labels)
    assert matches(parse_matchers('env=~"(dev)?"'), labels)


def test_every_matcher_must_match() -> None:
    """A list is a conjunction; the empty list matches everything."""
    both = parse_matchers('service="api", env="prod"')
    assert matches(both, {"service": "api", "env": "prod"})
    assert not matches(both, {"service": "api", "env": "dev"})
    assert matches((), {"anything": "x"})


def test_active_window_and_state() -> None:
    """A silence is active from starts_at (included) to ends_at (excluded)."""
    silence = Silence(1, 1, parse_matchers('a="b"'), starts_at=100, ends_at=200)
    assert [active(silence, t) for t in (99, 100, 199, 200)] == [False, True, True, False]
    assert [state(silence, t) for t in (99, 100, 200)] == ["pending", "active", "expired"]


def test_silenced_by_returns_the_first_active_matching_silence() -> None:
    """Expired, pending and non-matching silences are skipped."""
    labels = {"service": "api", "env": "prod"}
    expired = Silence(1, 1, parse_matchers('service="api"'), starts_at=0, ends_at=10)
    other = Silence(2, 1, parse_matchers('service="web"'), starts_at=0, ends_at=1000)
    later = Silence(3, 1, parse_matchers('service="api"'), starts_at=500, ends_at=1000)
    muting = Silence(4, 1, parse_matchers('env=~"pro.*"'), starts_at=0, ends_at=1000)
    silences = [expired, other, later, muting]
    found = silenced_by(labels, silences, now=50)
    assert found is not None and found.id == 4
    assert silenced_by(labels, [expired, other, later], now=50) is None
    found = silenced_by(labels, silences, now=600)
    assert found is not None and found.id == 3


def test_silenced_reports_by_fingerprint_within_the_project() -> None:
    """silenced() maps muted alerts to their silence; another project's silence mutes nothing."""
    mute = Silence(9, 1, parse_matchers('service="api"'), starts_at=0, ends_at=100)
    alerts = [_alert("a", service="api"), _alert("b", service="web"), _alert("c", 2, service="api")]
    assert {fp: s.id for fp, s in silenced(alerts, [mute], 10).items()} == {"a": 9}
    assert silenced(alerts, [mute], 100) == {}


@pytest.mark.parametrize(
    ("silence", "message"),
    [
        (Silence(1, 1, (), 0, 10), "matchers: at least one matcher is required"),
        (Silence(1, 1, (Matcher("a", "=~", ".*"),), 0, 10), "must not match the empty string"),
        (Silence(1, 1, (Matcher("a", "=", "b"),), 10, 10), "ends_at: must be after starts_at"),
        (Silence(1, 1, (Matcher("a", "=~", "("),), 0, 10), 'matcher a=~"(": bad regex'),
        (Silence(1, 1, (Matcher("", "=", "x"),), 0, 10), "the label name is empty"),
    ],
)
def test_validate_silence_names_the_field(silence: Silence, message: str) -> None:
    """A silence that would mute everything, never be active or cannot match is refused."""
    with pytest.raises(ValueError) as raised:
        validate_silence(silence)
    assert message in str(raised.value)


def test_validate_silence_accepts_a_good_one() -> None:
    """A silence with one non-empty matcher and a real window is returned as is."""
    silence = Silence(1, 1, parse_matchers('service="api", env!="dev"'), 0, 10)
    assert validate_silence(silence) is silence
