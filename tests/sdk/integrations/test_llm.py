"""The LLM call recorder shared by the client integrations: spans, streams, errors, content."""

from __future__ import annotations

import asyncio
import gc
import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import watchkeeper
from watchkeeper.sdk.config import Config
from watchkeeper.sdk.integrations import llm
from watchkeeper.sdk.integrations.llm import (
    Adapter,
    Call,
    Content,
    Settings,
    error_kind,
    instrument,
    render,
    text_part,
    wrap,
)
from watchkeeper.testing import capture

ROOT = Path(__file__).resolve().parents[3]


class Echo(Adapter):
    """A library that answers ``{"text": ..., "tokens": n}`` or streams words."""

    def describe(self, owner: Any) -> tuple[str, str | None, int | None]:
        return "echo", "echo.example", 443

    def response(self, call: Call, result: Any) -> None:
        call.set_usage(result["tokens"], 1)
        call.set_finish_reason("stop")

    def chunk(self, call: Call, item: Any) -> None:
        call.first_chunk()

    def stream(self, call: Call, result: Any) -> Any:
        if not isinstance(result, Iterator):
            return None
        observed = llm.observe(result, call)
        llm.end_when_dropped(observed, call)
        return observed

    def content(self, call: Call) -> None:
        messages = (call.inputs or {}).get("messages")
        call.attributes["gen_ai.input.messages"] = Content(
            lambda given: [{"role": "user", "parts": [text_part(m) for m in given]}], messages
        )


ECHO = Echo()


def answer(*, model: str, messages: list[str], stream: bool = False) -> Any:
    if stream:
        return iter(messages)
    return {"text": " ".join(messages), "tokens": len(messages)}


def recorded(settings: Settings | None = None) -> Any:
    return wrap(answer, ECHO, settings or Settings(), lambda args: None)


def test_a_call_is_one_client_span_with_the_genai_attributes() -> None:
    """A call becomes a client span "chat {model}" with provider, model, tokens and server."""
    with capture() as captured:
        result = recorded()(model="m1", messages=["a", "b"])
    assert result == {"text": "a b", "tokens": 2}
    [span] = captured.spans
    assert (span.name, span.span_kind, span.status) == ("chat m1", "client", "unset")
    assert span.attributes == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "echo",
        "gen_ai.request.model": "m1",
        "gen_ai.request.stream": False,
        "gen_ai.response.finish_reasons": ["stop"],
        "gen_ai.usage.input_tokens": 2,
        "gen_ai.usage.output_tokens": 1,
        "server.address": "echo.example",
        "server.port": 443,
    }


def test_without_a_client_nothing_is_recorded_and_the_result_is_the_same() -> None:
    """Before init() the wrapper only calls through: same object back, nothing recorded."""
    sentinel = object()
    wrapped = wrap(lambda **kw: sentinel, ECHO, Settings(), lambda args: None)
    assert wrapped(model="m") is sentinel
    with capture() as captured:
        pass
    assert captured.spans == []


def test_an_exception_propagates_unchanged_and_marks_the_span() -> None:
    """The client's exception comes back as the same object; the span is an error with its kind."""

    class RateLimited(Exception):
        status_code = 429

    raised = RateLimited("slow down")

    def fail(**kwargs: Any) -> None:
        raise raised

    with capture() as captured, pytest.raises(RateLimited) as info:
        wrap(fail, ECHO, Settings(), lambda args: None)(model="m")
    assert info.value is raised
    [span] = captured.spans
    assert span.status == "error" and span.status_message.endswith("RateLimited: slow down")
    assert span.attributes["error.type"] == "rate_limit"
    assert span.attributes["exception.message"] == "slow down"


def test_a_call_inside_a_recorded_call_is_not_recorded_twice() -> None:
    """An instrumented client called by another (litellm → openai) gives one span."""
    inner = recorded()
    outer = wrap(inner, ECHO, Settings(), lambda args: None)
    with capture() as captured:
        outer(model="m", messages=["x"])
    assert [span.name for span in captured.spans] == ["chat m"]


def test_a_stream_span_ends_when_the_stream_is_exhausted() -> None:
    """A stream yields the same items; its span ends at exhaustion with the time to first chunk."""
    with capture() as captured:
        stream = recorded()(model="m", messages=["a", "b", "c"], stream=True)
        with watchkeeper.span("between"):
            pass  # work between the call and the stream is not inside the LLM span
        assert list(stream) == ["a", "b", "c"]
    between, call = captured.spans
    assert between.parent_span_id is None
    assert call.attributes["gen_ai.request.stream"] is True
    ttft = call.attributes["gen_ai.response.time_to_first_chunk"]
    assert isinstance(ttft, float) and 0 < ttft * 1e9 <= call.duration_ns


