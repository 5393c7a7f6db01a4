"""The read API for raw records: list and count, by kind and time window, for a read token.

``since`` and ``until`` take nanoseconds since the epoch, an ISO 8601 time (``2026-11-21T10:00Z``)
or a duration back from now (``90s``, ``15m``, ``6h``, ``7d``). Both default to all time.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, HTTPException, Query, Request

from watchkeeper.query import catalog
from watchkeeper.server.auth import read_project
from watchkeeper.store.base import TABLES

router = APIRouter(prefix="/api/v1", tags=["read"])

MAX_TS: Final = 2**63 - 1
_DURATION = re.compile(r"^(\d+)(s|m|h|d|w)$")
_UNIT_NS: Final = {
    "s": 10**9,
    "m": 60 * 10**9,
    "h": 3600 * 10**9,
    "d": 86400 * 10**9,
    "w": 604800 * 10**9,
}


def parse_time(value: str | None, default: int, *, field: str, now: int | None = None) -> int:
    """Parse a time parameter into ns since the epoch; raise a 400 naming ``field``.

    >>> parse_time("1h", 0, field="since", now=7_200_000_000_000)
    3600000000000
    """
    if value is None or value == "":
        return default
    value = value.strip()
    if value.isdigit():
        return min(int(value), MAX_TS)
    match = _DURATION.match(value)
    if match:
        now = time.time_ns() if now is None else now
        return max(0, now - int(match[1]) * _UNIT_NS[match[2]])
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise HTTPException(
            400,
            f"{field}: {value!r} is not ns since the epoch, ISO 8601 or a duration like 15m",
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1_000_000) * 1000


def _window(kind: str, since: str | None, until: str | None) -> tuple[int, int]:
    if kind not in TABLES:
        raise HTTPException(400, f"kind: {kind!r} is not one of {', '.join(sorted(TABLES))}")
    now = time.time_ns()
    start = parse_time(since, 0, field="since", now=now)
    end = parse_time(until, MAX_TS, field="until", now=now)
    if end < start:
        raise HTTPException(400, "until: must not be before since")
    return start, end


def _as_record(kind: str, row: dict[str, Any]) -> dict[str, Any]:
    record = {"kind": kind}
    record.update((k, v) for k, v in row.items() if k != "project" and v is not None)
    return record


Kind = Annotated[str, Query(description="Record kind: event, span, log or metric.")]
Since = Annotated[
    str | None, Query(description="Start (inclusive): ns, ISO 8601 or a duration back from now.")
]
Until = Annotated[
    str | None, Query(description="End (exclusive): ns, ISO 8601 or a duration back from now.")
]


@router.get("/records", summary="List records, newest first")
def list_records(
    request: Request,
    project: Annotated[int, Depends(read_project)],
    kind: Kind,
    since: Since = None,
    until: Until = None,
    limit: Annotated[int, Query(ge=1, le=catalog.MAX_LIMIT)] = 100,
) -> dict[str, list[dict[str, Any]]]:
    start, end = _window(kind, since, until)
    rows = catalog.run(
        request.app.state.services.store,
        f"records.list.{kind}",
        project=project,
        since=start,
        until=end,
        limit=limit,
    )
    return {"records": [_as_record(kind, row) for row in rows]}


@router.get("/records/count", summary="Count records")
def count_records(
    request: Request,
    project: Annotated[int, Depends(read_project)],
    kind: Kind,
    since: Since = None,
    until: Until = None,
) -> dict[str, int]:
    start, end = _window(kind, since, until)
    rows = catalog.run(
        request.app.state.services.store,
        f"records.count.{kind}",
        project=project,
        since=start,
        until=end,
    )
    return {"count": int(rows[0]["count"])}
