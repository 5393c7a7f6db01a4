from __future__ import annotations

import io
import json
import logging
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog

import watchkeeper
from watchkeeper.records import Log
from watchkeeper.sdk import logs
from watchkeeper.sdk.context import bind, bound_fields, current_span
from watchkeeper.sdk.logs import (
    Logger,
    LoggingHandler,
    StructlogProcessor,
    configure_logging,
    get_logger,
)
from watchkeeper.sdk.logsinks import (
    GzipRotatingFileHandler,
    GzipTimedRotatingFileHandler,
    JSONFormatter,
)
from watchkeeper.testing import Captured, capture


@pytest.fixture(autouse=True)
def _no_context() -> Iterator[None]:
    """No span or bound ids left over from an earlier test (a statement bind() outlives it)."""
    span, bound = current_span.set(None), bound_fields.set(None)
    yield
    current_span.reset(span)
    bound_fields.reset(bound)


@pytest.fixture(autouse=True)
def _clean_logging() -> Iterator[None]:
    """Each test starts and ends with the root logger and the test loggers as they were."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    logs.flush()
    for handler in root.handlers:
        if handler not in handlers:
            handler.close()
    root.handlers[:] = handlers
    root.setLevel(level)
    for name in list(logging.Logger.manager.loggerDict):
        if name.startswith("t."):
            logger = logging.getLogger(name)
            logger.handlers.clear()
            logger.filters.clear()
            logger.setLevel(logging.NOTSET)
            logger.propagate = True


@pytest.fixture
def shipped() -> Iterator[Captured]:
    """A capturing client, and a LoggingHandler on the root logger at DEBUG."""
    with capture() as captured:
        root = logging.getLogger()
        root.setLevel(logging.DEBUG)
        root.addHandler(LoggingHandler())
        yield captured


def logs_of(captured: Captured) -> list[Log]:
    logs.flush()
    return [record for record in captured.records if isinstance(record, Log)]


def test_stdlib_records_ship_as_log_records(shipped: Captured) -> None:
    """A stdlib record ships with OTel severity, body, logger, extra fields, code location,
    trace ids of the current span and the bound ids."""
    with watchkeeper.span("request") as span, bind(user_id="u1", session_id="s1", request_id="r1"):
        logging.getLogger("t.app").warning("paid %s of %d", "invoice", 3, extra={"plan": "pro"})
        ids = (span.trace_id, span.span_id)
    (log,) = logs_of(shipped)
    assert (log.body, log.severity_text, log.severity_number, log.logger) == (
        "paid invoice of 3",
        "WARNING",
        13,
        "t.app",
    )
    assert (log.trace_id, log.span_id) == ids and log.trace_id is not None
    assert (log.user_id, log.session_id) == ("u1", "s1")
    assert log.attributes["plan"] == "pro" and log.attributes["request_id"] == "r1"
    assert log.attributes["code.function.name"] == "test_stdlib_records_ship_as_log_records"
    assert log.attributes["code.file.path"] == __file__
    assert log.ts > 0


def test_exceptions_ship_as_attributes(shipped: Captured) -> None:
    """logger.exception ships exception.type/message/stacktrace; outside a span no trace id."""
    try:
        raise KeyError("missing")
    except KeyError:
        logging.getLogger("t.app").exception("lookup failed")
    (log,) = logs_of(shipped)
    assert (log.severity_text, log.severity_number, log.trace_id) == ("ERROR", 17, None)
    assert log.attributes["exception.type"] == "KeyError"
    assert log.attributes["exception.message"] == "'missing'"
    assert "raise KeyError" in str(log.attributes["exception.stacktrace"])


def test_shipped_lines_are_redacted(shipped: Captured) -> None:
    """Secrets in the message, in fields and in field values never leave the process."""
    logging.getLogger("t.app").info(
        "login bob@example.com password=hunter2",
        extra={"api_key": "sk-x", "note": "card 4111111111111111"},
    )
    get_logger("t.fast").info("key sk-abcdefghijklmnopqrstuvwxyz", token="abc", email="a@b.io")
    first, second = logs_of(shipped)
    assert first.body == "login [REDACTED:email] password=[REDACTED]"
    assert (
        first.attributes["api_key"] == "[REDACTED]"
        and first.attributes["note"] == "card [REDACTED:card]"
    )
    assert second.body == "key [REDACTED:key]"
    assert (
        second.attributes["token"] == "[REDACTED]"
        and second.attributes["email"] == "[REDACTED:email]"
    )


def test_redaction_can_be_turned_off() -> None:
    """With redact=False in the client's options, lines ship as they are."""
    with capture(redact=False) as captured:
        logging.getLogger().addHandler(LoggingHandler(logging.INFO))
        logging.getLogger("t.app").warning("mail bob@example.com")
        (log,) = logs_of(captured)
    assert log.body == "mail bob@example.com"