def test_a_stream_closed_early_or_dropped_still_ends_its_span() -> None:
    """Closing a stream before its end, or dropping it unread, ends the span without error."""
    with capture() as captured:
        stream = recorded()(model="closed", messages=["a", "b"], stream=True)
        assert next(stream) == "a"
        stream.close()
        dropped = recorded()(model="dropped", messages=["a"], stream=True)
        del dropped
        gc.collect()
    spans = {span.name: span for span in captured.spans}
    assert set(spans) == {"chat closed", "chat dropped"}
    assert all(span.status == "unset" for span in spans.values())


def test_an_error_in_the_middle_of_a_stream_marks_its_span() -> None:
    """An exception raised while iterating reaches the app unchanged and ends the span."""

    def broken() -> Iterator[str]:
        yield "a"
        raise ConnectionResetError("peer gone")

    wrapped = wrap(lambda **kw: broken(), ECHO, Settings(), lambda args: None)
    with capture() as captured:
        stream = wrapped(model="m", stream=True)
        with pytest.raises(ConnectionResetError):
            list(stream)
    [span] = captured.spans
    assert span.status == "error" and span.attributes["error.type"] == "connection"


def test_async_calls_are_recorded() -> None:
    """An ``async def`` client method gets an async wrapper and its span."""

    async def answer_async(**kwargs: Any) -> Any:
        await asyncio.sleep(0)
        return answer(**kwargs)

    wrapped = wrap(answer_async, ECHO, Settings(), lambda args: None)
    with capture() as captured:
        result = asyncio.run(wrapped(model="m", messages=["a"]))
    assert result["tokens"] == 1
    assert captured.spans[0].attributes["gen_ai.usage.input_tokens"] == 1


def test_feature_comes_from_instrument_else_from_bind() -> None:
    """``instrument(feature=...)`` tags a client's calls; otherwise the bound feature does."""
    with capture() as captured, watchkeeper.bind(feature="search", user_id="u1"):
        recorded()(model="m", messages=[])
        recorded(Settings(feature="summary"))(model="m", messages=[])
    first, second = captured.spans
    assert first.attributes["feature"] == "search" and first.user_id == "u1"
    assert second.attributes["feature"] == "summary"


def test_content_is_off_by_default_and_redacted_when_on() -> None:
    """Prompts are captured only when asked (per client or by init), redacted, as JSON."""
    messages = ["mail bob@example.com", "key sk-proj-abcdefghijklmnopqrstuvwx"]
    with capture() as captured:
        recorded()(model="m", messages=list(messages))
        recorded(Settings(capture_content=True))(model="m", messages=list(messages))
    off, on = captured.spans
    assert "gen_ai.input.messages" not in off.attributes
    parsed = json.loads(str(on.attributes["gen_ai.input.messages"]))
    assert parsed == [
        {
            "role": "user",
            "parts": [
                {"type": "text", "content": "mail [REDACTED:email]"},
                {"type": "text", "content": "key [REDACTED:key]"},
            ],
        }
    ]
    with capture(capture_content=True) as captured:
        recorded()(model="m", messages=["hi"])
        recorded(Settings(capture_content=False))(model="m", messages=["hi"])
    by_init, refused = captured.spans
    assert "gen_ai.input.messages" in by_init.attributes
    assert "gen_ai.input.messages" not in refused.attributes


def test_content_snapshot_is_taken_at_the_call() -> None:
    """A messages list the app extends after the call is captured as it was sent."""
    messages = ["first"]
    with capture() as captured:
        recorded(Settings(capture_content=True))(model="m", messages=messages)
        messages.append("the answer, appended by the app")
    text = str(captured.spans[0].attributes["gen_ai.input.messages"])
    assert "first" in text and "appended" not in text


def test_capture_content_option_reads_the_environment() -> None:
    """``WATCHKEEPER_CAPTURE_CONTENT`` sets ``capture_content``; the default is off."""
    assert Config.load(environ={}).capture_content is False
    assert Config.load(environ={"WATCHKEEPER_CAPTURE_CONTENT": "1"}).capture_content is True


def test_render_keeps_json_valid_within_the_limit() -> None:
    """Long texts are shortened with a mark so the JSON parses; the whole stays within the limit."""
    value = [{"role": "user", "parts": [text_part("word " * 5000), text_part("short")]}]
    text = render(value, limit=2000)
    assert len(text) <= 2000
    parts = json.loads(text)[0]["parts"]
    assert "…[truncated" in parts[0]["content"] and parts[1]["content"] == "short"
    many = [text_part("x" * 100) for _ in range(500)]
    cut = render(many, limit=1000)
    assert len(cut) <= 1000 and "…[truncated" in cut


