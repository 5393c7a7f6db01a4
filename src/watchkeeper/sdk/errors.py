"""Error capture: ``capture_exception``, ``capture_message`` and the hooks that catch the rest.

The app's thread only takes what will not stay the same: the exception object (its traceback
keeps the frames, which hold what a report needs: code, line numbers, globals), the current
trace and span ids, the bound ids, the request being served, a snapshot of the breadcrumbs,
and the caller's attributes. It makes the record's id (returned, so an app can show it to its
user) and enqueues. Walking the frames, reading source lines (:mod:`linecache`), deciding which
frames are the app's own, redacting and building :class:`~watchkeeper.records.Error` happen on
the batcher's thread. Local variables are the exception: they change as soon as the app moves
on, so when ``capture_locals`` is on they are read and ``repr``'d on the app's thread.

Frames are described as sentry-sdk describes them, since the server groups on them (type and
the app's frames' module and function): ``module`` is the frame's ``__name__``, ``function``
its code's ``co_name``, ``filename`` the path relative to its top-level package, and a frame
is the app's (``in_app``) unless its file is under ``site-packages``/``dist-packages`` or the
standard library.

:func:`install` (run by ``init()`` when ``capture_errors`` is on) chains ``sys.excepthook`` and
``threading.excepthook``; :func:`install_asyncio` the running loop's exception handler (the ASGI
middleware calls it). Every hook hands on to the one it replaced and never raises.

>>> import watchkeeper
>>> try:
...     1 / 0
... except ZeroDivisionError:
...     event_id = watchkeeper.capture_exception()
"""

from __future__ import annotations

import linecache
import os
import re
import sys
import sysconfig
import threading
from collections.abc import Callable, Mapping
from contextlib import suppress
from contextvars import ContextVar
from random import getrandbits
from time import time_ns
from types import FrameType, TracebackType
from typing import TYPE_CHECKING, Any, Final, Literal, TypeAlias, cast
from urllib.parse import parse_qsl, urlencode

from watchkeeper.records import MAX_ATTRIBUTES, AttributeValue, Error, Frame
from watchkeeper.sdk import breadcrumbs
from watchkeeper.sdk.batcher import Item
from watchkeeper.sdk.client import DEFAULT, Client, flatten
from watchkeeper.sdk.context import bound_fields, current_trace, span_hex, trace_hex
from watchkeeper.sdk.redact import REDACTED, is_sensitive_key, redact_text

if TYPE_CHECKING:
    import asyncio

Level: TypeAlias = Literal["fatal", "error", "warning", "info", "debug"]

CONTEXT_LINES: Final = 5
"""Source lines kept before and after each frame's line (as sentry-sdk)."""
MAX_FRAMES: Final = 256
_MAX_LINE: Final = 1_000
_MAX_TEXT: Final = 65_536
_MAX_SHORT: Final = 256
_MAX_CHAIN: Final = 10
_LOCALS_FRAMES: Final = 10
_LOCALS_PER_FRAME: Final = 30
_LOCALS_REPR: Final = 256
_LEVELS: Final = frozenset({"fatal", "error", "warning", "info", "debug"})
_MARK: Final = "__watchkeeper_captured__"
_EXTERNAL: Final = re.compile(r"[\\/](?:dist|site)-packages[\\/]")

RequestInfo: TypeAlias = tuple[str, Any, Any]
"""``(kind, scope_or_environ, extra)`` of the request a middleware is serving: read only when
an error is captured, so a request pays one ContextVar set and reset."""

current_request: Final[ContextVar[RequestInfo | None]] = ContextVar(
    "watchkeeper_request_info", default=None
)


# -- the app's side ----------------------------------------------------------------------------


def capture_exception(
    exc: BaseException | None = None,
    *,
    level: Level = "error",
    fingerprint: list[str] | None = None,
    client: Client | None = None,
    **attributes: object,
) -> str | None:
    """Report an exception (by default the one being handled) as an error; return its id (32
    hex digits), or None without a client or an exception. ``attributes`` become the error's
    attributes (tags, extra context); ``fingerprint`` overrides the server's grouping
    (``"{{ default }}"`` stands for the default one). Never raises.

    >>> try:
    ...     charge(order)  # doctest: +SKIP
    ... except PaymentError as exc:
    ...     capture_exception(exc, order_id=order.id)  # doctest: +SKIP
    """
    if exc is None:
        exc = sys.exc_info()[1]
        if exc is None:
            return None
    return _capture(exc, level, True, "generic", fingerprint, attributes, client, False)


