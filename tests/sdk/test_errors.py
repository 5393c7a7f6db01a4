from __future__ import annotations

import json
import logging
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from flask import Flask

import watchkeeper
from watchkeeper.records import Error
from watchkeeper.sdk import breadcrumbs, errors
from watchkeeper.sdk.integrations.asgi import WatchkeeperMiddleware as ASGIMiddleware
from watchkeeper.sdk.integrations.wsgi import WatchkeeperMiddleware as WSGIMiddleware
from watchkeeper.testing import Captured, capture


def errors_of(captured: Captured) -> list[Error]:
    return [record for record in captured.records if isinstance(record, Error)]


@pytest.fixture(autouse=True)
def _fresh_trail() -> Iterator[None]:
    breadcrumbs.clear()
    yield
    breadcrumbs.clear()


def innermost(value: int) -> None:
    if value > 0:
        raise ValueError(f"bad value {value}")


def middle(value: int) -> None:
    innermost(value)


def test_capture_exception_describes_the_exception_and_its_frames() -> None:
    """Type, message, frames innermost last with module, function, source lines and in_app."""
    with capture() as captured:
        try:
            middle(3)
        except ValueError as exc:
            event_id = watchkeeper.capture_exception(exc, order="o1")
    [error] = errors_of(captured)
    assert error.id == event_id and len(event_id or "") == 32
    assert (error.type, error.message, error.level, error.handled) == (
        "ValueError", "bad value 3", "error", True,
    )  # fmt: skip
    assert [f.function for f in error.frames] == [
        "test_capture_exception_describes_the_exception_and_its_frames", "middle", "innermost",
    ]  # fmt: skip
    last = error.frames[-1]
    assert last.module == __name__ and last.in_app
    assert last.filename.endswith("test_errors.py")
    assert last.context_line.strip() == 'raise ValueError(f"bad value {value}")'
    assert last.pre_context[-1].strip() == "if value > 0:"
    assert last.post_context and len(last.pre_context) <= errors.CONTEXT_LINES
    assert error.attributes["order"] == "o1"
    assert error.attributes["exception.mechanism"] == "generic"


def test_stdlib_and_site_packages_frames_are_not_in_app() -> None:
    """A frame in the standard library or an installed package is not the app's."""
    with capture() as captured:
        try:
            json.loads("{nope")
        except ValueError:
            watchkeeper.capture_exception()
    [error] = errors_of(captured)
    assert error.type == "json.decoder.JSONDecodeError"
    assert error.frames[0].in_app and error.frames[0].module == __name__
    stdlib = [f for f in error.frames if f.module.startswith("json")]
    assert stdlib and not any(f.in_app for f in stdlib)
    assert errors.in_app("/x/lib/python3.11/site-packages/pkg/mod.py") is False
    assert errors.in_app("/x/dist-packages/pkg/mod.py") is False
    assert errors.in_app("<frozen importlib._bootstrap>") is False


def test_context_trace_user_breadcrumbs_and_fingerprint() -> None:
    """Inside a span, with a bound user and preceding log lines: all of it is on the error."""
    log = logging.getLogger("test.errors.crumbs")
    log.setLevel(logging.INFO)
    with capture() as captured:
        handler = watchkeeper.LoggingHandler(client=captured.client)
        log.addHandler(handler)
        try:
            log.info("loading order %s", "o1")
            watchkeeper.add_breadcrumb("llm", "chat gpt-4o", {"gen_ai.usage.output_tokens": 7})
            with watchkeeper.bind(user_id="u42"), watchkeeper.span("work") as span:
                try:
                    middle(1)
                except ValueError:
                    watchkeeper.capture_exception(fingerprint=["{{ default }}", "orders"])
        finally:
            log.removeHandler(handler)
    [error] = errors_of(captured)
    assert (error.trace_id, error.span_id) == (span.trace_id, span.span_id) or (
        error.trace_id is not None and error.span_id is not None
    )
    [work] = captured.spans
    assert (error.trace_id, error.span_id) == (work.trace_id, work.span_id)
    assert error.user_id == "u42"
    assert error.fingerprint == ["{{ default }}", "orders"]
    crumbs = [(c.category, c.message, c.level) for c in error.breadcrumbs]
    assert crumbs == [
        ("test.errors.crumbs", "loading order o1", "info"),
        ("llm", "chat gpt-4o", "info"),
    ]
    assert error.breadcrumbs[1].data == {"gen_ai.usage.output_tokens": 7}