def test_error_kinds_follow_classes_and_statuses() -> None:
    """Timeouts and connection errors by class; 429/401/403/4xx/5xx/529 by status."""

    def status(code: int, name: str = "APIStatusError") -> Exception:
        return type(name, (Exception,), {"status_code": code})()

    assert error_kind(TimeoutError()) == "timeout"
    assert error_kind(type("APITimeoutError", (ConnectionError,), {})()) == "timeout"
    assert error_kind(ConnectionRefusedError()) == "connection"
    assert [error_kind(status(code)) for code in (429, 401, 403, 404, 400, 500, 503, 529)] == [
        "rate_limit", "auth", "auth", "bad_request", "bad_request", "server", "server", "server",
    ]  # fmt: skip
    assert error_kind(type("RateLimitError", (Exception,), {})()) == "rate_limit"
    assert error_kind(ValueError("nope")) == "other"
    assert set(llm.ERROR_KINDS) >= {error_kind(status(c)) for c in (400, 401, 429, 500)}


def test_a_failing_hook_is_swallowed_and_counted() -> None:
    """An adapter that breaks on a response loses its attributes, not the app's result."""

    class Broken(Echo):
        def response(self, call: Call, result: Any) -> None:
            raise KeyError("layout changed")

    with capture() as captured:
        result = wrap(answer, Broken(), Settings(), lambda args: None)(model="m", messages=["a"])
        assert result["text"] == "a"
        spans, stats = captured.spans, captured.stats()
    assert len(spans) == 1 and stats["failed"] >= 1


def test_metrics_record_duration_and_tokens(sample: Any) -> None:
    """Each call observes the GenAI duration and token histograms."""
    labels = {"gen_ai_operation_name": "chat", "gen_ai_provider_name": "echo",
              "gen_ai_request_model": "metrics-model"}  # fmt: skip
    before = sample("gen_ai_client_operation_duration_seconds_count", **labels, error_type="")
    with capture() as captured:
        recorded()(model="metrics-model", messages=["a", "b", "c"])
        assert len(captured.spans) == 1
    after = sample("gen_ai_client_operation_duration_seconds_count", **labels, error_type="")
    assert after == before + 1
    tokens = sample("gen_ai_client_token_usage_sum", **labels, gen_ai_token_type="input")
    assert tokens >= 3


def test_instrument_refuses_what_it_does_not_know() -> None:
    """Anything but a supported client or the litellm module is a TypeError naming them."""
    with pytest.raises(TypeError, match=r"openai\.OpenAI.*anthropic.*google\.genai.*litellm"):
        instrument(object())
    with pytest.raises(TypeError, match="got module"):
        instrument(json)


def test_instrument_llms_patches_classes_for_clients_made_later(
    llm_provider: Any,
) -> None:
    """instrument_llms() records calls of openai, anthropic and genai clients made afterwards,
    once each, even when a client is also instrumented itself (in a fresh interpreter: it patches
    classes for good)."""
    script = f"""
        import asyncio, json
        import watchkeeper
        from watchkeeper.testing import capture
        done = watchkeeper.instrument_llms()
        again = watchkeeper.instrument_llms()
        import anthropic, openai
        from google import genai
        url = {llm_provider.url!r}
        with capture() as captured:
            o = openai.OpenAI(base_url=url + "/v1", api_key="k")
            watchkeeper.instrument(o)
            o.chat.completions.create(model="gpt-4o", messages=[{{"role": "user", "content": "hi"}}])
            a = anthropic.AsyncAnthropic(base_url=url, api_key="k")
            asyncio.run(a.messages.create(model="claude-x", max_tokens=9,
                                          messages=[{{"role": "user", "content": "hi"}}]))
            g = genai.Client(api_key="k", http_options={{"base_url": url}})
            g.models.generate_content(model="gemini-2.5-flash", contents="hi")
            names = [(s.name, s.attributes["gen_ai.provider.name"]) for s in captured.spans]
        print(json.dumps([done, again, names]))
    """
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    libraries, again, names = json.loads(done.stdout.splitlines()[-1])
    assert libraries == again == ["openai", "anthropic", "google-genai"]
    assert names == [
        ["chat gpt-4o", "openai"],
        ["chat claude-x", "anthropic"],
        ["generate_content gemini-2.5-flash", "gcp.gemini"],
    ]