def capture_message(
    message: str,
    level: Level = "info",
    *,
    fingerprint: list[str] | None = None,
    client: Client | None = None,
    **attributes: object,
) -> str | None:
    """Report a message (no exception) as an error record at ``level``; return its id, or
    None without a client. Grouped by the server on the message.

    >>> capture_message("quota nearly used up", "warning", tenant="acme")  # doctest: +SKIP
    """
    client = client or DEFAULT.client
    if client is None:
        return None
    try:
        event_id = _new_id()
        client.enqueue(
            (
                _build_error,
                event_id,
                time_ns(),
                None,
                None,
                str(message),
                level if level in _LEVELS else "info",
                True,
                "message",
                fingerprint,
                dict(attributes) if attributes else None,
                *_context(),
                None,
                client.config.redact,
            )
        )
    except Exception:
        client.count_failure()
        return None
    return event_id


def capture_unhandled(
    exc: BaseException,
    mechanism: str,
    *,
    level: Level = "error",
    client: Client | None = None,
    attributes: Mapping[str, object] | None = None,
) -> str | None:
    """What the hooks and middlewares call: ``handled=False``, and an exception that was
    captured already (``logging.exception`` in an ``except`` that re-raised) is not again."""
    return _capture(exc, level, False, mechanism, None, attributes or {}, client, True)


def capture_logged(exc: BaseException, level: Level, message: str, logger: str) -> str | None:
    """An exception logged with ``exc_info`` (``logging.exception``), from the log handler."""
    return _capture(
        exc, level, True, "logging", None, {"log.message": message, "logger.name": logger},
        None, True,
    )  # fmt: skip


def _capture(
    exc: BaseException,
    level: str,
    handled: bool,
    mechanism: str,
    fingerprint: list[str] | None,
    attributes: Mapping[str, object],
    client: Client | None,
    dedupe: bool,
) -> str | None:
    client = client or DEFAULT.client
    if client is None:
        return None
    try:
        if dedupe and (getattr(exc, _MARK, False) or not client.config.capture_errors):
            return None
        with suppress(Exception):  # an exception type may refuse attributes
            setattr(exc, _MARK, True)
        config = client.config
        tb = exc.__traceback__
        event_id = _new_id()
        client.enqueue(
            (
                _build_error,
                event_id,
                time_ns(),
                exc,
                tb,
                None,
                level if level in _LEVELS else "error",
                handled,
                mechanism,
                list(fingerprint) if fingerprint else None,
                dict(attributes) if attributes else None,
                *_context(),
                _locals(tb) if config.capture_locals and tb is not None else None,
                config.redact,
            )
        )
    except Exception:
        client.count_failure()
        return None
    return event_id


def _new_id() -> str:
    return f"{getrandbits(128) or 1:032x}"


def _context() -> tuple[Any, Any, Any, Any]:
    """The volatile context: trace ids, bound ids, the request, the breadcrumbs."""
    request = current_request.get()
    return (
        current_trace(),
        bound_fields.get(),
        None if request is None else _read_request(request),
        tuple(breadcrumbs.TRAIL.crumbs),
    )


def _read_request(request: RequestInfo) -> dict[str, object] | None:
    try:
        kind, source, extra = request
        if kind == "asgi":
            return _asgi_request(source, extra)
        return _wsgi_request(source)
    except Exception:
        return None


def _asgi_request(scope: Mapping[str, Any], root_path: str) -> dict[str, object]:
    host = ""
    for name, value in scope.get("headers", ()):
        if name == b"host":
            host = value.decode("latin-1")
            break
    if not host:
        server = scope.get("server")
        host = f"{server[0]}:{server[1]}" if server else ""
    path = scope.get("root_path", "") + scope.get("path", "")
    info: dict[str, object] = {
        "http.request.method": scope.get("method", ""),
        "url.path": path,
        "url.full": f"{scope.get('scheme', 'http')}://{host}{path}",
    }
    query = scope.get("query_string", b"")
    if query:
        info["url.query"] = query.decode("latin-1")
    route = getattr(scope.get("route"), "path", None)
    if isinstance(route, str):
        mounted = scope.get("root_path", "")
        info["http.route"] = (
            mounted[len(root_path) :] if mounted.startswith(root_path) else ""
        ) + (route)
    return info


