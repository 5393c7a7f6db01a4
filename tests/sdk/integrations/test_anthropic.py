"""The anthropic client instrumented: ``messages.create`` and ``messages.stream()``, against the
fake provider on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import pytest
from tests.fakes.llm_provider import FakeProvider, expected_usage, reply, served_model

import watchkeeper
from watchkeeper.records import Span
from watchkeeper.testing import capture

ROOT = Path(__file__).resolve().parents[3]
HI = [{"role": "user", "content": "hello there"}]
_made: list[Any] = []


def make(provider: FakeProvider, **options: Any) -> anthropic.Anthropic:
    _made.append(anthropic.Anthropic(base_url=provider.url, api_key="k", **options))
    return _made[-1]  # type: ignore[no-any-return]


@pytest.fixture(autouse=True)
def _close_clients() -> Iterator[None]:
    """Every sync client a test made is closed after it."""
    yield
    while _made:
        _made.pop().close()


def only(spans: list[Span]) -> Span:
    assert len(spans) == 1, [span.name for span in spans]
    return spans[0]


def test_message_usage_adds_the_cache_back_into_input(llm_provider: FakeProvider) -> None:
    """Anthropic's input_tokens exclude cache reads and writes; the span's include them, and
    thinking tokens are the reasoning share of output."""
    client = watchkeeper.instrument(make(llm_provider))
    text = "hi [cached] [cache-write] [reason]"
    with capture() as captured:
        message = client.messages.create(
            model="claude-haiku-4-5",
            max_tokens=64,
            system="be brief",
            messages=[{"role": "user", "content": text}],
        )
    usage = expected_usage("be brief", text)
    span = only(captured.spans)
    assert span.name == "chat claude-haiku-4-5"
    assert span.attributes == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "anthropic",
        "gen_ai.request.model": "claude-haiku-4-5",
        "gen_ai.request.max_tokens": 64,
        "gen_ai.request.stream": False,
        "gen_ai.response.id": message.id,
        "gen_ai.response.model": served_model("anthropic", "claude-haiku-4-5"),
        "gen_ai.response.finish_reasons": ["end_turn"],
        "gen_ai.usage.input_tokens": usage.input,
        "gen_ai.usage.output_tokens": usage.output,
        "gen_ai.usage.cache_read.input_tokens": usage.cached,
        "gen_ai.usage.cache_write.input_tokens": usage.cache_write,
        "gen_ai.usage.reasoning.output_tokens": usage.reasoning,
        "server.address": "127.0.0.1",
        "server.port": int(llm_provider.url.rsplit(":", 1)[1]),
        "watchkeeper.retries": 0,
    }


def test_raw_stream_keeps_its_type_and_totals_usage(llm_provider: FakeProvider) -> None:
    """``create(stream=True)`` returns the library's Stream; usage comes from message_start
    and message_delta, TTFT from the first content block."""
    client = watchkeeper.instrument(make(llm_provider))
    with capture() as captured:
        stream = client.messages.create(model="claude-x", max_tokens=9, messages=HI, stream=True)
        assert type(stream) is anthropic.Stream
        events = [event.type for event in stream]
    assert events[0] == "message_start" and events[-1] == "message_stop"
    span = only(captured.spans)
    usage = expected_usage("hello there")
    assert span.attributes["gen_ai.usage.input_tokens"] == usage.input
    assert span.attributes["gen_ai.usage.output_tokens"] == usage.output
    assert span.attributes["gen_ai.response.finish_reasons"] == ["end_turn"]
    ttft = span.attributes["gen_ai.response.time_to_first_chunk"]
    assert isinstance(ttft, float) and llm_provider.first_chunk_delay <= ttft
    assert ttft * 1e9 <= span.duration_ns


def test_stream_helper_sync_and_async(llm_provider: FakeProvider) -> None:
    """``messages.stream()`` (the helper with text_stream and get_final_message) is recorded,
    sync and async, and gives what it gives without us."""
    client = watchkeeper.instrument(make(llm_provider))
    aclient = watchkeeper.instrument(
        anthropic.AsyncAnthropic(base_url=llm_provider.url, api_key="k")
    )

    async def main() -> str:
        async with (
            aclient,
            aclient.messages.stream(model="claude-y", max_tokens=9, messages=HI) as s,
        ):
            message = await s.get_final_message()
        return str(message.content[0].text)  # type: ignore[union-attr]

    with capture() as captured:
        with client.messages.stream(model="claude-x", max_tokens=9, messages=HI) as stream:
            text = "".join(stream.text_stream)
        async_text = asyncio.run(main())
    assert text == async_text == reply("hello there")
    sync_span, async_span = captured.spans
    assert (sync_span.name, async_span.name) == ("chat claude-x", "chat claude-y")
    for span in (sync_span, async_span):
        assert span.attributes["gen_ai.request.stream"] is True
        assert span.attributes["gen_ai.usage.output_tokens"] == expected_usage("hello").output + 1


def test_async_create(llm_provider: FakeProvider) -> None:
    """AsyncAnthropic ``messages.create`` is one span with the answer's usage."""
    client = watchkeeper.instrument(
        anthropic.AsyncAnthropic(base_url=llm_provider.url, api_key="k")
    )

    async def main() -> Any:
        async with client:
            return await client.messages.create(model="claude-x", max_tokens=9, messages=HI)

    with capture() as captured:
        message = asyncio.run(main())
    assert message.content[0].text == reply("hello there")  # type: ignore[union-attr]
    assert only(captured.spans).attributes["gen_ai.usage.input_tokens"] == 2


