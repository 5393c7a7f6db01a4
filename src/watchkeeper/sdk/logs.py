"""Structured logging: log lines to the server, JSON or readable lines to streams and files.

Three doors, one record (OpenTelemetry's log data model, ``records.Log``):

- :class:`LoggingHandler`, a stdlib ``logging.Handler``: each record is handed to the client's
  batcher as it is; formatting, redaction and encoding happen on the batcher's thread.
- :func:`get_logger`, a fast path for new code: ``log.info("paid", amount=12)`` checks the
  stdlib level (a disabled call runs nothing of ours), captures a tuple and enqueues it,
  skipping the stdlib's ``LogRecord`` machinery (~2-3 µs of the ~10 µs an emitted stdlib line
  costs). The same levels and handlers apply as to ``logging.getLogger(name)``: the server's
  part is done on the calling thread (a tuple for the batcher); other handlers (console, files,
  the app's own) run on one background thread, as a ``QueueListener`` would run them.
- :class:`StructlogProcessor` for structlog pipelines.

Every line carries the trace and span ids of the current span and the ids bound with
``bind()`` (user, session, request), captured on the calling thread. Arguments are formatted
later, on a background thread, when they are plain values (str, int, float, bool, None); any
other argument is formatted at once, so an object whose ``str()`` touches thread-bound state (an
ORM row) is rendered where it lives.

>>> import logging, watchkeeper
>>> configure_logging("INFO", console="json", server=True)  # doctest: +SKIP
>>> log = get_logger("app.billing")
>>> log.info("invoice paid", invoice="in_42", amount=12.5)
"""

from __future__ import annotations

import atexit
import logging
import os
import sys
import threading
import time
from collections import deque
from collections.abc import Mapping, MutableMapping
from typing import IO, Any, Final

from watchkeeper.records import MAX_ATTRIBUTES, AttributeValue, Log
from watchkeeper.sdk import breadcrumbs, errors
from watchkeeper.sdk.batcher import Item
from watchkeeper.sdk.client import DEFAULT, Client, flatten
from watchkeeper.sdk.context import bound_fields, current_trace, span_hex, trace_hex
from watchkeeper.sdk.logsinks import (
    RESERVED,
    ConsoleFormatter,
    ExcInfo,
    GzipRotatingFileHandler,
    GzipTimedRotatingFileHandler,
    JSONFormatter,
    exception_fields,
)
from watchkeeper.sdk.processors import severity_number
from watchkeeper.sdk.redact import redact_fields, redact_text

_MAX_BODY: Final = 65_536
_PLAIN: Final = frozenset({str, int, float, bool, type(None)})
_SEVERITY_TEXT: Final = {10: "DEBUG", 20: "INFO", 30: "WARNING", 40: "ERROR", 50: "CRITICAL"}
_SEVERITY_NUMBER: Final = tuple(severity_number(levelno) for levelno in range(60))


def _severity(levelno: int) -> int:
    return _SEVERITY_NUMBER[levelno] if 0 <= levelno < 60 else severity_number(levelno)


def _level_name(levelno: int) -> str:
    name = _SEVERITY_TEXT.get(levelno)
    return name if name is not None else logging.getLevelName(levelno)


def _error_level(levelno: int) -> errors.Level:
    if levelno >= 50:
        return "fatal"
    if levelno >= 40:
        return "error"
    return "warning" if levelno >= 30 else "info"


def _plain(args: tuple[object, ...]) -> bool:
    for arg in args:  # noqa: SIM110 - a loop is 3x faster than all() over a generator
        if type(arg) not in _PLAIN:
            return False
    return True


def _message(msg: object, args: Any) -> str:
    """``msg % args`` as ``LogRecord.getMessage`` does it; a bad format keeps the line."""
    text = msg if type(msg) is str else str(msg)
    if args:
        if type(args) is tuple and len(args) == 1 and isinstance(args[0], Mapping) and args[0]:
            args = args[0]  # log.info("%(user)s", {"user": u}), as LogRecord allows
        try:
            text = text % args
        except Exception:
            text = f"{text} {args!r}"
    return text