def test_chained_exceptions_are_listed_oldest_first() -> None:
    """The raised exception is the record's; its causes go in exception.chain."""
    with capture() as captured:
        try:
            try:
                raise KeyError("k")
            except KeyError as exc:
                raise RuntimeError("lookup failed") from exc
        except RuntimeError:
            watchkeeper.capture_exception()
    [error] = errors_of(captured)
    assert error.type == "RuntimeError"
    assert error.attributes["exception.chain"] == ["KeyError: 'k'"]


def test_capture_message_and_no_client() -> None:
    """A message is an error record without frames; without a client nothing happens."""
    assert watchkeeper.capture_message("nothing here") is None
    assert watchkeeper.capture_exception(ValueError("x")) is None
    with capture() as captured:
        event_id = watchkeeper.capture_message("quota at 90%", "warning", tenant="acme")
    [error] = errors_of(captured)
    assert (error.id, error.message, error.level, error.type) == (
        event_id, "quota at 90%", "warning", "",
    )  # fmt: skip
    assert error.frames == [] and error.attributes["tenant"] == "acme"


def test_capture_exception_outside_except_returns_none() -> None:
    """No exception being handled and none given: nothing is captured."""
    with capture() as captured:
        assert watchkeeper.capture_exception() is None
    assert errors_of(captured) == []


def test_locals_are_off_by_default_and_redacted_when_on() -> None:
    """capture_locals=True puts the innermost frames' variables, redacted, in attributes."""

    def leaky() -> None:
        password = "hunter2"
        note = "mail bob@example.com"
        raise RuntimeError(f"{len(password)} {len(note)}")

    with capture() as captured:
        try:
            leaky()
        except RuntimeError:
            watchkeeper.capture_exception()
    [error] = errors_of(captured)
    assert not any(key.endswith(".vars") for key in error.attributes)
    with capture(capture_locals=True) as captured:
        try:
            leaky()
        except RuntimeError:
            watchkeeper.capture_exception()
    [error] = errors_of(captured)
    index = len(error.frames) - 1
    assert error.attributes[f"frame.{index}.vars"] == [
        "password=[REDACTED]",
        "note='mail [REDACTED:email]'",
    ]


def test_logging_exception_becomes_an_error() -> None:
    """logging.exception ships the line and reports the exception (mechanism logging)."""
    log = logging.getLogger("test.errors.logging")
    with capture() as captured:
        handler = watchkeeper.LoggingHandler(client=captured.client)
        log.addHandler(handler)
        try:
            try:
                middle(2)
            except ValueError:
                log.exception("charge failed for %s", "o7")
        finally:
            log.removeHandler(handler)
    [error] = errors_of(captured)
    assert (error.type, error.level, error.handled) == ("ValueError", "error", True)
    assert error.attributes["log.message"] == "charge failed for o7"
    assert error.attributes["exception.mechanism"] == "logging"
    assert error.frames[-1].function == "innermost"


def test_threading_excepthook_reports_and_chains(monkeypatch: pytest.MonkeyPatch) -> None:
    """An exception that ends a thread is reported; the previous hook still runs."""
    seen: list[str] = []
    errors.uninstall()  # an init() in an earlier test may have installed it already
    monkeypatch.setattr(threading, "excepthook", lambda args: seen.append(args.thread.name))
    errors.install()
    try:
        with capture() as captured:
            thread = threading.Thread(target=middle, args=(5,), name="worker-1")
            thread.start()
            thread.join()
            [error] = errors_of(captured)
    finally:
        errors.uninstall()
    assert seen == ["worker-1"]
    assert threading.excepthook is not errors._threading_hook
    assert (error.handled, error.message) == (False, "bad value 5")
    assert error.attributes["thread.name"] == "worker-1"
    assert error.attributes["exception.mechanism"] == "threading"


def test_asyncio_handler_reports_unretrieved_task_errors() -> None:
    """An exception reaching the loop's handler is reported; the previous handler runs."""
    import asyncio

    seen: list[str] = []

    async def main() -> None:
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(lambda loop, context: seen.append(context["message"]))
        errors.install_asyncio()
        errors.install_asyncio()  # a second time changes nothing
        loop.call_exception_handler({"message": "boom", "exception": ValueError("in task")})

    with capture() as captured:
        asyncio.run(main())
        [error] = errors_of(captured)
    assert seen == ["boom"]
    assert (error.message, error.handled) == ("in task", False)
    assert error.attributes["asyncio.message"] == "boom"


