"""The google-genai client instrumented: ``generate_content`` and its stream, sync and async,
against the fake provider on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest
from google import genai
from google.genai import errors, types
from tests.fakes.llm_provider import FakeProvider, expected_usage, reply, served_model

import watchkeeper
from watchkeeper.records import Span
from watchkeeper.testing import capture

# google-genai's async client subclasses aiohttp's ClientSession, which aiohttp deprecates.
pytestmark = pytest.mark.filterwarnings(
    "ignore:Inheritance class AiohttpClientSession:DeprecationWarning"
)
_made: list[genai.Client] = []


def make(url: str, **retry: Any) -> genai.Client:
    options = types.HttpOptions(base_url=url)
    if retry:
        options.retry_options = types.HttpRetryOptions(**retry)
    _made.append(genai.Client(api_key="k", http_options=options))
    return _made[-1]


@pytest.fixture(autouse=True)
def _close_clients() -> Iterator[None]:
    """Every client a test made is closed after it."""
    yield
    while _made:
        _made.pop().close()


def only(spans: list[Span]) -> Span:
    assert len(spans) == 1, [span.name for span in spans]
    return spans[0]


def test_generate_content_span(llm_provider: FakeProvider) -> None:
    """A call: operation generate_content, provider gcp.gemini, usage with thinking tokens added
    to output and cached tokens, finish reason, config params."""
    client = watchkeeper.instrument(make(llm_provider.url))
    text = "hello [cached] [reason]"
    config = types.GenerateContentConfig(max_output_tokens=64, temperature=0.1)
    with capture() as captured:
        result = client.models.generate_content(
            model="gemini-2.5-flash", contents=text, config=config
        )
    assert result.text == reply(text)
    usage = expected_usage(text)
    span = only(captured.spans)
    assert span.name == "generate_content gemini-2.5-flash"
    assert span.attributes == {
        "gen_ai.operation.name": "generate_content",
        "gen_ai.provider.name": "gcp.gemini",
        "gen_ai.request.model": "gemini-2.5-flash",
        "gen_ai.request.max_tokens": 64,
        "gen_ai.request.temperature": 0.1,
        "gen_ai.request.stream": False,
        "gen_ai.response.id": result.response_id,
        "gen_ai.response.model": served_model("gemini", "gemini-2.5-flash"),
        "gen_ai.response.finish_reasons": ["stop"],
        "gen_ai.usage.input_tokens": usage.input,
        "gen_ai.usage.output_tokens": usage.output,
        "gen_ai.usage.cache_read.input_tokens": usage.cached,
        "gen_ai.usage.reasoning.output_tokens": usage.reasoning,
        "server.address": "127.0.0.1",
        "server.port": int(llm_provider.url.rsplit(":", 1)[1]),
        "watchkeeper.retries": 0,
    }


def test_stream_sync_and_async(llm_provider: FakeProvider) -> None:
    """Streams yield the same chunks; each span has TTFT, the final usage and finish reason."""
    client = watchkeeper.instrument(make(llm_provider.url))

    async def main() -> str:
        async with client.aio as aio:
            stream = await aio.models.generate_content_stream(model="gemini-pro", contents="b c")
            return "".join([chunk.text or "" async for chunk in stream])

    with capture() as captured:
        chunks = list(client.models.generate_content_stream(model="gemini-flash", contents="a"))
        async_text = asyncio.run(main())
    assert "".join(chunk.text or "" for chunk in chunks) == reply("a")
    assert async_text == reply("b c")
    sync_span, async_span = captured.spans
    for span, text in ((sync_span, "a"), (async_span, "b c")):
        assert span.attributes["gen_ai.request.stream"] is True
        assert span.attributes["gen_ai.usage.input_tokens"] == expected_usage(text).input
        assert span.attributes["gen_ai.usage.output_tokens"] == expected_usage(text).output
        assert span.attributes["gen_ai.response.finish_reasons"] == ["stop"]
        ttft = span.attributes["gen_ai.response.time_to_first_chunk"]
        assert isinstance(ttft, float) and llm_provider.first_chunk_delay <= ttft
        assert ttft * 1e9 <= span.duration_ns


def test_async_generate_content(llm_provider: FakeProvider) -> None:
    """``client.aio.models.generate_content`` is recorded."""
    client = watchkeeper.instrument(make(llm_provider.url))

    async def main() -> Any:
        async with client.aio as aio:
            return await aio.models.generate_content(model="gemini-pro", contents="hi")

    with capture() as captured:
        result = asyncio.run(main())
    assert result.text == reply("hi")
    assert only(captured.spans).attributes["gen_ai.usage.input_tokens"] == 1


def test_retries_are_attempts_beyond_the_first(llm_provider: FakeProvider) -> None:
    """With retry options, two 429s and a success is one span with two retries."""
    client = watchkeeper.instrument(make(llm_provider.url, attempts=3, initial_delay=0.01))
    llm_provider.fail_next(429, 2)
    with capture() as captured:
        client.models.generate_content(model="gemini-flash", contents="hi")
    span = only(captured.spans)
    assert span.attributes["watchkeeper.retries"] == 2 and span.status == "unset"


@pytest.mark.parametrize(
    ("status", "kind", "error"),
    [
        (429, "rate_limit", errors.ClientError),
        (401, "auth", errors.ClientError),
        (400, "bad_request", errors.ClientError),
        (503, "server", errors.ServerError),
    ],
)
def test_errors_are_classified(
    llm_provider: FakeProvider, status: int, kind: str, error: type[Exception]
) -> None:
    """genai's ClientError/ServerError carry the status the kind comes from."""
    client = watchkeeper.instrument(make(llm_provider.url))
    llm_provider.fail_next(status)
    with capture() as captured, pytest.raises(error) as raised:
        client.models.generate_content(model="gemini-flash", contents="hi")
    assert raised.value.code == status  # type: ignore[attr-defined]
    span = only(captured.spans)
    assert span.status == "error" and span.attributes["error.type"] == kind


