"""The demo's synthetic chat app, captured in memory through the real SDK."""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter

from watchkeeper.demo import MODELS, ChatApp, app_log, rate
from watchkeeper.records import Span
from watchkeeper.testing import capture

# 10 000x faster: a request's waits add up to well under a millisecond.
FAST = 10_000.0


def test_requests_emit_events_with_users() -> None:
    """Requests emit product events from a pool of users, a few of them much more active."""
    with capture() as captured:
        app = ChatApp(seed=7, speed=FAST)
        for _ in range(400):
            app.request()
        events = captured.events
    names = Counter(event.name for event in events)
    assert names["message_sent"] >= 0.95 * 400  # sent once the history is read
    assert names["chat_started"] > 0
    assert {"login", "feedback_given"} <= set(names)
    assert all(event.user_id for event in events)
    per_user = Counter(event.user_id for event in events if event.name == "message_sent")
    assert len(per_user) > 50
    assert per_user.most_common(1)[0][1] >= 0.05 * 400  # Zipf-like: the top user stands out


def test_requests_emit_nested_traces() -> None:
    """Each request is one trace: a POST /chat root with nested children in the same trace."""
    with capture() as captured:
        app = ChatApp(seed=11, speed=FAST)
        for _ in range(50):
            app.request()
        spans = captured.spans
    roots = [s for s in spans if s.parent_span_id is None]
    assert len([s for s in roots if s.name == "POST /chat"]) == 50
    assert {s.name for s in roots} == {"POST /chat", "GET /conversations/{id}"}
    assert {s.span_kind for s in roots} == {"server"}
    by_id = {s.span_id: s for s in spans}
    for span in spans:
        if span.parent_span_id is not None:
            assert by_id[span.parent_span_id].trace_id == span.trace_id
    depth = max(_depth(span, by_id) for span in spans)
    assert depth >= 2  # POST /chat > retrieve_context > embeddings
    names = {s.name for s in spans}
    assert {"retrieve_context", "SELECT messages", "INSERT messages"} <= names


def test_llm_spans_carry_genai_attributes() -> None:
    """LLM calls are spans with the GenAI provider, a real model name and token counts."""
    with capture() as captured:
        app = ChatApp(seed=3, speed=FAST)
        for _ in range(100):
            app.request()
        spans = captured.spans
    chats = [
        s
        for s in spans
        if s.attributes.get("gen_ai.operation.name") == "chat" and s.status != "error"
    ]
    assert chats
    models = {m.name for m in MODELS}
    for span in chats:
        assert span.attributes["gen_ai.provider.name"] in {"openai", "anthropic", "gcp.gemini"}
        assert span.attributes["gen_ai.request.model"] in models
        assert span.name == f"chat {span.attributes['gen_ai.request.model']}"
        assert int(span.attributes["gen_ai.usage.input_tokens"]) > 0  # type: ignore[arg-type]
        assert int(span.attributes["gen_ai.usage.output_tokens"]) > 0  # type: ignore[arg-type]
    assert len({s.attributes["gen_ai.request.model"] for s in chats}) >= 3


def test_some_requests_fail() -> None:
    """A few percent of requests fail: the failing step and the root span end in error."""
    with capture() as captured:
        app = ChatApp(seed=5, speed=FAST)
        for _ in range(600):
            app.request()
        spans = captured.spans
    roots = [s for s in spans if s.parent_span_id is None and s.name == "POST /chat"]
    failed = [s for s in roots if s.status == "error"]
    assert 0.005 <= len(failed) / len(roots) <= 0.08
    for root in failed:
        assert int(root.attributes["http.response.status_code"]) >= 500  # type: ignore[arg-type]
        assert root.status_message
    assert any(s.attributes.get("error.type") == "RateLimitError" for s in spans)


def test_rate_varies_within_tens_per_second() -> None:
    """The request rate drifts between quieter and busier periods, within tens per second."""
    now = time.time()
    rates = [rate(now + second) for second in range(0, 3600, 5)]
    assert min(rates) >= 3
    assert max(rates) <= 60
    assert max(rates) / min(rates) >= 3


def test_run_stops_promptly() -> None:
    """run() keeps requests coming until stop(), which cuts in-flight waits short."""
    with capture() as captured:
        app = ChatApp(seed=1, speed=50)
        thread = threading.Thread(target=app.run)
        thread.start()
        time.sleep(0.3)
        app.stop()
        thread.join(timeout=10)
        assert not thread.is_alive()
        assert any(s.name == "POST /chat" for s in captured.spans)


def _depth(span: Span, by_id: dict[str | None, Span]) -> int:
    depth = 0
    while span.parent_span_id is not None:
        span = by_id[span.parent_span_id]
        depth += 1
    return depth


def test_the_app_logs_inside_its_traces() -> None:
    """The simulated app's log lines are shipped as log records carrying their trace ids."""
    from watchkeeper.records import Log
    from watchkeeper.sdk.logs import LoggingHandler

    handler = LoggingHandler()
    app_log.addHandler(handler)
    app_log.setLevel(logging.INFO)
    try:
        with capture() as captured:
            app = ChatApp(seed=8, speed=FAST)
            for _ in range(30):
                app.request()
            logs = [r for r in captured.records if isinstance(r, Log)]
            trace_ids = {s.trace_id for s in captured.spans}
    finally:
        app_log.removeHandler(handler)
    assert any(line.body.startswith("answered turn") for line in logs)
    assert all(line.trace_id in trace_ids for line in logs if line.body.startswith("answered"))


def test_the_user_is_bound_to_what_a_request_emits() -> None:
    """Spans and errors of a request carry the simulated user's id."""
    with capture() as captured:
        app = ChatApp(seed=9, speed=FAST)
        for _ in range(20):
            app.request()
        roots = [s for s in captured.spans if s.parent_span_id is None]
    assert roots and all(root.user_id == root.attributes["user.id"] for root in roots)
