from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from flask import Flask, Response, jsonify, stream_with_context

import watchkeeper
from watchkeeper.records import Span
from watchkeeper.sdk.context import bind, bound, current_span
from watchkeeper.sdk.integrations.wsgi import WatchkeeperMiddleware
from watchkeeper.testing import capture

TRACE = "0af7651916cd43dd8448eb211c80319c"
PARENT = "b7ad6b7169203331"


def make_app() -> Flask:
    app = Flask(__name__)
    app.wsgi_app = WatchkeeperMiddleware(app.wsgi_app)  # type: ignore[method-assign]

    @app.get("/users/<int:user_id>")
    def user(user_id: int) -> Any:
        bind(user_id=f"u{user_id}")
        with watchkeeper.span("load user"):
            pass
        return jsonify(request_id=bound()["request_id"])

    @app.post("/echo")
    def echo() -> Any:
        from flask import request

        return request.get_data()

    @app.get("/fail")
    def fail() -> Any:
        raise RuntimeError("kaboom")

    @app.get("/stream")
    def stream() -> Response:
        def chunks() -> Iterator[str]:
            yield "a" * 10
            yield "b" * 5

        return Response(stream_with_context(chunks()))

    return app


def server_spans(spans: list[Span]) -> list[Span]:
    return [span for span in spans if span.span_kind == "server"]


def test_request_becomes_a_server_span_with_flask_rule() -> None:
    """A request is one server span named by Flask's URL rule, with the HTTP attributes, the
    bound user, the request id (also sent back) and its child spans under it."""
    with capture() as captured:
        response = (
            make_app()
            .test_client()
            .get("/users/42", headers={"User-Agent": "tests/1"}, buffered=True)
        )
    assert response.status_code == 200
    (request,) = server_spans(captured.spans)
    (child,) = [span for span in captured.spans if span.name == "load user"]
    assert request.name == "GET /users/<int:user_id>"
    assert child.parent_span_id == request.span_id
    assert request.user_id == "u42"
    attributes = request.attributes
    assert attributes["http.route"] == "/users/<int:user_id>"
    assert attributes["url.path"] == "/users/42"
    assert attributes["http.response.status_code"] == 200
    assert attributes["user_agent.original"] == "tests/1"
    assert attributes["http.response.body.size"] == len(response.data)
    assert response.headers["X-Request-ID"] == response.json["request_id"]  # type: ignore[index]
    assert attributes["request_id"] == response.headers["X-Request-ID"]


def test_traceparent_and_request_id_from_the_caller() -> None:
    """An incoming traceparent continues the caller's trace; X-Request-ID is kept."""
    headers = {"traceparent": f"00-{TRACE}-{PARENT}-01", "X-Request-ID": "abc-1"}
    with capture() as captured:
        response = make_app().test_client().get("/users/1", headers=headers, buffered=True)
    (request,) = server_spans(captured.spans)
    assert (request.trace_id, request.parent_span_id) == (TRACE, PARENT)
    assert response.headers["X-Request-ID"] == "abc-1"


def test_request_body_size_and_unmatched_path() -> None:
    """The request body's size is recorded; with no rule the route falls back to the path."""
    with capture() as captured:
        make_app().test_client().post("/echo", data=b"x" * 12, buffered=True)
        missing = make_app().test_client().get("/nowhere", buffered=True)
    echo, nowhere = server_spans(captured.spans)
    assert echo.attributes["http.request.body.size"] == 12
    assert echo.attributes["http.response.body.size"] == 12
    assert missing.status_code == 404
    assert (nowhere.name, nowhere.attributes["http.route"], nowhere.status) == (
        "GET",
        "/nowhere",
        "unset",
    )


def test_exception_marks_error_and_propagates() -> None:
    """An exception escaping the app makes the span an error and propagates unchanged."""
    app = make_app()
    app.config["PROPAGATE_EXCEPTIONS"] = True
    with capture() as captured:
        try:
            app.test_client().get("/fail", buffered=True)
        except RuntimeError as exc:
            assert str(exc) == "kaboom"
        else:
            raise AssertionError("the exception did not propagate")
    (request,) = server_spans(captured.spans)
    assert request.status == "error" and request.attributes["http.response.status_code"] == 500
    assert request.attributes["exception.type"] == "RuntimeError"


def test_flask_handled_error_is_a_500_span() -> None:
    """When Flask turns the exception into a 500 answer, the span is an error too."""
    with capture() as captured:
        assert make_app().test_client().get("/fail", buffered=True).status_code == 500
    (request,) = server_spans(captured.spans)
    assert (request.status, request.status_message) == ("error", "HTTP 500")


def test_streamed_body_is_counted_and_context_is_left_clean() -> None:
    """A streamed body is counted as the server reads it; the span ends when it is closed,
    and nothing of the request stays in the calling thread's context."""
    with capture() as captured:
        response = make_app().test_client().get("/stream", buffered=True)
        assert response.data == b"a" * 10 + b"b" * 5
        assert current_span.get() is None and bound() == {}
    (request,) = server_spans(captured.spans)
    assert request.attributes["http.response.body.size"] == 15


def test_metrics_count_the_request_by_rule(sample: Any) -> None:
    """The request is counted under Flask's rule."""
    labels = {
        "http_request_method": "GET",
        "http_route": "/users/<int:user_id>",
        "http_response_status_code": "200",
    }
    before = sample("http_server_request_duration_seconds_count", **labels)
    with capture():
        make_app().test_client().get("/users/3", buffered=True)
    assert sample("http_server_request_duration_seconds_count", **labels) == before + 1