def test_stream_errors_timeouts_and_refused_connections(
    llm_provider: FakeProvider, refused_url: str
) -> None:
    """A stream that fails at its first chunk, a timeout and a refused connection are recorded
    with their kinds and raise as usual."""
    client = watchkeeper.instrument(make(llm_provider.url))
    slow = watchkeeper.instrument(
        genai.Client(
            api_key="k", http_options=types.HttpOptions(base_url=llm_provider.url, timeout=200)
        )
    )
    refused = watchkeeper.instrument(make(refused_url))
    _made.append(slow)
    with capture() as captured:
        llm_provider.fail_next(500)
        with pytest.raises(errors.ServerError):
            list(client.models.generate_content_stream(model="gemini-flash", contents="hi"))
        llm_provider.delay_next(2.0)
        with pytest.raises(Exception) as timed_out:
            slow.models.generate_content(model="gemini-flash", contents="hi")
        with pytest.raises(Exception) as not_connected:
            refused.models.generate_content(model="gemini-flash", contents="hi")
    assert "Timeout" in type(timed_out.value).__name__
    assert "Connect" in type(not_connected.value).__name__
    kinds = [span.attributes["error.type"] for span in captured.spans]
    assert kinds == ["server", "timeout", "connection"]


def test_vertex_mode_is_named_vertex_ai(llm_provider: FakeProvider) -> None:
    """A client in Vertex AI mode is ``gcp.vertex_ai`` (its request fails at the fake)."""
    client = genai.Client(
        vertexai=True,
        api_key="k",
        http_options=types.HttpOptions(base_url=llm_provider.url),
    )
    _made.append(watchkeeper.instrument(client))
    with capture() as captured, pytest.raises(errors.ClientError):
        client.models.generate_content(model="gemini-flash", contents="hi")
    assert only(captured.spans).attributes["gen_ai.provider.name"] == "gcp.vertex_ai"


def test_content_with_system_instruction_redacted(llm_provider: FakeProvider) -> None:
    """Contents, system instruction and answer are captured when asked, redacted."""
    client = watchkeeper.instrument(make(llm_provider.url), capture_content=True)
    config = {"system_instruction": "reply to joe@example.com"}
    with capture() as captured:
        client.models.generate_content(model="gemini-flash", contents="hi there", config=config)
    span = only(captured.spans)
    assert json.loads(str(span.attributes["gen_ai.system_instructions"])) == [
        {"type": "text", "content": "reply to [REDACTED:email]"}
    ]
    assert json.loads(str(span.attributes["gen_ai.input.messages"])) == [
        {"role": "user", "parts": [{"type": "text", "content": "hi there"}]}
    ]
    output = json.loads(str(span.attributes["gen_ai.output.messages"]))
    assert output == [
        {
            "role": "assistant",
            "parts": [{"type": "text", "content": reply("hi there")}],
            "finish_reason": "stop",
        }
    ]


def test_instrument_twice_is_one_span_and_feature_is_kept(llm_provider: FakeProvider) -> None:
    """Instrumenting twice records one span per call, with the latest feature."""
    client = make(llm_provider.url)
    watchkeeper.instrument(client, feature="first")
    watchkeeper.instrument(client, feature="second")
    with capture() as captured:
        client.models.generate_content(model="gemini-flash", contents="hi")
    assert only(captured.spans).attributes["feature"] == "second"
