"""Where log lines are written in the process: JSON and readable formatters, gzip-rotated files.

:func:`watchkeeper.sdk.logs.configure_logging` puts these together; they are ordinary
``logging`` formatters and handlers, usable on their own. Both formatters add what a stdlib line
lacks: the trace and span ids of the current span, the ids bound with ``bind()``, ``extra=``
fields, and redaction of secrets and PII before the line is written (R-L7).

>>> handler = logging.StreamHandler()
>>> handler.setFormatter(JSONFormatter(service="api"))
"""

from __future__ import annotations

import gzip
import logging
import logging.handlers
import os
import shutil
import time
import traceback
from collections.abc import Mapping
from types import TracebackType
from typing import Any, Final, TypeAlias, cast

import msgspec

from watchkeeper.records import AttributeValue
from watchkeeper.sdk.client import DEFAULT, flatten
from watchkeeper.sdk.config import Config
from watchkeeper.sdk.context import bound_fields, current_trace, span_hex, trace_hex
from watchkeeper.sdk.processors import severity_number
from watchkeeper.sdk.redact import redact_fields, redact_text

ExcInfo: TypeAlias = tuple[type[BaseException], BaseException, TracebackType | None]

_MAX_TEXT: Final = 65_536

RESERVED: Final = frozenset(
    {*logging.makeLogRecord({}).__dict__, "message", "asctime", "taskName", "_watchkeeper"}
)
"""Attributes every LogRecord has; the rest of its ``__dict__`` came from ``extra=``."""


def exception_fields(
    exc_info: ExcInfo | tuple[None, None, None] | None, exc_text: str | None
) -> dict[str, str]:
    """An exception as OpenTelemetry's ``exception.type/message/stacktrace`` attributes; the
    type module-qualified unless built in (``ValueError``, ``httpx.ConnectError``)."""
    if exc_info is None or exc_info[0] is None:
        return {"exception.stacktrace": exc_text[-_MAX_TEXT:]} if exc_text else {}
    kind, value, tb = exc_info
    module = kind.__module__
    name = kind.__qualname__
    if module not in ("builtins", "__main__"):
        name = f"{module}.{name}"
    stacktrace = exc_text or "".join(traceback.format_exception(kind, value, tb))
    return {
        "exception.type": name,
        "exception.message": str(value)[:_MAX_TEXT],
        # The end names the exception and the frame that raised it: keep that part.
        "exception.stacktrace": stacktrace[-_MAX_TEXT:],
    }


def context_of(
    record: logging.LogRecord,
) -> tuple[tuple[int, int] | None, Mapping[str, str] | None]:
    """The trace ids and bound ids of a record: captured by the caller for a get_logger() line
    (formatted on the background thread), else read here (the stdlib formats on the caller's)."""
    context = record.__dict__.get("_watchkeeper")
    if context is None:
        return current_trace(), bound_fields.get()
    return context  # type: ignore[no-any-return]


_json: Final = msgspec.json.Encoder()


def _fields_of(record: logging.LogRecord, redact: bool) -> dict[str, AttributeValue]:
    extra = {k: v for k, v in record.__dict__.items() if k not in RESERVED}
    if not extra:
        return {}
    fields = flatten(cast(Mapping[object, object], extra))
    return redact_fields(fields) if redact else fields


_second: list[tuple[int, str]] = [(-1, "")]


def rfc3339(created: float) -> str:
    """``created`` (seconds since the epoch) as RFC 3339 UTC with microseconds.

    >>> rfc3339(1_700_000_000.25)
    '2023-11-14T22:13:20.250000Z'
    """
    seconds = int(created)
    cached = _second[0]  # one strftime per second, not per line; swapped whole (threads)
    if cached[0] != seconds:
        cached = _second[0] = (seconds, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)))
    return f"{cached[1]}.{int((created - seconds) * 1e6):06d}Z"


class JSONFormatter(logging.Formatter):
    """One JSON object per line, the fields of reference/errors-logging-tracing.md §4.1::

        {"timestamp": "2026-11-21T21:57:02.941242Z", "level": "info", "severity_number": 9,
         "logger": "app.llm", "message": "…", "service": "api", "environment": "production",
         "trace_id": "…", "span_id": "…", "request_id": "…", "user_id": "…",
         "exception": {"type": "…", "message": "…", "stacktrace": "…"}, …extra fields}

    ``service`` and ``environment`` default to the client's (or the SDK's defaults).
    """

    def __init__(
        self,
        *,
        service: str | None = None,
        environment: str | None = None,
        redact: bool = True,
    ) -> None:
        super().__init__()
        self.service = service
        self.environment = environment
        self.redact = redact

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if self.redact:
            message = redact_text(message)
        service, environment = self.service, self.environment
        if service is None or environment is None:  # the current client's, as it may change
            client = DEFAULT.client
            config = client.config if client is not None else _default_config()
            service = config.service if service is None else service
            environment = config.environment if environment is None else environment
        line: dict[str, Any] = {
            "timestamp": rfc3339(record.created),
            "level": record.levelname.lower(),
            "severity_number": severity_number(record.levelno),
            "logger": record.name,
            "message": message,
            "service": service,
            "environment": environment,
        }
        ids, bound = context_of(record)
        if ids is not None:
            line["trace_id"] = trace_hex(ids[0])
            line["span_id"] = span_hex(ids[1])
        if bound:
            line.update(bound)
        if record.exc_info or record.exc_text:
            exc = exception_fields(record.exc_info, record.exc_text)
            if self.redact:
                exc = {key: redact_text(value) for key, value in exc.items()}
            line["exception"] = {key.removeprefix("exception."): v for key, v in exc.items()}
        for key, value in _fields_of(record, self.redact).items():
            line.setdefault(key, value)
        return _json.encode(line).decode()