@pytest.mark.parametrize(
    ("status", "kind", "error"),
    [
        (529, "server", anthropic.OverloadedError),
        (429, "rate_limit", anthropic.RateLimitError),
        (403, "auth", anthropic.PermissionDeniedError),
        (500, "server", anthropic.InternalServerError),
    ],
)
def test_errors_are_classified(
    llm_provider: FakeProvider, status: int, kind: str, error: type[Exception]
) -> None:
    """Overloaded (529), rate limits, auth and server errors raise as usual, with their kind."""
    client = watchkeeper.instrument(make(llm_provider, max_retries=0))
    llm_provider.fail_next(status)
    with capture() as captured, pytest.raises(error):
        client.messages.create(model="claude-x", max_tokens=9, messages=HI)
    assert only(captured.spans).attributes["error.type"] == kind


def test_retries_timeouts_and_refused_connections(
    llm_provider: FakeProvider, refused_url: str
) -> None:
    """Retried 529s are counted; a timeout and a refused connection have their kinds."""
    client = watchkeeper.instrument(make(llm_provider, max_retries=2))
    slow = watchkeeper.instrument(make(llm_provider, max_retries=0, timeout=0.2))
    refused = watchkeeper.instrument(
        anthropic.Anthropic(base_url=refused_url, api_key="k", max_retries=0)
    )
    llm_provider.fail_next(529, 2)
    with capture() as captured:
        client.messages.create(model="claude-x", max_tokens=9, messages=HI)
        llm_provider.delay_next(2.0)
        with pytest.raises(anthropic.APITimeoutError):
            slow.messages.create(model="claude-x", max_tokens=9, messages=HI)
        with pytest.raises(anthropic.APIConnectionError):
            refused.messages.create(model="claude-x", max_tokens=9, messages=HI)
    retried, timeout, connection = captured.spans
    assert retried.attributes["watchkeeper.retries"] == 2 and retried.status == "unset"
    assert timeout.attributes["error.type"] == "timeout"
    assert connection.attributes["error.type"] == "connection"


def test_content_with_system_instructions(llm_provider: FakeProvider) -> None:
    """With capture_content, the system prompt, the messages and the answer are recorded,
    redacted; without it none is."""
    client = watchkeeper.instrument(make(llm_provider), capture_content=True)
    messages = [{"role": "user", "content": [{"type": "text", "text": "mail amy@example.org"}]}]
    with capture() as captured:
        client.messages.create(model="claude-x", max_tokens=9, system="be kind", messages=messages)
        watchkeeper.instrument(make(llm_provider)).messages.create(
            model="claude-x", max_tokens=9, messages=messages
        )
    on, off = captured.spans
    assert json.loads(str(on.attributes["gen_ai.system_instructions"])) == [
        {"type": "text", "content": "be kind"}
    ]
    assert json.loads(str(on.attributes["gen_ai.input.messages"])) == [
        {"role": "user", "parts": [{"type": "text", "content": "mail [REDACTED:email]"}]}
    ]
    output = json.loads(str(on.attributes["gen_ai.output.messages"]))
    assert output[0]["parts"][0]["content"] == "echo: mail [REDACTED:email]"
    assert output[0]["finish_reason"] == "end_turn"
    assert not any(key.startswith(("gen_ai.input", "gen_ai.system")) for key in off.attributes)


def test_instrument_twice_is_one_span(llm_provider: FakeProvider) -> None:
    """Instrumenting a client twice still records each call once."""
    client = make(llm_provider)
    watchkeeper.instrument(client)
    watchkeeper.instrument(client)
    with capture() as captured:
        client.messages.create(model="claude-x", max_tokens=9, messages=HI)
    only(captured.spans)


def test_the_clients_own_opentelemetry_span_is_turned_off(llm_provider: FakeProvider) -> None:
    """anthropic 2.x opens an OpenTelemetry span per call by itself, which init() routes into
    watchkeeper; an instrumented client's call is one LLM span, an uninstrumented one keeps its
    own (in a fresh interpreter: the global OpenTelemetry provider is set once)."""
    script = f"""
        import json
        import anthropic
        from watchkeeper.sdk import otel
        from watchkeeper.testing import capture
        import watchkeeper
        otel.install()
        hi = [{{"role": "user", "content": "hi"}}]
        with capture() as captured:
            ours = watchkeeper.instrument(anthropic.Anthropic(base_url={llm_provider.url!r}, api_key="k"))
            ours.messages.create(model="claude-x", max_tokens=5, messages=hi)
            plain = anthropic.Anthropic(base_url={llm_provider.url!r}, api_key="k")
            plain.messages.create(model="claude-y", max_tokens=5, messages=hi)
            print(json.dumps([s.name for s in captured.spans]))
    """
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1]) == [
        "chat claude-x",
        "anthropic.messages.create",
    ]