def test_fast_logger_ships_fields_args_and_context(shipped: Captured) -> None:
    """get_logger lines carry fields, formatted args, bound fields, trace and bound ids."""
    log = get_logger("t.fast").bind(tenant="acme")
    assert isinstance(log, Logger)
    with watchkeeper.span("llm") as span, bind(user_id="u7"):
        log.info("completion %s in %.1f s", "ok", 1.25, model="gpt-4o", tokens=812, tenant="beta")
        ids = (span.trace_id, span.span_id)
    (line,) = logs_of(shipped)
    assert (line.body, line.severity_text, line.severity_number, line.logger) == (
        "completion ok in 1.2 s",
        "INFO",
        9,
        "t.fast",
    )
    assert line.attributes == {"tenant": "beta", "model": "gpt-4o", "tokens": 812}
    assert (line.trace_id, line.span_id, line.user_id) == (*ids, "u7")


def test_fast_logger_levels_follow_the_stdlib(shipped: Captured) -> None:
    """The stdlib's levels decide: setLevel on the logger's name and logging.disable apply."""
    log = get_logger("t.levels")
    logging.getLogger("t.levels").setLevel(logging.WARNING)
    log.debug("no")
    log.info("no")
    log.warning("yes")
    log.log(45, "yes too")
    logging.disable(logging.CRITICAL)
    try:
        log.critical("disabled")
    finally:
        logging.disable(logging.NOTSET)
    assert [(line.body, line.severity_text) for line in logs_of(shipped)] == [
        ("yes", "WARNING"),
        ("yes too", "Level 45"),
    ]
    assert log.is_enabled_for(logging.ERROR) and not log.is_enabled_for(logging.INFO)


def test_fast_logger_exceptions(shipped: Captured) -> None:
    """exception() and exc_info= attach the exception as the stdlib does."""
    log = get_logger("t.fast")
    try:
        1 / 0  # noqa: B018
    except ZeroDivisionError as exc:
        log.exception("boom")
        log.error("again", exc_info=exc)
        log.warning("with true", exc_info=True)
    log.error("no exception", exc_info=False)
    lines = logs_of(shipped)
    assert [line.attributes.get("exception.type") for line in lines] == [
        "ZeroDivisionError"
    ] * 3 + [None]
    assert "1 / 0" in str(lines[0].attributes["exception.stacktrace"])


def test_a_disabled_fast_call_runs_nothing_of_ours() -> None:
    """Below the level, only the call itself and the stdlib's isEnabledFor run."""
    log = get_logger("t.quiet")
    logging.getLogger("t.quiet").setLevel(logging.INFO)
    log.debug("fills the stdlib's level cache")
    called: list[str] = []

    def profile(frame: Any, event: str, arg: object) -> None:
        if event in ("call", "c_call"):
            called.append(
                frame.f_code.co_name if event == "call" else getattr(arg, "__name__", "?")
            )

    sys.setprofile(profile)
    try:
        log.debug("not shown %s", "x", field=1)
    finally:
        sys.setprofile(None)
    assert [name for name in called if name != "setprofile"] == ["debug", "isEnabledFor"]


