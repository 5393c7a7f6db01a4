"""SQLAlchemy: a ``client`` span per query and the connection pool's use, from engine events.

>>> import watchkeeper
>>> engine = sqlalchemy.create_engine("postgresql://...")  # doctest: +SKIP
>>> watchkeeper.instrument_sqlalchemy(engine)  # doctest: +SKIP

A query's span carries the statement as SQLAlchemy sends it to the driver, with its
placeholders (``?``, ``%(name)s``): the parameters, where the user's data is, are never read.
"""

from __future__ import annotations

from time import perf_counter
from typing import TYPE_CHECKING, Any, Final

from watchkeeper.sdk import metrics
from watchkeeper.sdk.client import DEFAULT
from watchkeeper.sdk.integrations import warn_once
from watchkeeper.sdk.traces import SpanScope

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

_SPAN: Final = "_watchkeeper_span"
_MAX_QUERY: Final = 8_192
# OpenTelemetry's db.system.name values where they differ from SQLAlchemy's dialect names.
_SYSTEMS: Final = {"mssql": "microsoft.sql_server", "oracle": "oracle.db"}


def instrument_sqlalchemy(engine: Engine, *, name: str | None = None) -> None:
    """Record ``engine``'s queries as spans (and their durations as metrics), and report its
    connection pool's use (checked out, size, overflow) as connections come and go; ``name``
    labels the pool (default: the URL without its password). Calling it again changes nothing.
    """
    from sqlalchemy import event  # noqa: PLC0415 - SQLAlchemy is the app's dependency

    if getattr(engine, "_watchkeeper", False):
        return
    engine._watchkeeper = True  # type: ignore[attr-defined]
    system = _SYSTEMS.get(engine.dialect.name, engine.dialect.name)
    pool_name = name or engine.url.render_as_string(hide_password=True)
    namespace = engine.url.database or ""

    def before(
        conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool
    ) -> None:
        if DEFAULT.client is None or context is None:
            return
        try:
            operation = _operation(statement)
            attributes: dict[str, object] = {
                "db.system.name": system,
                "db.operation.name": operation,
                "db.query.text": statement[:_MAX_QUERY],
            }
            if namespace:
                attributes["db.namespace"] = namespace
            scope = SpanScope(operation or system, attributes, None, "client")
            scope.__enter__()
            setattr(context, _SPAN, (scope, perf_counter(), operation))
        except Exception as exc:
            warn_once("the SQLAlchemy integration", exc)

    def after(
        conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool
    ) -> None:
        _end(context, system, None)

    def failed(exception_context: Any) -> None:
        _end(exception_context.execution_context, system, exception_context.original_exception)

    def checked_out(*args: Any) -> None:
        _pool(engine, pool_name, 0)

    def checked_in(*args: Any) -> None:
        # SQLAlchemy fires "checkin" before the connection is back in the pool.
        _pool(engine, pool_name, -1)

    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "after_cursor_execute", after)
    event.listen(engine, "handle_error", failed)
    event.listen(engine.pool, "checkout", checked_out)
    event.listen(engine.pool, "checkin", checked_in)


def _operation(statement: str) -> str:
    """The statement's first keyword, upper case: SELECT, INSERT, BEGIN, WITH..."""
    words = statement.lstrip(" \t\r\n(").split(None, 1)
    return words[0].upper()[:64] if words else ""


def _end(context: Any, system: str, error: BaseException | None) -> None:
    opened = getattr(context, _SPAN, None) if context is not None else None
    if opened is None:
        return
    scope, t0, operation = opened
    setattr(context, _SPAN, None)
    try:
        duration = perf_counter() - t0
        if error is None:
            scope.__exit__(None, None, None)
        else:
            scope.set_attribute("error.type", type(error).__qualname__)
            scope.__exit__(type(error), error, error.__traceback__)
        metrics.db_query(system, operation, duration)
    except Exception as exc:
        warn_once("the SQLAlchemy integration", exc)


def _pool(engine: Engine, name: str, returning: int) -> None:
    pool = engine.pool
    try:
        # QueuePool counts; SQLite's SingletonThreadPool and StaticPool, and NullPool, do not.
        checked_out = max(0, pool.checkedout() + returning) if hasattr(pool, "checkedout") else 0
        size = pool.size() if hasattr(pool, "size") else 0
        overflow = pool.overflow() if hasattr(pool, "overflow") else 0
        metrics.pool_usage(name, checked_out, size, overflow)
    except Exception as exc:
        warn_once("the SQLAlchemy pool metrics", exc)