def _wsgi_request(environ: Mapping[str, Any]) -> dict[str, object]:
    host = environ.get("HTTP_HOST") or (
        f"{environ.get('SERVER_NAME', '')}:{environ.get('SERVER_PORT', '')}"
    )
    path = environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
    info: dict[str, object] = {
        "http.request.method": environ.get("REQUEST_METHOD", ""),
        "url.path": path,
        "url.full": f"{environ.get('wsgi.url_scheme', 'http')}://{host}{path}",
    }
    query = environ.get("QUERY_STRING")
    if query:
        info["url.query"] = query
    rule = getattr(getattr(environ.get("werkzeug.request"), "url_rule", None), "rule", None)
    if isinstance(rule, str):
        info["http.route"] = rule
    return info


def _locals(tb: TracebackType) -> list[tuple[int, dict[str, str]]]:
    """``(frame index, {name: repr})`` of the innermost frames, read now (opt-in)."""
    frames: list[FrameType] = []
    while tb is not None:
        frames.append(tb.tb_frame)
        tb = tb.tb_next  # type: ignore[assignment]
    start = max(0, len(frames) - _LOCALS_FRAMES)
    out = []
    for index in range(start, len(frames)):
        values: dict[str, str] = {}
        for name, value in list(frames[index].f_locals.items())[:_LOCALS_PER_FRAME]:
            try:
                text = repr(value)
            except Exception:
                text = f"<unrepresentable {type(value).__name__}>"
            values[str(name)] = text if len(text) <= _LOCALS_REPR else text[:_LOCALS_REPR] + "…"
        out.append((index, values))
    return out


# -- the batcher's thread ----------------------------------------------------------------------


def _build_error(item: Item, record_id: str) -> Error:
    (
        _,
        event_id,
        ts,
        exc,
        tb,
        message,
        level,
        handled,
        mechanism,
        fingerprint,
        extra,
        ids,
        bound,
        request,
        crumbs,
        local_vars,
        redact,
    ) = item
    attributes: dict[str, AttributeValue] = {"exception.mechanism": mechanism}
    frames: list[Frame] = []
    error_type = ""
    if exc is not None:
        error_type = _type_name(type(exc))
        message = _str(exc)
        frames = _exception_details(exc, tb, local_vars, redact, attributes)
    if request:
        query = request.get("url.query")
        if isinstance(query, str) and redact:
            request["url.query"] = _redact_query(query)
        attributes.update(flatten(request))
    if bound and bound.get("request_id"):
        attributes["request_id"] = bound["request_id"]
    if extra:
        room = MAX_ATTRIBUTES - len(attributes)
        for key, value in flatten(extra).items():
            if key in attributes or room > 0:
                room -= key not in attributes
                attributes[key] = value
    record = Error(
        id=event_id,
        ts=ts,
        type=error_type[:_MAX_SHORT],
        message=(message or "")[:_MAX_TEXT],
        level=level,
        handled=handled,
        frames=frames,
        fingerprint=[str(part)[:_MAX_SHORT] for part in fingerprint[:16]] if fingerprint else [],
        breadcrumbs=breadcrumbs.to_records(crumbs) if crumbs else [],
        attributes=attributes,
        trace_id=None if ids is None else trace_hex(ids[0]),
        span_id=None if ids is None else span_hex(ids[1]),
    )
    if bound:
        record.user_id = str(bound.get("user_id", ""))[:_MAX_SHORT]
        record.session_id = str(bound.get("session_id", ""))[:_MAX_SHORT]
    return record


def _exception_details(
    exc: BaseException,
    tb: TracebackType | None,
    local_vars: list[tuple[int, dict[str, str]]] | None,
    redact: bool,
    attributes: dict[str, AttributeValue],
) -> list[Frame]:
    """The frames of ``exc``; the chain, omitted frames and locals go in ``attributes``:
    ``frame.<index in frames>.vars`` is a list of ``name=repr`` strings."""
    frames, omitted = _frames(tb)
    if omitted:
        attributes["exception.frames_omitted"] = omitted
    chain = _chain(exc)
    if chain:
        attributes["exception.chain"] = cast(AttributeValue, chain)
    if local_vars:
        # Locals are of the innermost frames, which stay last when the middle ones go. Each as
        # "name=repr": a list of strings survives the client's redaction of attribute text
        # (a JSON object would not: `"password": "…"` is a pattern it rewrites).
        for index, values in local_vars:
            position = index - omitted
            if 0 <= position < len(frames):
                attributes[f"frame.{position}.vars"] = [
                    f"{name}={_local(name, text, redact)}" for name, text in values.items()
                ]
    return frames