def _exc_info(value: object) -> ExcInfo | None:
    """``exc_info=`` as the stdlib takes it: True, an exception, or a sys.exc_info() tuple."""
    if isinstance(value, BaseException):
        return (type(value), value, value.__traceback__)
    if isinstance(value, tuple):
        return value if value and value[0] is not None else None
    if value:
        info = sys.exc_info()
        return None if info[0] is None else info
    return None


# -- building the record (on the batcher's thread) ------------------------------------------


def _make_log(
    record_id: str,
    ts: int,
    levelno: int,
    logger_name: str,
    body: str,
    fields: Mapping[object, object] | None,
    extra: dict[str, str | int],
    ids: tuple[int, int] | None,
    bound: Mapping[str, str] | None,
    redact: bool,
) -> Log:
    attributes: dict[str, AttributeValue] = flatten(fields) if fields else {}
    room = MAX_ATTRIBUTES - len(extra) - 1  # the contract's limit; ours come first
    if len(attributes) > room:
        attributes = dict(list(attributes.items())[:room])
    attributes.update(extra)
    user_id = session_id = ""
    if bound:
        user_id = bound.get("user_id", "")
        session_id = bound.get("session_id", "")
        request_id = bound.get("request_id")
        if request_id is not None:
            attributes["request_id"] = request_id
    if redact:
        body = redact_text(body)
        attributes = redact_fields(attributes)
    return Log(
        id=record_id,
        ts=ts,
        body=body[:_MAX_BODY],
        severity_text=_level_name(levelno),
        severity_number=_severity(levelno),
        logger=logger_name[:256],
        trace_id=None if ids is None else trace_hex(ids[0]),
        span_id=None if ids is None else span_hex(ids[1]),
        user_id=user_id[:256],
        session_id=session_id[:256],
        attributes=attributes,
    )


def _build_log(item: Item, record_id: str) -> Log:
    """An item of :class:`Logger` or :class:`StructlogProcessor`."""
    _, ts, levelno, name, msg, args, fields, exc_info, ids, bound, redact = item
    extra: dict[str, str | int] = dict(exception_fields(exc_info, None))
    return _make_log(
        record_id, ts, levelno, name, _message(msg, args), fields, extra, ids, bound, redact
    )


def _build_from_record(item: Item, record_id: str) -> Log:
    """An item of :class:`LoggingHandler`: the LogRecord and what was read of it at once."""
    _, record, msg, args, exc_info, ids, bound, redact = item
    state = record.__dict__.copy()  # one C call: other handlers may add keys meanwhile
    fields: dict[object, object] = {k: v for k, v in state.items() if k not in RESERVED}
    extra: dict[str, str | int] = {}
    if record.pathname:  # not for get_logger() lines handled here (they have no caller info)
        extra["code.file.path"] = record.pathname
        extra["code.function.name"] = record.funcName
        extra["code.line.number"] = record.lineno
    extra.update(exception_fields(exc_info, state.get("exc_text")))
    ts = int(record.created * 1e9)
    return _make_log(
        record_id,
        ts,
        record.levelno,
        record.name,
        _message(msg, args),
        fields,
        extra,
        ids,
        bound,
        redact,
    )


# -- the stdlib handler ----------------------------------------------------------------------