SCRIPT = """
import atexit, sys
import watchkeeper
from watchkeeper.records import Error
from watchkeeper.sdk.transport import InMemoryTransport

transport = InMemoryTransport()

@atexit.register  # before init(): atexit is last in, first out, so this runs after its flush
def report():
    errors = [r for r in transport.records if isinstance(r, Error)]
    print("DELIVERED", [(e.type, e.handled, e.level) for e in errors], file=sys.stderr)

watchkeeper.init(transport=transport, spool_max_bytes=0, metrics_interval=0)

def fail():
    raise LookupError("no such order")

fail()
"""


def test_uncaught_exception_in_a_script_is_delivered_and_still_fatal(tmp_path: Any) -> None:
    """sys.excepthook: the error reaches the transport at exit; the traceback is printed and
    the exit status is non-zero, as without watchkeeper."""
    script = tmp_path / "app.py"
    script.write_text(textwrap.dedent(SCRIPT))
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 1
    assert "Traceback" in done.stderr and "LookupError: no such order" in done.stderr
    assert "DELIVERED [('LookupError', False, 'fatal')]" in done.stderr


def make_fastapi() -> FastAPI:
    app = FastAPI(telemetry={"tracing": False})
    app.add_middleware(ASGIMiddleware)

    @app.get("/orders/{order_id}")
    async def order(order_id: int) -> None:
        watchkeeper.bind(user_id="u9")
        raise RuntimeError(f"order {order_id} broke")

    return app


def test_asgi_unhandled_exception_is_captured_with_the_request() -> None:
    """A FastAPI route raising: 500, an error with handled False, route and URL, once."""

    async def run() -> httpx.Response:
        transport = httpx.ASGITransport(app=make_fastapi(), raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.get("/orders/3?token=abc&page=2")

    import asyncio

    with capture() as captured:
        assert asyncio.run(run()).status_code == 500
        [error] = errors_of(captured)
        [span] = captured.spans
    assert (error.type, error.message, error.handled) == ("RuntimeError", "order 3 broke", False)
    attributes = error.attributes
    assert attributes["http.route"] == "/orders/{order_id}"
    assert attributes["http.request.method"] == "GET"
    assert attributes["url.full"] == "http://test/orders/3"
    assert attributes["url.query"] == "token=[REDACTED]&page=2"
    assert attributes["exception.mechanism"] == "asgi"
    assert error.user_id == "u9" and error.trace_id == span.trace_id
    assert error.span_id == span.span_id


def make_flask(propagate: bool) -> Flask:
    app = Flask(__name__)
    app.config["PROPAGATE_EXCEPTIONS"] = propagate
    app.wsgi_app = WSGIMiddleware(app.wsgi_app)  # type: ignore[method-assign]

    @app.get("/items/<int:item_id>")
    def item(item_id: int) -> Any:
        raise KeyError(item_id)

    return app


@pytest.mark.parametrize("propagate", [False, True])
def test_wsgi_flask_exception_is_captured_once(propagate: bool) -> None:
    """Flask's 500 or a propagated exception: one error (Flask's signal, then the middleware
    sees it was reported), handled False."""
    with capture() as captured:
        client = make_flask(propagate).test_client()
        if propagate:
            with pytest.raises(KeyError):
                client.get("/items/4?x=1")
        else:
            assert client.get("/items/4?x=1").status_code == 500
        [error] = errors_of(captured)
    assert (error.type, error.handled) == ("KeyError", False)
    assert error.attributes["http.route"] == "/items/<int:item_id>"
    assert error.attributes["url.full"] == "http://localhost/items/4"
    assert error.attributes["exception.mechanism"] == "flask"  # the signal comes first


def test_capture_errors_off_skips_automatic_capture() -> None:
    """With capture_errors=False the hooks and the log handler report nothing."""
    log = logging.getLogger("test.errors.off")
    with capture(capture_errors=False) as captured:
        handler = watchkeeper.LoggingHandler(client=captured.client)
        log.addHandler(handler)
        try:
            try:
                middle(1)
            except ValueError:
                log.exception("failed")
                assert watchkeeper.capture_exception() is not None
        finally:
            log.removeHandler(handler)
        assert [e.attributes["exception.mechanism"] for e in errors_of(captured)] == ["generic"]


def test_breadcrumbs_are_bounded() -> None:
    """The trail keeps the most recent max_breadcrumbs crumbs."""
    breadcrumbs.configure(3)
    try:
        for n in range(5):
            watchkeeper.add_breadcrumb("step", str(n))
        assert [c[2] for c in breadcrumbs.snapshot()] == ["2", "3", "4"]
    finally:
        breadcrumbs.configure(100)