def _local(name: str, text: str, redact: bool) -> str:
    if not redact:
        return text
    return REDACTED if is_sensitive_key(name) else redact_text(text)


def _type_name(kind: type) -> str:
    module = kind.__module__
    name = kind.__qualname__
    return name if module in ("builtins", "__main__") else f"{module}.{name}"


def _str(exc: BaseException) -> str:
    try:
        return str(exc)
    except Exception:
        return ""


def _chain(exc: BaseException) -> list[str]:
    """The exceptions behind ``exc`` (``raise … from``, or raised while handling), oldest
    first, each as ``Type: message``."""
    chain: list[str] = []
    seen = {id(exc)}
    current: BaseException | None = exc
    while current is not None and len(chain) < _MAX_CHAIN:
        cause = current.__cause__
        if cause is None and not current.__suppress_context__:
            cause = current.__context__
        if cause is None or id(cause) in seen:
            break
        seen.add(id(cause))
        text = _str(cause)
        name = _type_name(type(cause))
        chain.append((f"{name}: {text}" if text else name)[:_MAX_LINE])
        current = cause
    chain.reverse()
    return chain


def _frames(tb: TracebackType | None) -> tuple[list[Frame], int]:
    """The traceback's frames, innermost last; past :data:`MAX_FRAMES` the middle ones go."""
    entries: list[tuple[FrameType, int]] = []
    while tb is not None:
        entries.append((tb.tb_frame, tb.tb_lineno))
        tb = tb.tb_next
    omitted = 0
    if len(entries) > MAX_FRAMES:
        omitted = len(entries) - MAX_FRAMES
        half = MAX_FRAMES // 2
        entries = entries[:half] + entries[-half:]
    return [_frame(frame, lineno) for frame, lineno in entries], omitted


def _frame(frame: FrameType, lineno: int) -> Frame:
    code = frame.f_code
    abs_path = code.co_filename
    try:
        module = str(frame.f_globals.get("__name__") or "")
    except Exception:
        module = ""
    lines = linecache.getlines(abs_path, frame.f_globals) if lineno else []
    context_line = ""
    pre: list[str] = []
    post: list[str] = []
    if 0 < lineno <= len(lines):
        context_line = _line(lines[lineno - 1])
        pre = [_line(line) for line in lines[max(0, lineno - 1 - CONTEXT_LINES) : lineno - 1]]
        post = [_line(line) for line in lines[lineno : lineno + CONTEXT_LINES]]
    return Frame(
        module=module[:_MAX_SHORT],
        function=code.co_name[:_MAX_SHORT],
        filename=filename_for_module(module, abs_path)[-1024:],
        lineno=max(0, lineno or 0),
        in_app=in_app(abs_path),
        context_line=context_line,
        pre_context=pre,
        post_context=post,
    )


def _line(line: str) -> str:
    line = line.rstrip("\r\n")
    return line if len(line) <= _MAX_LINE else line[:_MAX_LINE]


def _stdlib_paths() -> tuple[str, ...]:
    paths = set()
    for key in ("stdlib", "platstdlib"):
        path = sysconfig.get_paths().get(key)
        if path:
            paths.add(os.path.join(path, ""))
            paths.add(os.path.join(os.path.realpath(path), ""))
    return tuple(sorted(paths))


_STDLIB: Final = _stdlib_paths()


def in_app(abs_path: str) -> bool:
    """Whether a file is the app's own: not a package under ``site-packages`` or
    ``dist-packages``, not the standard library, not frozen or generated code (``<…>``).

    >>> in_app(__file__.replace("watchkeeper", "x"))  # doctest: +SKIP
    True
    """
    if not abs_path or abs_path.startswith("<"):
        return False
    if _EXTERNAL.search(abs_path) is not None:
        return False
    return not abs_path.startswith(_STDLIB)