class LoggingHandler(logging.Handler):
    """Ships every record it handles to the watchkeeper server as a ``log`` record: severity
    (OpenTelemetry numbers), body, logger, ``extra=`` fields and code location as attributes,
    ``exception.type/message/stacktrace``, trace/span ids and bound ids. The calling thread
    only captures; the rest runs on the batcher's thread.

    >>> logging.getLogger().addHandler(LoggingHandler(logging.INFO))

    ``client`` defaults to the process default client at each record; ``redact`` to the
    client's ``redact`` option. The SDK's own ``watchkeeper`` logger is never shipped.
    """

    def __init__(
        self,
        level: int | str = logging.NOTSET,
        *,
        client: Client | None = None,
        redact: bool | None = None,
    ) -> None:
        super().__init__(level)
        self.client = client
        self.redact = redact

    def handle(self, record: logging.LogRecord) -> bool:
        # Handler.handle takes the handler's lock around emit(); emit only appends to a
        # lock-free queue, so the lock (~0.3 µs) buys nothing here.
        if self.filters and not self.filter(record):
            return False
        self.emit(record)
        return True

    def emit(self, record: logging.LogRecord) -> None:
        client = self.client or DEFAULT.client
        if client is None or record.name.startswith("watchkeeper"):
            return
        try:
            context = record.__dict__.get("_watchkeeper")
            if context is None:
                ids, bound = current_trace(), bound_fields.get()
            else:  # a get_logger() line handled on the background thread: ids from its caller
                ids, bound = context
            msg, args = record.msg, record.args
            if args and not (type(args) is tuple and _plain(args)):
                msg, args = record.getMessage(), None
            redact = client.config.redact if self.redact is None else self.redact
            exc_info = record.exc_info
            client.enqueue((_build_from_record, record, msg, args, exc_info, ids, bound, redact))
            if exc_info and exc_info[1] is not None:
                # Also an error, grouped into an issue; the line is its last breadcrumb but one.
                errors.capture_logged(
                    exc_info[1], _error_level(record.levelno), record.getMessage(), record.name
                )
            breadcrumbs.log_crumb(record.created, record.name, msg, args, record.levelno)
        except Exception:
            client.count_failure()


# -- the fast path ---------------------------------------------------------------------------


def _route(std: logging.Logger, levelno: int) -> tuple[LoggingHandler | None, bool]:
    """Where a line of ``std`` at ``levelno`` goes, as ``Logger.callHandlers`` would send it:
    the LoggingHandler that ships it from this thread (if any), and whether other handlers
    (or the stdlib's last resort) want it on the background thread."""
    if std.filters:  # logger filters need a LogRecord: everything goes the background way
        return None, True
    ship = None
    local = found = False
    logger: logging.Logger | None = std
    while logger is not None:
        for handler in logger.handlers:
            found = True
            if levelno >= handler.level:
                if type(handler) is LoggingHandler and not handler.filters:
                    ship = handler
                else:
                    local = True
        if not logger.propagate:
            break
        logger = logger.parent
    if not found:
        last = logging.lastResort
        local = last is not None and levelno >= last.level
    return ship, local


