"""Record processors: ``record -> record | None`` callables, the SDK's extension point.

A client runs its processors in order on the batcher's thread, after a capture call's record is
built and before it is encoded (``Client(processors=[...])``, ``init(processors=[...])``). A
processor returns the record, changed or not, or None to drop it; one that raises discards the
record rather than let it leave unprocessed (it may have been the one that redacts). The
built-ins below use the same door as users' own, as structlog's processors do.

>>> from watchkeeper.records import Log
>>> redact(Log(id="1", ts=0, body="reset for bob@example.com")).body
'reset for [REDACTED:email]'
>>> min_severity("WARNING")(Log(id="2", ts=0, body="chatty", severity_number=9)) is None
True
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from watchkeeper.records import RECORD_TYPES, Check, Error, Feedback, Log, Record, Span
from watchkeeper.sdk.batcher import Processor
from watchkeeper.sdk.redact import redact_fields, redact_text

__all__ = ["Processor", "drop_kinds", "min_severity", "redact", "severity_number"]


def redact(record: Record) -> Record:
    """Redact secrets and PII in place (see :mod:`watchkeeper.sdk.redact`): attribute values
    under sensitive names (``password``, ``api_key``, ``authorization``…) and patterns in every
    free-text field: log bodies, error messages and source lines, span status messages,
    feedback comments, check output. Names are left alone: they are code's constants."""
    if record.attributes:
        record.attributes = redact_fields(record.attributes)
    if isinstance(record, Log):
        record.body = redact_text(record.body)
    elif isinstance(record, Span):
        if record.status_message:
            record.status_message = redact_text(record.status_message)
    elif isinstance(record, Error):
        record.message = redact_text(record.message)
        for frame in record.frames:
            # Source lines hold literals: `client = OpenAI(api_key="sk-…")` is a common one.
            frame.context_line = redact_text(frame.context_line)
            frame.pre_context = [redact_text(line) for line in frame.pre_context]
            frame.post_context = [redact_text(line) for line in frame.post_context]
    elif isinstance(record, Feedback):
        record.comment = redact_text(record.comment)
    elif isinstance(record, Check):
        record.output = redact_text(record.output)
    return record


# stdlib levels as OpenTelemetry severity numbers (what `Log.severity_number` holds).
_SEVERITY: Final = {"DEBUG": 5, "INFO": 9, "WARNING": 13, "WARN": 13, "ERROR": 17, "CRITICAL": 21}


def severity_number(levelno: int) -> int:
    """A stdlib level as an OpenTelemetry severity number, as the OpenTelemetry SDK maps it:
    DEBUG 10 → 5, INFO 20 → 9, WARNING 30 → 13, ERROR 40 → 17, CRITICAL 50 → 21; the levels
    between step through DEBUG2..4 and so on; below 10 is 0 (unspecified).

    >>> [severity_number(n) for n in (5, 10, 15, 20, 25, 30, 40, 50, 53, 99)]
    [0, 5, 8, 9, 12, 13, 17, 21, 24, 24]
    """
    if levelno < 10:
        return 0
    group = min(levelno // 10, 5)
    return 1 + 4 * group + min(levelno - 10 * group, 3)


def min_severity(level: int | str) -> Processor:
    """Drop log records below ``level`` (a stdlib level: ``"WARNING"``, ``logging.INFO``);
    other kinds of record pass. For a server that should keep less than the app's own sinks.

    >>> keep_warnings = min_severity("WARNING")
    """
    if isinstance(level, str):
        floor = _SEVERITY.get(level.upper())
        if floor is None:
            raise ValueError(f"unknown log level {level!r}")
    else:
        floor = severity_number(level)

    def drop_below(record: Record) -> Record | None:
        if type(record) is Log and record.severity_number < floor:
            return None
        return record

    return drop_below


def drop_kinds(kinds: Iterable[str]) -> Processor:
    """Drop every record of the given kinds (``"log"``, ``"metric"``, ``"event"``…).

    >>> no_metrics = drop_kinds(["metric"])
    """
    types = tuple(RECORD_TYPES[kind] for kind in kinds)

    def drop(record: Record) -> Record | None:
        return None if isinstance(record, types) else record

    return drop
