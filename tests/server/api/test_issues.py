"""GET /api/v1/issues and /issues/{id}: issues with counts, users, releases, latest event."""

from __future__ import annotations

import time

import pytest
from tests.conftest import Running

from watchkeeper.records import Batch, Error, Frame, encode_batch


def post(running: Running, *errors: Error) -> None:
    response = running.client.post(  # type: ignore[attr-defined]
        "/api/v1/ingest",
        content=encode_batch(Batch(records=list(errors))),
        headers=running.ingest_headers(),
    )
    assert response.status_code == 200, response.text


def make(n: int, function: str, *, user: str = "", release: str = "1.0") -> Error:
    return Error(id=f"e{n}", ts=time.time_ns() - (10 - n) * 10**9, type="CardError",
                 message=f"card {n} declined", user_id=user, release=release,
                 frames=[Frame(module="shop", function=function, in_app=True)])  # fmt: skip


def get(running: Running, url: str) -> tuple[int, object]:
    response = running.client.get(url, headers=running.read_headers())  # type: ignore[attr-defined]
    return response.status_code, response.json()


def test_list_gives_counts_users_and_releases(running: Running) -> None:
    """The list has one entry per issue with its counts from the store, last seen first."""
    post(running, make(1, "pay", user="a"), make(2, "pay", user="b", release="1.1"),
         make(3, "refund"))  # fmt: skip
    status, body = get(running, "/api/v1/issues")
    assert status == 200
    issues = body["issues"]  # type: ignore[index]
    assert [i["culprit"] for i in issues] == ["shop in refund", "shop in pay"]
    pay = issues[1]
    assert (pay["count"], pay["users"], pay["releases"]) == (2, 2, ["1.0", "1.1"])
    assert pay["title"] == "CardError: card 1 declined" and pay["status"] == "unresolved"
    assert pay["severity"] == "major" and pay["level"] == "error" and not pay["regressed"]


def test_status_and_query_filters(running: Running) -> None:
    """status=unresolved includes regressed; query matches the title or culprit."""
    post(running, make(1, "pay"), make(2, "refund"))
    meta = running.app.state.services.meta  # type: ignore[attr-defined]
    refund = next(i for i in meta.issues(running.project_id) if "refund" in i.culprit)
    meta.set_issue_status(running.project_id, refund.id, "resolved")
    post(running, make(11, "refund"))  # after the resolution: a regression
    _, body = get(running, "/api/v1/issues?status=unresolved")
    assert {i["status"] for i in body["issues"]} == {"unresolved", "regressed"}  # type: ignore[index]
    _, body = get(running, "/api/v1/issues?status=resolved,ignored")
    assert body == {"issues": []}
    _, body = get(running, "/api/v1/issues?query=REFUND&since=1h")
    assert [i["id"] for i in body["issues"]] == [refund.id]  # type: ignore[index]


def test_one_issue_with_its_latest_event(running: Running) -> None:
    """/issues/{id} has the issue's totals and its newest event with frames."""
    post(running, make(1, "pay"), make(2, "pay"))
    _, body = get(running, "/api/v1/issues")
    issue_id = body["issues"][0]["id"]  # type: ignore[index]
    status, issue = get(running, f"/api/v1/issues/{issue_id}")
    assert status == 200
    assert issue["count"] == 2 and issue["latest_event"]["id"] == "e2"  # type: ignore[index]
    assert issue["latest_event"]["frames"][0]["function"] == "pay"  # type: ignore[index]


@pytest.mark.parametrize(
    ("url", "code"),
    [("/api/v1/issues?status=fixed", 400), ("/api/v1/issues?since=yesterday", 400),
     ("/api/v1/issues?since=1h&until=2h", 400), ("/api/v1/issues?limit=0", 422),
     ("/api/v1/issues/999", 404), ("/api/v1/issues/abc", 422)],
)  # fmt: skip
def test_bad_parameters_are_4xx(running: Running, url: str, code: int) -> None:
    """Bad status, times, limit or id answer 4xx; an unknown issue 404."""
    assert get(running, url)[0] == code


def test_a_read_token_is_required(running: Running) -> None:
    """Without a read token the API answers 401."""
    assert running.client.get("/api/v1/issues").status_code == 401  # type: ignore[attr-defined]
