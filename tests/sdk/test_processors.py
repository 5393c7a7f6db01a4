from __future__ import annotations

import logging

import pytest

import watchkeeper
from watchkeeper.records import Check, Error, Event, Feedback, Frame, Log, Metric, Span
from watchkeeper.sdk.processors import drop_kinds, min_severity, redact, severity_number
from watchkeeper.testing import capture

EMAIL = "bob@example.com"


def test_redact_cleans_every_free_text_field_and_sensitive_attributes() -> None:
    """Log bodies, span status, error messages and source lines, comments, check output and
    attributes are redacted; names stay."""
    attributes = {"password": "hunter2", "note": f"from {EMAIL}", "plan": "pro"}
    log = redact(Log(id="1", ts=0, body=f"mail {EMAIL}", attributes=dict(attributes)))
    assert isinstance(log, Log) and log.body == "mail [REDACTED:email]"
    assert log.attributes == {
        "password": "[REDACTED]",
        "note": "from [REDACTED:email]",
        "plan": "pro",
    }
    span = redact(
        Span(
            id="2",
            ts=0,
            name=EMAIL,
            trace_id="a" * 32,
            span_id="b" * 16,
            duration_ns=1,
            status_message=f"x {EMAIL}",
        )
    )
    assert (
        isinstance(span, Span)
        and span.status_message == "x [REDACTED:email]"
        and span.name == EMAIL
    )
    frame = Frame(
        context_line='client = OpenAI(api_key="sk-abcdefghijklmnopqrstuvwxyz")', pre_context=[EMAIL]
    )
    error = redact(Error(id="3", ts=0, type="E", message=f"no user {EMAIL}", frames=[frame]))
    assert isinstance(error, Error) and error.message == "no user [REDACTED:email]"
    assert error.frames[0].context_line == "client = OpenAI(api_key=[REDACTED])"
    assert error.frames[0].pre_context == ["[REDACTED:email]"]
    feedback = redact(Feedback(id="4", ts=0, name="thumbs", score=1, comment=f"call {EMAIL}"))
    assert isinstance(feedback, Feedback) and feedback.comment == "call [REDACTED:email]"
    check = redact(Check(id="5", ts=0, name="db", status="fail", output="postgresql://u:pw@h/db"))
    assert isinstance(check, Check) and check.output == "postgresql://u:[REDACTED]@h/db"
    event = redact(Event(id="6", ts=0, name="signup", attributes={"email": EMAIL}))
    assert event.attributes == {"email": "[REDACTED:email]"}


def test_severity_numbers_follow_the_opentelemetry_mapping() -> None:
    """stdlib levels map to OTel severity numbers as the OpenTelemetry SDK maps them."""
    assert [severity_number(level) for level in (10, 20, 30, 40, 50)] == [5, 9, 13, 17, 21]
    assert severity_number(0) == 0 and severity_number(5) == 0
    assert [severity_number(level) for level in (11, 13, 19, 21, 35, 53, 60)] == [
        6,
        8,
        8,
        10,
        16,
        24,
        24,
    ]


def test_min_severity_drops_only_logs_below_the_level() -> None:
    """min_severity keeps logs at or above the level and every other kind of record."""
    keep_warnings = min_severity("warning")
    assert keep_warnings(Log(id="1", ts=0, body="x", severity_number=9)) is None
    warning = Log(id="2", ts=0, body="x", severity_number=13)
    assert keep_warnings(warning) is warning
    event = Event(id="3", ts=0, name="signup")
    assert keep_warnings(event) is event
    assert min_severity(logging.ERROR)(warning) is None
    with pytest.raises(ValueError, match="loud"):
        min_severity("loud")


def test_drop_kinds() -> None:
    """drop_kinds discards the named kinds and passes the rest."""
    no_metrics = drop_kinds(["metric"])
    assert no_metrics(Metric(id="1", ts=0, name="m", type="gauge")) is None
    event = Event(id="2", ts=0, name="signup")
    assert no_metrics(event) is event


def test_processors_run_in_a_client() -> None:
    """A client's processors redact and drop before records are sent."""
    with capture(processors=[redact, drop_kinds(["span"])]) as captured:
        watchkeeper.track("signup", properties={"email": EMAIL, "api_key": "k"})
        with watchkeeper.span("work"):
            pass
    (event,) = captured.records
    assert isinstance(event, Event)
    assert event.attributes == {"email": "[REDACTED:email]", "api_key": "[REDACTED]"}
    assert captured.stats()["dropped"] == 1
