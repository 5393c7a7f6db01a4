"""Issue decisions: regressions by release, version ordering, severity rules."""

from __future__ import annotations

import pytest

from watchkeeper.errors.issues import (
    IssueState,
    SeverityRule,
    is_newer,
    next_status,
    parse_severity_rules,
    severity,
    version_key,
)
from watchkeeper.records import Error


def test_resolved_in_a_release_regresses_only_on_newer_releases() -> None:
    """An event of a newer release reopens as regressed; the same or older stays resolved."""
    issue = IssueState("resolved", "1.2.0", 100)
    assert next_status(issue, release="1.3.0", ts=50) == "regressed"
    assert next_status(issue, release="1.2.0", ts=500) == "resolved"
    assert next_status(issue, release="1.1.9", ts=500) == "resolved"
    assert next_status(issue, release="", ts=500) == "resolved"


def test_resolved_without_release_regresses_on_any_later_event() -> None:
    """Without a release, an event after the resolution regresses; a late older one does not."""
    issue = IssueState("resolved", "", 100)
    assert next_status(issue, release="", ts=101) == "regressed"
    assert next_status(issue, release="9.9", ts=99) == "resolved"


@pytest.mark.parametrize("status", ["ignored", "unresolved", "regressed"])
def test_other_statuses_stay(status: str) -> None:
    """Ignored, unresolved and regressed issues keep their status on new events."""
    assert next_status(IssueState(status, "", 0), release="2.0", ts=10) == status


@pytest.mark.parametrize(
    ("newer", "older"),
    [("1.10", "1.9"), ("v2.0.0", "1.99.1"), ("1.2.0", "1.2.0rc1"), ("1.2.0-rc.2", "1.2.0-rc.1"),
     ("app@3.1", "app@3.0.9"), ("1.0.post1", "1.0"), ("1.0a1", "1.0.dev3")],
)  # fmt: skip
def test_versions_compare_as_versions(newer: str, older: str) -> None:
    """PEP 440 and semver-like releases order numerically, pre-releases before finals."""
    assert is_newer(newer, older) and not is_newer(older, newer)


def test_non_versions_compare_by_inequality() -> None:
    """A git sha is newer than any other release, never than itself."""
    assert version_key("3f2b8c1") is None
    assert is_newer("3f2b8c1", "a0b1c2d") and not is_newer("3f2b8c1", "3f2b8c1")
    assert version_key("1.2") == version_key("1.2.0")


def err(**fields: object) -> Error:
    return Error(id="e", ts=1, **({"type": "ValueError"} | fields))  # type: ignore[arg-type]


def test_default_severity() -> None:
    """Fatal or unhandled is critical, error major, warning and below minor."""
    assert severity(err(level="fatal")) == "critical"
    assert severity(err(handled=False)) == "critical"
    assert severity(err()) == "major"
    assert severity(err(level="warning")) == "minor"


def test_configured_rules_come_first_and_combine_conditions() -> None:
    """The first matching rule wins; conditions in one rule must all hold."""
    rules = parse_severity_rules(
        '[{match = "type:TimeoutError", severity = "minor"},'
        ' {match = "message:quota environment:prod", severity = "critical"}]'
    )
    assert severity(err(type="TimeoutError", handled=False), rules) == "minor"
    assert severity(err(message="Quota exceeded", environment="prod"), rules) == "critical"
    assert severity(err(message="Quota exceeded", environment="dev"), rules) == "major"
    assert rules[0] == SeverityRule("type:TimeoutError", "minor")


@pytest.mark.parametrize(
    ("value", "message"),
    [("[{match = 1", "TOML"), ("{}", "expected a list"),
     ([{"match": "level:fatal"}], "keys match and severity"),
     ([{"match": "level:fatal", "severity": "huge"}], "severity must be"),
     ([{"match": "colour:red", "severity": "minor"}], "field:value")],
)  # fmt: skip
def test_bad_rules_are_refused(value: object, message: str) -> None:
    """Bad rules raise ValueError saying what is wrong."""
    with pytest.raises(ValueError, match=message):
        parse_severity_rules(value)