class Logger:
    """A logger with keyword fields whose enabled calls cost about a microsecond on the calling
    thread (see the module's docstring). Get one with :func:`get_logger`.

    Levels and handlers are those of ``logging.getLogger(name)``; fields become attributes of
    the shipped record and keys of JSON lines. ``exc_info=`` works as in the stdlib.
    """

    __slots__ = ("_fields", "_std", "name")

    def __init__(self, name: str, fields: Mapping[str, object] | None = None) -> None:
        self.name = name
        self._std = logging.getLogger(name)
        self._fields = dict(fields) if fields else None

    def bind(self, **fields: object) -> Logger:
        """A logger that adds ``fields`` to every line (after this one's own).

        >>> log = get_logger("app").bind(tenant="acme")
        """
        return Logger(self.name, {**(self._fields or {}), **fields})

    def is_enabled_for(self, level: int) -> bool:
        """The stdlib's answer for this logger's name."""
        return self._std.isEnabledFor(level)

    def debug(self, msg: object, /, *args: object, **fields: object) -> None:
        """Log at DEBUG; ``msg % args`` is formatted later (see the module's docstring)."""
        if self._std.isEnabledFor(10):
            self._log(10, msg, args, fields, None)

    def info(self, msg: object, /, *args: object, **fields: object) -> None:
        """Log at INFO."""
        if self._std.isEnabledFor(20):
            self._log(20, msg, args, fields, None)

    def warning(self, msg: object, /, *args: object, **fields: object) -> None:
        """Log at WARNING."""
        if self._std.isEnabledFor(30):
            self._log(30, msg, args, fields, None)

    def error(self, msg: object, /, *args: object, **fields: object) -> None:
        """Log at ERROR."""
        if self._std.isEnabledFor(40):
            self._log(40, msg, args, fields, None)

    def exception(self, msg: object, /, *args: object, **fields: object) -> None:
        """Log at ERROR with the exception being handled."""
        if self._std.isEnabledFor(40):
            self._log(40, msg, args, fields, _exc_info(True))

    def critical(self, msg: object, /, *args: object, **fields: object) -> None:
        """Log at CRITICAL."""
        if self._std.isEnabledFor(50):
            self._log(50, msg, args, fields, None)

    def log(self, level: int, msg: object, /, *args: object, **fields: object) -> None:
        """Log at ``level``."""
        if self._std.isEnabledFor(level):
            self._log(level, msg, args, fields, None)

    def _log(
        self,
        level: int,
        msg: object,
        args: tuple[object, ...],
        fields: dict[str, object],
        exc_info: ExcInfo | None,
    ) -> None:
        try:
            if fields:
                if "exc_info" in fields:
                    exc_info = _exc_info(fields.pop("exc_info"))
                if self._fields:
                    fields = {**self._fields, **fields}
            elif self._fields:
                fields = self._fields
            if args and not _plain(args):
                msg, args = _message(msg, args), ()
            ship, local = _route(self._std, level)
            if ship is None and not local:
                return
            ts = time.time_ns()
            ids, bound = current_trace(), bound_fields.get()
            if ship is not None:
                client = ship.client or DEFAULT.client
                if client is not None:
                    redact = client.config.redact if ship.redact is None else ship.redact
                    client.enqueue(
                        (_build_log, ts, level, self.name, msg, args, fields, exc_info, ids,
                         bound, redact)
                    )  # fmt: skip
                    if exc_info is not None and exc_info[1] is not None:
                        errors.capture_logged(
                            exc_info[1], _error_level(level), _message(msg, args), self.name
                        )
                    breadcrumbs.log_crumb(ts / 1e9, self.name, msg, args, level)
            if local:
                _LANE.put(
                    (self._std, ts, level, msg, args, fields, exc_info, ids, bound,
                     threading.get_ident(), ship is not None),
                    level >= 30,
                )  # fmt: skip
        except Exception:
            client = DEFAULT.client
            if client is not None:
                client.count_failure()


def get_logger(name: str | None = None) -> Logger:
    """A fast logger for ``name`` (the root logger's name when None), on the stdlib's levels
    and handlers: ``logging.getLogger(name).setLevel`` and ``configure_logging(levels=…)``
    apply to it.

    >>> log = get_logger("app.llm")
    >>> log.info("completion", model="gpt-4o", tokens=812)
    >>> log.debug("prompt %s", "…")  # below the level: nothing of ours runs
    """
    return Logger(name or "root")


class _Lane:
    """Runs the stdlib handlers of get_logger() lines on one daemon thread (``watchkeeper-logs``),
    started with the first such line. Woken at once for WARNING and above, else every 50 ms or
    at 512 lines; drained at exit. Bounded: past 100,000 waiting lines new ones are dropped."""

    MAX: Final = 100_000

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self._queue: deque[Any] = deque()
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.dropped = 0

    def put(self, entry: tuple[Any, ...], urgent: bool) -> None:
        queue = self._queue
        if len(queue) >= self.MAX:
            self.dropped += 1
            return
        queue.append(entry)
        if self._thread is None:
            self._start()
        if urgent or len(queue) == 512:
            self._wake.set()

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until the lines enqueued before this call went through their handlers."""
        thread = self._thread
        if thread is None or not thread.is_alive():
            return not self._queue
        if thread is threading.current_thread():
            return False
        done = threading.Event()
        self._queue.append(done)
        self._wake.set()
        return done.wait(timeout)

    def _start(self) -> None:
        with self._lock:
            if self._thread is not None:
                return
            _install_hooks()
            self._thread = threading.Thread(target=self._run, name="watchkeeper-logs", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        queue = self._queue
        names: dict[int, str] = {}
        while True:
            self._wake.wait(0.05)
            self._wake.clear()
            if queue:
                names = {thread.ident or 0: thread.name for thread in threading.enumerate()}
            while queue:
                entry = queue.popleft()
                if isinstance(entry, threading.Event):
                    entry.set()
                    continue
                try:
                    _dispatch(entry, names)
                except Exception:  # a handler's own errors go to its handleError
                    self.dropped += 1


_LANE: Final = _Lane()
_hooks = False


def _install_hooks() -> None:
    global _hooks  # noqa: PLW0603 - one-time process hooks, installed with the first line
    if _hooks:
        return
    _hooks = True
    # Registered after `import logging` registered logging.shutdown: atexit runs this first,
    # while the handlers are still open.
    atexit.register(_LANE.flush, 2.0)
    if hasattr(os, "register_at_fork"):
        os.register_at_fork(after_in_child=_LANE._reset)


def flush(timeout: float = 5.0) -> bool:
    """Wait until every get_logger() line logged before this call reached its stdlib handlers
    (console, files). Shipping to the server is ``watchkeeper.flush()``'s."""
    return _LANE.flush(timeout)