def test_other_handlers_get_fast_lines_on_a_background_thread(shipped: Captured) -> None:
    """A stdlib handler sees get_logger lines, with the caller's trace ids and thread name,
    and the server gets each line once."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JSONFormatter(service="svc"))
    logging.getLogger("t").addHandler(handler)
    seen: list[str] = []

    class Spy(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(f"{threading.current_thread().name}/{record.threadName}")

    logging.getLogger("t").addHandler(Spy())
    with watchkeeper.span("work") as span:
        get_logger("t.lane").info("hello", n=1)
        trace_id = span.trace_id
    assert logs.flush()
    (line,) = [json.loads(text) for text in stream.getvalue().splitlines()]
    assert (line["message"], line["trace_id"], line["n"], line["service"]) == (
        "hello",
        trace_id,
        1,
        "svc",
    )
    assert seen == [f"watchkeeper-logs/{threading.current_thread().name}"]
    assert len(logs_of(shipped)) == 1


def test_logger_filters_run_and_lines_still_ship_once(shipped: Captured) -> None:
    """A filter on the logger needs a LogRecord: the line goes the background way, the filter
    runs, and what passes ships once, with the caller's trace ids."""
    logging.getLogger("t.filtered").addFilter(lambda record: "secret" not in record.getMessage())
    log = get_logger("t.filtered")
    with watchkeeper.span("work") as span:
        log.info("public")
        log.info("secret plan")
        trace_id = span.trace_id
    lines = logs_of(shipped)
    assert [(line.body, line.trace_id) for line in lines] == [("public", trace_id)]


def test_server_handler_level_and_filters_apply_to_fast_lines() -> None:
    """A LoggingHandler at WARNING ships only warnings; one with a filter gets its say."""
    with capture() as captured:
        handler = LoggingHandler(logging.WARNING)
        logging.getLogger("t.level").addHandler(handler)
        logging.getLogger("t.level").setLevel(logging.DEBUG)
        log = get_logger("t.level")
        log.info("kept local")
        log.warning("shipped")
        handler.addFilter(lambda record: record.levelno >= logging.ERROR)
        log.warning("filtered out")
        log.error("shipped too")
        assert [line.body for line in logs_of(captured)] == ["shipped", "shipped too"]


