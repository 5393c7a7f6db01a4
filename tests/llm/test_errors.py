"""llm/errors.py: why an LLM call failed, from its error type, exception type or HTTP status."""

from __future__ import annotations

import pytest

from watchkeeper.llm.errors import ERROR_KINDS, error_kind, status_kind


@pytest.mark.parametrize(
    ("status", "kind"),
    [(200, None), (399, None), (400, "bad_request"), (401, "auth"), (403, "auth"),
     (404, "bad_request"), (408, "timeout"), (429, "rate_limit"), (500, "server"),
     (503, "server"), (504, "timeout"), (529, "server")],
)  # fmt: skip
def test_status_kinds(status: int, kind: str | None) -> None:
    """HTTP statuses map to kinds; below 400 is no failure."""
    assert status_kind(status) == kind


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("openai.RateLimitError", "rate_limit"),
        ("botocore.ThrottlingException", "rate_limit"),
        ("httpx.ConnectTimeout", "timeout"),
        ("google.api_core.exceptions.DeadlineExceeded", "timeout"),
        ("openai.APIConnectionError", "connection"),
        ("httpx.RemoteProtocolError", "connection"),
        ("PermissionDeniedError", "auth"),
        ("InvalidApiKey", "auth"),
        ("NotFoundError", "bad_request"),
        ("UnprocessableEntityError", "bad_request"),
        ("context_length_exceeded", "bad_request"),
        ("anthropic.OverloadedError", "server"),
        ("ServiceUnavailable", "server"),
        ("rate_limit", "rate_limit"),
        ("SomethingElse", "other"),
    ],
)
def test_type_names(name: str, kind: str) -> None:
    """Class names of the common clients (and the kinds themselves) map to their kind."""
    assert error_kind(name, None, None) == kind
    assert error_kind(None, name, None) == kind


def test_a_known_kind_beats_an_unknown_name() -> None:
    """An unknown error.type yields to an exception type or status that says more."""
    assert error_kind("_OTHER", "openai.RateLimitError", None) == "rate_limit"
    assert error_kind("CustomError", None, "504") == "timeout"
    assert error_kind(None, None, None) is None
    assert error_kind(None, None, "n/a") is None
    assert error_kind(True, None, 200) is None


def test_every_pattern_kind_is_a_kind() -> None:
    """Whatever error_kind answers is one of ERROR_KINDS."""
    from watchkeeper.llm.errors import PATTERNS

    assert {kind for kind, _ in PATTERNS} | {"other"} == ERROR_KINDS