def _dispatch(entry: tuple[Any, ...], names: dict[int, str]) -> None:
    std, ts, level, msg, args, fields, exc_info, ids, bound, thread, shipped = entry
    record = std.makeRecord(std.name, level, "", 0, msg, args or None, exc_info)
    created = ts / 1e9
    record.relativeCreated -= (record.created - created) * 1000
    record.created = created
    record.msecs = float(ts // 1_000_000 % 1000)
    record.thread = thread
    record.threadName = names.get(thread, "")
    if fields:
        for key, value in fields.items():
            record.__dict__[key + "_" if key in RESERVED or key in record.__dict__ else key] = value
    record.__dict__["_watchkeeper"] = (ids, bound)
    if std.disabled or (std.filters and not std.filter(record)):
        return
    found = False
    logger: logging.Logger | None = std
    while logger is not None:
        for handler in logger.handlers:
            found = True
            if level < handler.level:
                continue
            if shipped and type(handler) is LoggingHandler and not handler.filters:
                continue  # shipped from the calling thread already
            handler.handle(record)
        if not logger.propagate:
            break
        logger = logger.parent
    last = logging.lastResort
    if not found and last is not None and level >= last.level:
        last.handle(record)


# -- structlog -------------------------------------------------------------------------------

_STRUCTLOG_LEVELS: Final = {
    "debug": 10,
    "info": 20,
    "msg": 20,
    "warning": 30,
    "warn": 30,
    "error": 40,
    "exception": 40,
    "err": 40,
    "critical": 50,
    "fatal": 50,
}
_STRUCTLOG_OWN: Final = frozenset(
    {"event", "level", "timestamp", "logger", "exc_info", "exception", "trace_id", "span_id"}
    | {"user_id", "session_id"}
)


class StructlogProcessor:
    """A structlog processor: adds ``trace_id``/``span_id`` of the current span and the bound
    ids to the event dict, and ships the event (``event`` as the body, the other keys as
    attributes) as a ``log`` record. Put it before the renderer::

        structlog.configure(processors=[
            structlog.processors.add_log_level,
            watchkeeper.StructlogProcessor(),
            structlog.processors.JSONRenderer(),
        ])

    ``level`` is the lowest level shipped (structlog's own filtering runs before any processor).
    """

    def __init__(
        self,
        *,
        client: Client | None = None,
        level: int = logging.NOTSET,
        ship: bool = True,
        redact: bool | None = None,
    ) -> None:
        self.client = client
        self.level = level
        self.ship = ship
        self.redact = redact

    def __call__(
        self, logger: object, method_name: str, event_dict: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        ids, bound = current_trace(), bound_fields.get()
        if ids is not None:
            event_dict.setdefault("trace_id", trace_hex(ids[0]))
            event_dict.setdefault("span_id", span_hex(ids[1]))
        if bound:
            for key, value in bound.items():
                event_dict.setdefault(key, value)
        client = self.client or DEFAULT.client
        if not self.ship or client is None:
            return event_dict
        try:
            name = str(event_dict.get("level") or method_name).lower()
            levelno = _STRUCTLOG_LEVELS.get(name, 20)
            if levelno >= self.level:
                fields = {k: v for k, v in event_dict.items() if k not in _STRUCTLOG_OWN}
                exc = _exc_info(event_dict.get("exc_info"))
                if exc is None and isinstance(event_dict.get("exception"), str):
                    fields["exception.stacktrace"] = event_dict["exception"]
                logger_name = event_dict.get("logger") or getattr(logger, "name", "")
                redact = client.config.redact if self.redact is None else self.redact
                body = event_dict.get("event", "")
                item = (_build_log, time.time_ns(), levelno, str(logger_name), body, ())
                client.enqueue((*item, fields, exc, ids, bound, redact))
        except Exception:
            client.count_failure()
        return event_dict


# -- one call ----------------------------------------------------------------------------------


def configure_logging(
    level: int | str = logging.INFO,
    *,
    console: str | None = "auto",
    file: str | os.PathLike[str] | None = None,
    file_format: str = "json",
    max_bytes: int = 10 * 1024 * 1024,
    when: str | None = None,
    backup_count: int = 7,
    compress: bool = True,
    server: bool = True,
    server_level: int | str = logging.NOTSET,
    levels: Mapping[str, int | str] | None = None,
    logger: str | None = None,
    client: Client | None = None,
    redact: bool = True,
    stream: IO[str] | None = None,
) -> list[logging.Handler]:
    """Set the sinks and levels of ``logger`` (the root logger) in one call; return the
    handlers installed. Calling it again replaces what an earlier call installed, and only that.

    - ``console``: ``"pretty"`` (readable, coloured on a terminal unless ``NO_COLOR`` is set),
      ``"json"`` (one object per line, for containers), ``"auto"`` (pretty on a terminal, JSON
      otherwise) or None; writes to ``stream`` (stderr).
    - ``file``: a path; ``file_format`` ``"json"`` or ``"pretty"``; rotated at ``max_bytes``,
      or by age when ``when`` is given (``"midnight"``, ``"H"``…), keeping ``backup_count``
      old files, gzip'd when ``compress``.
    - ``server``: ship to the watchkeeper server through ``client`` (the default client),
      from ``server_level`` up.
    - ``levels``: per-logger levels, e.g. ``{"httpx": "WARNING", "app.llm": "DEBUG"}``.
    - ``redact``: redact console and file lines (the server's follow the client's ``redact``).

    >>> configure_logging("INFO", console="pretty", levels={"httpx": "WARNING"})  # doctest: +SKIP
    """
    target = logging.getLogger(logger)
    for old in [h for h in target.handlers if getattr(h, "_watchkeeper_sink", False)]:
        target.removeHandler(old)
        old.close()
    handlers: list[logging.Handler] = []
    if console is not None:
        out = sys.stderr if stream is None else stream
        terminal = _isatty(out)
        if console == "auto":
            console = "pretty" if terminal else "json"
        handler: logging.Handler = logging.StreamHandler(out)
        handler.setFormatter(
            _formatter(console, redact, colour=terminal and "NO_COLOR" not in os.environ)
        )
        handlers.append(handler)
    if file is not None:
        if when:
            handler = GzipTimedRotatingFileHandler(
                file, when, backup_count=backup_count, compress=compress
            )
        else:
            handler = GzipRotatingFileHandler(file, max_bytes, backup_count, compress=compress)
        handler.setFormatter(_formatter(file_format, redact, colour=False))
        handlers.append(handler)
    if server:
        handlers.append(LoggingHandler(server_level, client=client))
    for handler in handlers:
        handler._watchkeeper_sink = True  # type: ignore[attr-defined]
        target.addHandler(handler)
    target.setLevel(level if isinstance(level, int) else level.upper())
    for name, value in (levels or {}).items():
        logging.getLogger(name).setLevel(value if isinstance(value, int) else value.upper())
    return handlers


def _formatter(kind: str, redact: bool, *, colour: bool) -> logging.Formatter:
    if kind == "json":
        return JSONFormatter(redact=redact)
    if kind == "pretty":
        return ConsoleFormatter(colour=colour, redact=redact)
    raise ValueError(f"unknown log format {kind!r}: expected 'json' or 'pretty'")


def _isatty(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