def test_no_handler_means_no_shipping_and_stderr_for_warnings(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Without handlers a fast line behaves as the stdlib's: warnings reach stderr through
    logging.lastResort, nothing is shipped."""
    logger = logging.getLogger("t.alone")
    logger.propagate = False
    with capture() as captured:
        get_logger("t.alone").warning("to stderr")
        get_logger("t.alone").info("nowhere")
        assert logs_of(captured) == []
    assert "to stderr" in capsys.readouterr().err


def test_unusual_arguments_are_formatted_on_the_calling_thread(shipped: Captured) -> None:
    """Objects are rendered at once on the caller's thread; plain values later; a bad format
    string keeps the line."""
    threads: list[str] = []

    class Row:
        def __str__(self) -> str:
            threads.append(threading.current_thread().name)
            return "row 7"

    log = get_logger("t.args")
    log.info("loaded %s", Row())
    log.info("user %(name)s", {"name": "ann"})
    log.info("count %d", "not a number")
    logging.getLogger("t.args").info("std %s", Row())
    bodies = [line.body for line in logs_of(shipped)]
    assert bodies == ["loaded row 7", "user ann", "count %d ('not a number',)", "std row 7"]
    assert threads and set(threads) == {threading.current_thread().name}


def test_the_sdks_own_logger_is_not_shipped(shipped: Captured) -> None:
    """Lines of the `watchkeeper` logger never ship (the SDK must not feed on itself)."""
    logging.getLogger("watchkeeper").warning("sender trouble")
    logging.getLogger("watchkeeper.sdk").warning("more trouble")
    assert logs_of(shipped) == []


def test_structlog_processor_adds_ids_and_ships() -> None:
    """The structlog processor puts trace and bound ids in the event dict and ships the event."""
    out = io.StringIO()
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            StructlogProcessor(),
            structlog.processors.JSONRenderer(),
        ],
        logger_factory=structlog.PrintLoggerFactory(out),
        cache_logger_on_first_use=False,
    )
    try:
        with capture() as captured:
            log = structlog.get_logger("t.structlog")
            with watchkeeper.span("llm") as span, bind(request_id="r-9"):
                log.info("llm.call", model="gpt-4o", api_key="sk-secret-value")
                ids = (span.trace_id, span.span_id)
            try:
                raise ValueError("bad")
            except ValueError:
                log.exception("failed")
            shipped = logs_of(captured)
    finally:
        structlog.reset_defaults()
    first = json.loads(out.getvalue().splitlines()[0])
    assert (first["trace_id"], first["span_id"], first["request_id"]) == (*ids, "r-9")
    call, failure = shipped
    assert (call.body, call.severity_text, call.trace_id) == ("llm.call", "INFO", ids[0])
    assert call.attributes == {"model": "gpt-4o", "api_key": "[REDACTED]", "request_id": "r-9"}
    assert (failure.severity_text, failure.attributes["exception.type"]) == ("ERROR", "ValueError")


def test_configure_logging_sets_sinks_and_levels(tmp_path: Path) -> None:
    """One call installs console, file and server sinks and per-logger levels; a second call
    replaces them instead of adding more; the user's own handlers stay."""
    own = logging.NullHandler()
    logging.getLogger().addHandler(own)
    stream = io.StringIO()
    with capture() as captured:
        installed = configure_logging(
            "INFO",
            console="auto",
            stream=stream,
            file=tmp_path / "app.log",
            levels={"t.noisy": "ERROR", "t.chatty": logging.DEBUG},
        )
        assert [type(h) for h in installed] == [
            logging.StreamHandler,
            GzipRotatingFileHandler,
            LoggingHandler,
        ]
        again = configure_logging(
            "INFO", console="pretty", stream=stream, file=tmp_path / "app.log", when="midnight"
        )
        assert isinstance(again[1], GzipTimedRotatingFileHandler)
        root = logging.getLogger()
        assert own in root.handlers and len([h for h in root.handlers if h in again]) == 3
        assert not [h for h in root.handlers if h in installed]
        logging.getLogger("t.noisy").warning("dropped")
        logging.getLogger("t.chatty").debug("kept")
        assert [line.body for line in logs_of(captured)] == ["kept"]
    assert "kept" in stream.getvalue() and "dropped" not in stream.getvalue()
    assert json.loads((tmp_path / "app.log").read_text().splitlines()[0])["message"] == "kept"
    with pytest.raises(ValueError, match="xml"):
        configure_logging(console="xml")


def test_console_auto_is_json_off_a_terminal() -> None:
    """console="auto" writes JSON when the stream is not a terminal."""
    stream = io.StringIO()
    configure_logging("INFO", console="auto", stream=stream, server=False)
    logging.getLogger("t.auto").info("hi %s", "there")
    assert json.loads(stream.getvalue())["message"] == "hi there"


def test_oversized_lines_stay_within_the_contract(shipped: Captured) -> None:
    """200 fields, a huge message and a huge traceback still make a valid record: at most 128
    attributes (the exception's kept), 64 KiB texts, the traceback's end kept."""
    log = get_logger("t.big")
    try:
        raise ValueError("x" * 100_000)
    except ValueError:
        log.exception("y" * 100_000, **{f"f{n}": n for n in range(200)})
    (line,) = logs_of(shipped)
    assert 120 < len(line.attributes) <= 128 and len(line.body) == 65_536
    assert line.attributes["exception.type"] == "ValueError"
    stacktrace = str(line.attributes["exception.stacktrace"])
    assert len(stacktrace) == 65_536 and stacktrace.endswith("x" * 100 + "\n")
    assert shipped.stats()["failed"] == 0
