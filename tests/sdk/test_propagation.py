from __future__ import annotations

import pytest

import watchkeeper
from watchkeeper.sdk.propagation import (
    TraceContext,
    continue_trace,
    current_context,
    extract,
    format_traceparent,
    inject,
    leave_trace,
    parse_traceparent,
    parse_tracestate,
)
from watchkeeper.testing import capture

TRACE = "0af7651916cd43dd8448eb211c80319c"
PARENT = "b7ad6b7169203331"
VALID = f"00-{TRACE}-{PARENT}-01"


def test_valid_traceparent_is_parsed() -> None:
    """A W3C example header gives its trace id, parent id and flags."""
    assert parse_traceparent(VALID) == (int(TRACE, 16), int(PARENT, 16), 1)
    assert parse_traceparent(f" {VALID}\t") is not None


@pytest.mark.parametrize(
    "value",
    [
        f"ff-{TRACE}-{PARENT}-01",  # version ff is invalid
        f"00-{'0' * 32}-{PARENT}-01",  # all-zero trace id
        f"00-{TRACE}-{'0' * 16}-01",  # all-zero parent id
        f"00-{TRACE.upper()}-{PARENT}-01",  # uppercase hex
        f"00-{TRACE}-{PARENT}-01-extra",  # version 00 has exactly four fields
        f"00-{TRACE[:-1]}-{PARENT}-01",  # short trace id
        f"00-{TRACE}-{PARENT}-0x",  # non-hex flags
        f"0g-{TRACE}-{PARENT}-01",  # non-hex version
        f"00_{TRACE}_{PARENT}_01",  # wrong separators
        "",
    ],
)
def test_invalid_traceparent_is_rejected(value: str) -> None:
    """Malformed headers, version ff and all-zero ids start a new trace instead."""
    assert parse_traceparent(value) is None
    assert extract(value, "congo=t61rcWkgMzE") is None


def test_future_versions_are_read_by_their_first_fields() -> None:
    """A higher version's extra fields are skipped; a non-dash after the flags is not."""
    assert parse_traceparent(f"cc-{TRACE}-{PARENT}-01-what-the-future-holds") is not None
    assert parse_traceparent(f"cc-{TRACE}-{PARENT}-01") is not None
    assert parse_traceparent(f"cc-{TRACE}-{PARENT}-01.x") is None


def test_sampled_flag_is_kept_and_unknown_bits_are_cleared() -> None:
    """The sampled and random bits pass through; reserved bits are not sent on."""
    assert extract(f"00-{TRACE}-{PARENT}-00").sampled is False  # type: ignore[union-attr]
    assert extract(f"00-{TRACE}-{PARENT}-03").flags == 3  # type: ignore[union-attr]
    assert extract(f"00-{TRACE}-{PARENT}-ff").flags == 3  # type: ignore[union-attr]


def test_tracestate_is_normalised_or_dropped_whole() -> None:
    """Members are joined and empty ones skipped; a bad member, a repeated key or more than
    32 members drop the whole list."""
    assert parse_tracestate("rojo=00f067aa0ba902b7, ,congo=t61rcWkgMzE") == (
        "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"
    )
    assert parse_tracestate(["a=1", "tenant@vendor=2"]) == "a=1,tenant@vendor=2"
    assert parse_tracestate("a=1,a=2") is None
    assert parse_tracestate("Upper=1") is None
    assert parse_tracestate("a=has,comma") is None
    assert parse_tracestate("a=") is None
    assert parse_tracestate(",".join(f"k{i}=v" for i in range(33))) is None
    assert parse_tracestate(",".join(f"k{i}=v" for i in range(32))) is not None
    context = extract(VALID, "a=1,a=2")
    assert context is not None and context.tracestate == ""


def test_format_round_trips() -> None:
    """A formatted traceparent parses back to the same ids and flags."""
    header = format_traceparent(int(TRACE, 16), int(PARENT, 16), 1)
    assert header == VALID
    assert parse_traceparent(header) == (int(TRACE, 16), int(PARENT, 16), 1)


def test_inject_outside_a_span_sets_nothing() -> None:
    """With no open span there is nothing to propagate."""
    headers: dict[str, str] = {}
    inject(headers)
    assert headers == {} and current_context() is None


def test_inject_sends_the_current_span_as_parent() -> None:
    """Inside a span, traceparent names that span, sampled with a random trace id (03)."""
    with capture(), watchkeeper.span("call") as span:
        headers: dict[str, str] = {}
        inject(headers)
        assert headers == {"traceparent": f"00-{span.trace_id}-{span.span_id}-03"}


def test_a_continued_trace_keeps_the_callers_flags_and_tracestate() -> None:
    """Spans inside a continued trace are its children, and outgoing headers carry the
    caller's flags and tracestate with our span as the parent."""
    remote = extract(f"00-{TRACE}-{PARENT}-00", "congo=t61rcWkgMzE")
    assert remote is not None
    with capture() as captured:
        tokens = continue_trace(remote)
        try:
            with watchkeeper.span("handler"):
                headers: dict[str, str] = {}
                inject(headers)
        finally:
            leave_trace(tokens)
    (recorded,) = captured.spans
    assert (recorded.trace_id, recorded.parent_span_id) == (TRACE, PARENT)
    assert headers == {
        "traceparent": f"00-{TRACE}-{recorded.span_id}-00",
        "tracestate": "congo=t61rcWkgMzE",
    }
    assert current_context() is None


def test_explicit_context_is_injected_as_given() -> None:
    """inject(headers, context) writes that context, whatever is current."""
    headers: dict[str, str] = {}
    inject(headers, TraceContext(1, 2, 1, "k=v"))
    assert headers["traceparent"].endswith("0000000000000002-01")
    assert headers["tracestate"] == "k=v"