def filename_for_module(module: str, abs_path: str) -> str:
    """The file's path relative to its top-level package's parent (sentry-sdk's rule):
    ``myapp/billing/pay.py`` rather than the absolute path; a top-level module's base name."""
    if not abs_path or not module:
        return abs_path
    try:
        if abs_path.endswith(".pyc"):
            abs_path = abs_path[:-1]
        base = module.split(".", 1)[0]
        if base == module:
            return os.path.basename(abs_path)
        base_path = getattr(sys.modules.get(base), "__file__", None)
        if not base_path:
            return abs_path
        return abs_path.split(base_path.rsplit(os.sep, 2)[0], 1)[-1].lstrip(os.sep)
    except Exception:
        return abs_path


def _redact_query(query: str) -> str:
    try:
        pairs = parse_qsl(query, keep_blank_values=True)
    except Exception:
        return redact_text(query)
    return redact_text(
        urlencode([(k, REDACTED if is_sensitive_key(k) else v) for k, v in pairs], safe="[]:")
    )


# -- automatic capture -------------------------------------------------------------------------


class _Hooks:
    __slots__ = ("excepthook", "installed", "threading_hook")

    def __init__(self) -> None:
        self.installed = False
        self.excepthook: Callable[..., Any] | None = None
        self.threading_hook: Callable[..., Any] | None = None


_HOOKS: Final = _Hooks()
_hooks_lock = threading.Lock()


def _excepthook(kind: type[BaseException], value: BaseException, tb: TracebackType | None) -> None:
    try:
        if not issubclass(kind, KeyboardInterrupt | SystemExit):
            capture_unhandled(value, "excepthook", level="fatal")
    except Exception:  # noqa: S110 - a hook must never raise
        pass
    previous = _HOOKS.excepthook or sys.__excepthook__
    previous(kind, value, tb)


def _threading_hook(args: threading.ExceptHookArgs) -> None:
    try:
        value = args.exc_value
        if value is not None and not isinstance(value, SystemExit):
            thread = args.thread
            name = thread.name if thread is not None else ""
            capture_unhandled(value, "threading", attributes={"thread.name": name})
    except Exception:  # noqa: S110
        pass
    previous = _HOOKS.threading_hook or threading.__excepthook__
    previous(args)


def install() -> None:
    """Chain ``sys.excepthook`` and ``threading.excepthook`` (once per process): an uncaught
    exception is captured (``handled=False``, sent at exit), then the previous hook runs as
    before (the traceback is printed, the exit status stays non-zero)."""
    with _hooks_lock:
        if _HOOKS.installed:
            return
        _HOOKS.installed = True
        _HOOKS.excepthook = sys.excepthook
        _HOOKS.threading_hook = threading.excepthook
        sys.excepthook = _excepthook
        threading.excepthook = _threading_hook


def uninstall() -> None:
    """Put back the hooks :func:`install` replaced (where ours are still the ones in place)."""
    with _hooks_lock:
        if not _HOOKS.installed:
            return
        _HOOKS.installed = False
        if sys.excepthook is _excepthook:
            sys.excepthook = _HOOKS.excepthook or sys.__excepthook__
        if threading.excepthook is _threading_hook:
            threading.excepthook = _HOOKS.threading_hook or threading.__excepthook__
        _HOOKS.excepthook = _HOOKS.threading_hook = None


def install_asyncio(loop: asyncio.AbstractEventLoop | None = None) -> None:
    """Capture exceptions that reach the loop's exception handler (a task's exception nobody
    retrieved, a failing callback), then run the handler it replaced. ``loop`` is the running
    loop when None; installing twice on a loop changes nothing."""
    if loop is None:
        import asyncio  # noqa: PLC0415 - only apps that use it pay for its import

        loop = asyncio.get_running_loop()
    previous = loop.get_exception_handler()
    if getattr(previous, _MARK, False):
        return

    def handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        try:
            exc = context.get("exception")
            if isinstance(exc, Exception):
                message = context.get("message")
                capture_unhandled(exc, "asyncio", attributes={"asyncio.message": message})
        except Exception:  # noqa: S110
            pass
        if previous is not None:
            previous(loop, context)
        else:
            loop.default_exception_handler(context)

    setattr(handler, _MARK, True)
    loop.set_exception_handler(handler)
