"""Grouping: fingerprints that survive line edits, split on code paths, normalise messages."""

from __future__ import annotations

import hashlib

import pytest

from watchkeeper.errors.grouping import GROUPING_VERSION, group, normalise_message
from watchkeeper.records import Error, Frame


def error(*frames: Frame, type: str = "KeyError", message: str = "'x'", **fields: object) -> Error:
    return Error(id="e", ts=1, type=type, message=message, frames=list(frames), **fields)  # type: ignore[arg-type]


def app(function: str, lineno: int = 1, module: str = "shop.views") -> Frame:
    return Frame(module=module, function=function, lineno=lineno, in_app=True,
                 context_line=f"line {lineno}")  # fmt: skip


LIB = Frame(module="django.core.handlers", function="inner", lineno=5)


def test_same_error_with_other_line_numbers_groups_together() -> None:
    """Line numbers and source lines are not part of the fingerprint."""
    a = error(LIB, app("checkout", 10), app("charge", 20))
    b = error(LIB, app("checkout", 14), app("charge", 31))
    assert group(a).hash == group(b).hash


def test_another_function_or_type_is_another_issue() -> None:
    """A different in-app function or exception type gives a different fingerprint."""
    base = group(error(app("checkout"), app("charge"))).hash
    assert group(error(app("checkout"), app("refund"))).hash != base
    assert group(error(app("checkout"), app("charge"), type="ValueError")).hash != base


def test_library_frames_are_ignored_unless_no_frame_is_in_app() -> None:
    """Only in-app frames count; a library-only stack falls back to all frames."""
    assert group(error(LIB, app("charge"))).key == f"v{GROUPING_VERSION}|KeyError|shop.views:charge"
    other_lib = Frame(module="requests.api", function="get")
    assert group(error(LIB)).hash != group(error(other_lib)).hash


def test_the_message_does_not_split_a_stack_issue() -> None:
    """With frames, the message is left out: 'user 1' and 'user 2' are one issue."""
    assert group(error(app("f"), message="user 1")).hash == group(error(app("f"), message="x")).hash


@pytest.mark.parametrize(
    ("message", "normal"),
    [
        ("User 12345 not found at 2024-01-02T03:04:05Z", "User <int> not found at <date>"),
        ("from 10.0.0.1 took 250ms, flag=true hex 0xdeadbeef",
         "from <ip> took <duration>, flag=<bool> hex <hex>"),
        ("order 3f2b8c1e-0a4d-4c5e-9f00-1234567890ab for bob@example.com",
         "order <uuid> for <email>"),
        ("no key 'abc' at 12:30:01", "no key <quoted_str> at <date>"),
        ("first\n\nsecond\nthird", "first\nsecond"),
    ],
)  # fmt: skip
def test_messages_are_normalised(message: str, normal: str) -> None:
    """Numbers, ids, dates, IPs, emails and quoted strings become placeholders."""
    assert normalise_message(message) == normal


def test_frameless_errors_group_by_type_and_normalised_message() -> None:
    """Without frames, type + normalised message decide: ids in the message do not split."""
    a = error(type="RateLimitError", message="request req_8 took 1200ms (id 0xabc123)")
    b = error(type="RateLimitError", message="request req_8 took 900ms (id 0xfff001)")
    assert group(a).hash == group(b).hash
    assert group(a).hash != group(error(type="RateLimitError", message="quota exceeded")).hash


def test_custom_fingerprint_replaces_or_refines_the_default() -> None:
    """A fingerprint list replaces the default; {{ default }} expands to it."""
    a, b = error(app("f")), error(app("g"))
    fixed = ["payments", "stripe"]
    assert group(error(app("f"), fingerprint=fixed)).hash == group(
        error(app("g"), fingerprint=fixed)).hash  # fmt: skip
    refined = lambda e, tag: group(error(*e.frames, fingerprint=["{{ default }}", tag]))
    assert refined(a, "eu").hash != refined(a, "us").hash
    assert refined(a, "eu").hash != refined(b, "eu").hash
    assert refined(a, "eu").key == f"v{GROUPING_VERSION}|KeyError|shop.views:f|eu"


def test_the_version_is_part_of_the_hash() -> None:
    """The hash is sha256 of the key, which starts with the grouping version."""
    grouping = group(error(app("f")))
    assert grouping.key.startswith(f"v{GROUPING_VERSION}|")
    assert grouping.hash == hashlib.sha256(grouping.key.encode()).hexdigest()


def test_title_and_culprit() -> None:
    """Title is 'Type: first line' cut short; culprit the innermost in-app frame."""
    grouping = group(error(LIB, app("checkout"), app("charge", module="shop.pay"),
                           message="card declined\ndetails"))  # fmt: skip
    assert grouping.title == "KeyError: card declined"
    assert grouping.culprit == "shop.pay in charge"
    long = group(error(message="x" * 500)).title
    assert len(long) == 120 and long.endswith("…")
    assert group(error(message="")).title == "KeyError" and group(error()).culprit == ""


def test_sentry_and_watchkeeper_frames_group_alike() -> None:
    """Frames with the same module/function/in_app group the same whatever else they carry."""
    sdk = error(Frame(module="app.main", function="run", in_app=True, lineno=3,
                      filename="app/main.py"))  # fmt: skip
    sentry = error(Frame(module="app.main", function="run", in_app=True, lineno=9,
                         filename="/srv/app/main.py", context_line="boom()",
                         pre_context=["a"], post_context=["b"]))  # fmt: skip
    assert group(sdk).hash == group(sentry).hash