_default: list[Config] = []


def _default_config() -> Config:
    if not _default:
        _default.append(Config.load())
    return _default[0]


_COLOURS: Final = {
    "DEBUG": "\x1b[2m",
    "INFO": "\x1b[32m",
    "WARNING": "\x1b[33m",
    "ERROR": "\x1b[31m",
    "CRITICAL": "\x1b[1;31m",
}
_DIM: Final = "\x1b[2m"
_KEY: Final = "\x1b[36m"
_RESET: Final = "\x1b[0m"


class ConsoleFormatter(logging.Formatter):
    """Readable lines for development: local time, level, logger, message, ``key=value``
    fields, the trace id's start, and the traceback; ANSI colours when ``colour``::

        12:04:31.207 INFO     app.llm  completion model=gpt-4o tokens=812  trace=4bf92f35
    """

    def __init__(self, *, colour: bool = False, redact: bool = True) -> None:
        super().__init__()
        self.colour = colour
        self.redact = redact

    def format(self, record: logging.LogRecord) -> str:
        paint = self.colour
        message = record.getMessage()
        if self.redact:
            message = redact_text(message)
        clock = time.strftime("%H:%M:%S", time.localtime(record.created))
        level = f"{record.levelname:<8}"
        parts = [
            f"{clock}.{int(record.msecs):03d}",
            f"{_COLOURS.get(record.levelname, '')}{level}{_RESET}" if paint else level,
            f"{_DIM}{record.name}{_RESET}" if paint else record.name,
            message,
        ]
        for key, value in _fields_of(record, self.redact).items():
            parts.append(f"{_KEY}{key}{_RESET}={value}" if paint else f"{key}={value}")
        ids, bound = context_of(record)
        for key, value in (bound or {}).items():
            parts.append(f"{key}={value}")
        if ids is not None:
            trace = f"trace={trace_hex(ids[0])[:8]}"
            parts.append(f"{_DIM}{trace}{_RESET}" if paint else trace)
        text = " ".join(parts)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            trace_text = redact_text(record.exc_text) if self.redact else record.exc_text
            text = f"{text}\n{trace_text}"
        return text


# -- rotating files --------------------------------------------------------------------------


def _gz_name(name: str) -> str:
    return name + ".gz"


def _gzip_rotate(source: str, dest: str) -> None:
    # Runs in emit() of whichever thread logs when the file is full, under the handler's lock;
    # gzip's default level, as logrotate uses: logs are kept long and rotate rarely.
    with open(source, "rb") as plain, gzip.open(dest, "wb") as packed:
        shutil.copyfileobj(plain, packed, 1024 * 1024)
    os.remove(source)


class GzipRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """A file rotated at ``max_bytes``, keeping ``backup_count`` old files, gzip'd:
    ``app.log``, ``app.log.1.gz`` (newest) … ``app.log.N.gz``. Not safe for several processes
    writing one file (reference §4.2): give each process its own, or ship instead."""

    def __init__(
        self,
        filename: str | os.PathLike[str],
        max_bytes: int = 10 * 1024 * 1024,
        backup_count: int = 7,
        *,
        compress: bool = True,
        encoding: str = "utf-8",
    ) -> None:
        super().__init__(filename, maxBytes=max_bytes, backupCount=backup_count, encoding=encoding)
        if compress:
            self.namer = _gz_name
            self.rotator = _gzip_rotate


class GzipTimedRotatingFileHandler(logging.handlers.TimedRotatingFileHandler):
    """A file rotated by age (``when``: ``"midnight"``, ``"H"``, ``"D"``, ``"W0"``…, every
    ``interval``), keeping ``backup_count`` old files, gzip'd: ``app.log.2026-11-21.gz``."""

    def __init__(
        self,
        filename: str | os.PathLike[str],
        when: str = "midnight",
        interval: int = 1,
        backup_count: int = 7,
        *,
        compress: bool = True,
        utc: bool = True,
        encoding: str = "utf-8",
    ) -> None:
        super().__init__(
            filename,
            when=when,
            interval=interval,
            backupCount=backup_count,
            utc=utc,
            encoding=encoding,
        )
        if compress:
            self.namer = _gz_name
            self.rotator = _gzip_rotate
