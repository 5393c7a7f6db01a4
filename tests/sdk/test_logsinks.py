from __future__ import annotations

import gzip
import json
import logging
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import watchkeeper
from watchkeeper.sdk.context import bind, bound_fields, current_span
from watchkeeper.sdk.logsinks import (
    ConsoleFormatter,
    GzipRotatingFileHandler,
    GzipTimedRotatingFileHandler,
    JSONFormatter,
    exception_fields,
    rfc3339,
)
from watchkeeper.testing import capture


@pytest.fixture(autouse=True)
def _no_context() -> Iterator[None]:
    """No span or bound ids left over from an earlier test (a statement bind() outlives it)."""
    span, bound = current_span.set(None), bound_fields.set(None)
    yield
    current_span.reset(span)
    bound_fields.reset(bound)


def record(
    msg: str = "hello %s", *args: object, level: int = logging.INFO, **extra: object
) -> logging.LogRecord:
    """A record of logger t.sinks at a fixed time; "hello world" by default."""
    if msg == "hello %s" and not args:
        args = ("world",)
    made = logging.getLogger("t.sinks").makeRecord(
        "t.sinks", level, __file__, 1, msg, args, None, extra=extra
    )
    made.created = 1_700_000_000.25
    made.msecs = 250.0
    return made


def test_json_line_has_the_documented_fields() -> None:
    """A JSON line has timestamp, level, severity number, logger, message, service,
    environment, trace and span ids, bound ids and extra fields."""
    formatter = JSONFormatter(service="api", environment="staging")
    with capture(), watchkeeper.span("work") as span, bind(user_id="u1", request_id="r1"):
        line = json.loads(formatter.format(record(plan="pro", seats=3)))
        ids = (span.trace_id, span.span_id)
    assert line == {
        "timestamp": "2023-11-14T22:13:20.250000Z",
        "level": "info",
        "severity_number": 9,
        "logger": "t.sinks",
        "message": "hello world",
        "service": "api",
        "environment": "staging",
        "trace_id": ids[0],
        "span_id": ids[1],
        "user_id": "u1",
        "request_id": "r1",
        "plan": "pro",
        "seats": 3,
    }


def test_json_line_redacts_and_carries_the_exception() -> None:
    """Secrets in the message, fields and traceback are redacted; the exception is an object."""
    formatter = JSONFormatter(service="api", environment="prod")
    try:
        raise RuntimeError("token=abc123 rejected")
    except RuntimeError:
        failed = record("login %s", "bob@example.com", level=logging.ERROR, password="hunter2")
        failed.exc_info = sys.exc_info()
    line = json.loads(formatter.format(failed))
    assert line["message"] == "login [REDACTED:email]" and line["password"] == "[REDACTED]"
    assert line["exception"]["type"] == "RuntimeError"
    assert line["exception"]["message"] == "token=[REDACTED] rejected"
    assert "token=[REDACTED] rejected" in line["exception"]["stacktrace"]
    plain = json.loads(
        JSONFormatter(service="api", redact=False).format(record("mail bob@example.com"))
    )
    assert plain["message"] == "mail bob@example.com"


def test_json_service_defaults_to_the_sdks() -> None:
    """Without a client or a service argument, the SDK's default service is used."""
    line = json.loads(JSONFormatter().format(record()))
    assert line["service"] and line["environment"] == "production"


def test_console_line_is_readable_and_coloured_on_request() -> None:
    """The console line shows time, level, logger, message and fields; colour adds ANSI codes."""
    plain = ConsoleFormatter().format(record(model="gpt-4o"))
    clock = time.strftime("%H:%M:%S", time.localtime(1_700_000_000.25))
    assert plain == f"{clock}.250 INFO     t.sinks hello world model=gpt-4o"
    coloured = ConsoleFormatter(colour=True).format(record(level=logging.ERROR))
    assert "\x1b[31mERROR" in coloured and coloured.endswith("hello world")
    try:
        raise ValueError("password=x")
    except ValueError:
        failed = record()
        failed.exc_info = sys.exc_info()
    text = ConsoleFormatter().format(failed)
    assert "Traceback" in text and "ValueError: password=[REDACTED]" in text


def test_size_rotation_keeps_the_retention_count_and_gzips(tmp_path: Path) -> None:
    """Past max_bytes the file rotates; backup_count gzip'd files are kept, the oldest go."""
    path = tmp_path / "app.log"
    handler = GzipRotatingFileHandler(path, max_bytes=200, backup_count=3)
    handler.setFormatter(JSONFormatter(service="api"))
    logger = logging.getLogger("t.rotate")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        for n in range(40):
            logger.warning("line %d %s", n, "x" * 40)
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
        handler.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "app.log",
        "app.log.1.gz",
        "app.log.2.gz",
        "app.log.3.gz",
    ]
    newest = gzip.decompress((tmp_path / "app.log.1.gz").read_bytes()).decode().splitlines()
    current = path.read_text().splitlines()
    assert json.loads(newest[-1])["message"].split()[1] == str(
        int(json.loads(current[0])["message"].split()[1]) - 1
    )


def test_time_rotation_keeps_the_retention_count_and_gzips(tmp_path: Path) -> None:
    """When the rollover time has passed the file rotates into a dated .gz; only backup_count
    remain."""
    path = tmp_path / "app.log"
    handler = GzipTimedRotatingFileHandler(path, when="S", interval=1, backup_count=2)
    logger = logging.getLogger("t.timed")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        now = int(time.time())
        for n in range(4):
            logger.warning("period %d", n)
            handler.rolloverAt = now - 100 + n * 10  # due; names the file after that second
        logger.warning("current")
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
        handler.close()
    rotated = sorted(p.name for p in tmp_path.iterdir() if p.name.endswith(".gz"))
    assert len(rotated) == 2 and all(name.startswith("app.log.") for name in rotated)
    assert gzip.decompress((tmp_path / rotated[-1]).read_bytes()).decode().strip() == "period 3"
    assert path.read_text().strip() == "current"


def test_exception_fields_and_timestamps() -> None:
    """Exceptions map to OTel attributes with a module-qualified type; RFC 3339 in UTC."""
    error = json.JSONDecodeError("bad", "doc", 0)
    fields = exception_fields((type(error), error, None), None)
    assert fields["exception.type"] == "json.decoder.JSONDecodeError"
    assert exception_fields(None, "text") == {"exception.stacktrace": "text"}
    assert exception_fields(None, None) == {}
    assert rfc3339(0.000001) == "1970-01-01T00:00:00.000001Z"


@pytest.mark.parametrize("when", ["midnight", "H", "W0"])
def test_timed_handler_accepts_the_stdlib_periods(tmp_path: Path, when: str) -> None:
    """The timed handler takes the stdlib's `when` values."""
    GzipTimedRotatingFileHandler(tmp_path / "a.log", when=when).close()
