"""The openai client instrumented: chat completions, Responses, embeddings, against the fake
provider on 127.0.0.1."""

from __future__ import annotations

import asyncio
import gc
import json
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
from openai.types.chat import ChatCompletion
from tests.fakes.llm_provider import FakeProvider, expected_usage, reply, served_model

import watchkeeper
from watchkeeper.records import Span
from watchkeeper.testing import capture

HI = [{"role": "user", "content": "hello there"}]


_made: list[Any] = []


def make(provider: FakeProvider, **options: Any) -> openai.OpenAI:
    _made.append(openai.OpenAI(base_url=f"{provider.url}/v1", api_key="k", **options))
    return _made[-1]  # type: ignore[no-any-return]


def make_async(provider: FakeProvider, **options: Any) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=f"{provider.url}/v1", api_key="k", **options)


@pytest.fixture(autouse=True)
def _close_clients() -> Iterator[None]:
    """Every sync client a test made is closed after it (its sockets with it)."""
    yield
    while _made:
        _made.pop().close()


def only(spans: list[Span]) -> Span:
    assert len(spans) == 1, [span.name for span in spans]
    return spans[0]


def test_chat_completion_span_has_model_usage_and_finish(llm_provider: FakeProvider) -> None:
    """A chat completion: provider, request and response model, id, usage with cached and
    reasoning tokens, finish reason, params, server and retries."""
    client = watchkeeper.instrument(make(llm_provider))
    text = "hello [cached] [reason]"
    with capture() as captured:
        result = client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": text}],
            max_tokens=50,
            temperature=0.5,
        )
    span = only(captured.spans)
    usage = expected_usage(text)
    assert span.name == "chat gpt-4o-mini" and span.span_kind == "client"
    assert span.attributes == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o-mini",
        "gen_ai.request.stream": False,
        "gen_ai.request.max_tokens": 50,
        "gen_ai.request.temperature": 0.5,
        "gen_ai.response.model": served_model("openai", "gpt-4o-mini"),
        "gen_ai.response.id": result.id,
        "gen_ai.response.finish_reasons": ["stop"],
        "gen_ai.usage.input_tokens": usage.input,
        "gen_ai.usage.output_tokens": usage.output,
        "gen_ai.usage.cache_read.input_tokens": usage.cached,
        "gen_ai.usage.reasoning.output_tokens": usage.reasoning,
        "server.address": "127.0.0.1",
        "server.port": int(llm_provider.url.rsplit(":", 1)[1]),
        "watchkeeper.retries": 0,
    }
    assert span.duration_ns > 0


def test_the_result_is_what_an_uninstrumented_client_returns(llm_provider: FakeProvider) -> None:
    """Same type and content as without instrumentation (ids and times aside)."""
    plain = make(llm_provider).chat.completions.create(model="gpt-4o", messages=HI)
    client = watchkeeper.instrument(make(llm_provider))
    with capture():
        seen = client.chat.completions.create(model="gpt-4o", messages=HI)
    assert type(seen) is ChatCompletion
    volatile = {"id", "created"}
    assert seen.model_dump(exclude=volatile) == plain.model_dump(exclude=volatile)
    assert seen.choices[0].message.content == reply("hello there")


def test_async_chat_and_stream(llm_provider: FakeProvider) -> None:
    """AsyncOpenAI: a call and an ``async for`` stream, each one span."""
    client = watchkeeper.instrument(make_async(llm_provider))

    async def main() -> list[str]:
        async with client:
            await client.chat.completions.create(model="gpt-4o", messages=HI)
            stream = await client.chat.completions.create(model="gpt-4o", messages=HI, stream=True)
            assert type(stream) is openai.AsyncStream
            return [c.choices[0].delta.content or "" async for c in stream if c.choices]

    with capture() as captured:
        pieces = asyncio.run(main())
    assert "".join(pieces) == reply("hello there")
    call, stream = captured.spans
    assert call.attributes["gen_ai.usage.output_tokens"] == expected_usage("hello there").output
    assert stream.attributes["gen_ai.request.stream"] is True
    assert stream.attributes["gen_ai.response.finish_reasons"] == ["stop"]
    assert stream.attributes["gen_ai.response.time_to_first_chunk"] > 0  # type: ignore[operator]


def test_stream_records_first_chunk_and_usage_when_sent(llm_provider: FakeProvider) -> None:
    """A stream stays an ``openai.Stream``; TTFT is measured, and tokens recorded only when the
    app asked the provider for them (include_usage), never added to the request."""
    client = watchkeeper.instrument(make(llm_provider))
    with capture() as captured:
        with client.chat.completions.create(
            model="gpt-4o-mini", messages=HI, stream=True, stream_options={"include_usage": True}
        ) as stream:
            assert type(stream) is openai.Stream
            chunks = list(stream)
        bare = client.chat.completions.create(model="gpt-4o-mini", messages=HI, stream=True)
        list(bare)
    assert len(chunks) == len(reply("hello there").split()) + 3  # role, pieces, finish, usage
    with_usage, without = captured.spans
    ttft = with_usage.attributes["gen_ai.response.time_to_first_chunk"]
    assert isinstance(ttft, float) and ttft >= llm_provider.first_chunk_delay
    assert ttft * 1e9 <= with_usage.duration_ns
    assert with_usage.attributes["gen_ai.usage.input_tokens"] == expected_usage("hello there").input
    assert "gen_ai.usage.input_tokens" not in without.attributes
    assert "stream_options" not in llm_provider.requests[-1].json


def test_stream_closed_early_ends_its_span(llm_provider: FakeProvider) -> None:
    """Leaving the ``with`` after one chunk ends the span there, without an error."""
    llm_provider.chunk_delay = 0.05
    client = watchkeeper.instrument(make(llm_provider))
    with capture() as captured:
        with client.chat.completions.create(model="gpt-4o", messages=HI, stream=True) as stream:
            next(iter(stream))
        span = only(captured.spans)
    assert span.status == "unset" and "gen_ai.response.finish_reasons" not in span.attributes


def test_stream_dropped_unread_ends_its_span_when_collected(llm_provider: FakeProvider) -> None:
    """A stream the app never reads nor closes still ends its span once garbage-collected."""
    client = watchkeeper.instrument(make(llm_provider))
    with capture() as captured:
        stream = client.chat.completions.create(model="gpt-4o", messages=HI, stream=True)
        stream.response.close()  # what the app's dropping would do eventually
        del stream
        gc.collect()
        assert [span.name for span in captured.spans] == ["chat gpt-4o"]


def test_stream_helper_goes_through_create(llm_provider: FakeProvider) -> None:
    """``chat.completions.stream()`` is recorded as one streamed call."""
    client = watchkeeper.instrument(make(llm_provider))
    with capture() as captured, client.chat.completions.stream(model="gpt-4o", messages=HI) as s:
        final = s.get_final_completion()
    assert final.choices[0].message.content == reply("hello there")
    span = only(captured.spans)
    assert span.attributes["gen_ai.request.stream"] is True
    assert span.attributes["gen_ai.response.finish_reasons"] == ["stop"]


def test_responses_api_call_and_stream(llm_provider: FakeProvider) -> None:
    """``responses.create``: usage, status as a finish reason, and streamed events."""
    client = watchkeeper.instrument(make(llm_provider))
    with capture() as captured:
        client.responses.create(model="gpt-4o", input="say [length]", instructions="be brief")
        with client.responses.create(model="gpt-4o", input="say hi", stream=True) as stream:
            kinds = [event.type for event in stream]
    assert kinds[-1] == "response.completed"
    call, streamed = captured.spans
    usage = expected_usage("be brief", "say [length]")
    assert call.attributes["gen_ai.usage.input_tokens"] == usage.input
    assert call.attributes["gen_ai.response.finish_reasons"] == ["length"]
    assert streamed.attributes["gen_ai.response.finish_reasons"] == ["stop"]
    assert streamed.attributes["gen_ai.usage.output_tokens"] == expected_usage("say hi").output
    assert str(streamed.attributes["gen_ai.response.id"]).startswith("resp_")
    assert streamed.attributes["gen_ai.response.id"] != call.attributes["gen_ai.response.id"]
    assert streamed.attributes["gen_ai.response.time_to_first_chunk"] > 0  # type: ignore[operator]


def test_embeddings(llm_provider: FakeProvider) -> None:
    """``embeddings.create`` is an ``embeddings`` span with input tokens only."""
    client = watchkeeper.instrument(make(llm_provider))
    with capture(capture_content=True) as captured:
        result = client.embeddings.create(model="text-embedding-3-small", input="one two three")
    assert len(result.data[0].embedding) == 8
    span = only(captured.spans)
    assert span.name == "embeddings text-embedding-3-small"
    assert span.attributes["gen_ai.operation.name"] == "embeddings"
    assert span.attributes["gen_ai.usage.input_tokens"] == 3
    assert "gen_ai.usage.output_tokens" not in span.attributes
    assert "gen_ai.input.messages" not in span.attributes


def test_rate_limit_retries_are_counted(llm_provider: FakeProvider) -> None:
    """Two 429s then success: one span, ``watchkeeper.retries`` 2, no error."""
    client = watchkeeper.instrument(make(llm_provider, max_retries=3))
    llm_provider.fail_next(429, 2)
    with capture() as captured:
        client.chat.completions.create(model="gpt-4o", messages=HI)
    span = only(captured.spans)
    assert span.attributes["watchkeeper.retries"] == 2 and span.status == "unset"
    assert len(llm_provider.requests) == 3


@pytest.mark.parametrize(
    ("status", "kind", "error"),
    [
        (429, "rate_limit", openai.RateLimitError),
        (500, "server", openai.InternalServerError),
        (401, "auth", openai.AuthenticationError),
        (400, "bad_request", openai.BadRequestError),
    ],
)
def test_http_errors_raise_as_usual_and_are_classified(
    llm_provider: FakeProvider, status: int, kind: str, error: type[Exception]
) -> None:
    """Each status raises the exception the plain client raises, and the span says its kind."""
    llm_provider.fail_next(status)
    with pytest.raises(error) as plain:
        make(llm_provider, max_retries=0).chat.completions.create(model="gpt-4o", messages=HI)
    client = watchkeeper.instrument(make(llm_provider, max_retries=0))
    llm_provider.fail_next(status)
    with capture() as captured, pytest.raises(error) as seen:
        client.chat.completions.create(model="gpt-4o", messages=HI)
    assert (seen.value.status_code, seen.value.body) == (plain.value.status_code, plain.value.body)  # type: ignore[attr-defined]
    span = only(captured.spans)
    assert span.status == "error" and span.attributes["error.type"] == kind
    assert span.attributes["exception.type"] == f"openai.{error.__name__}"


def test_timeout_and_refused_connection(llm_provider: FakeProvider, refused_url: str) -> None:
    """A read timeout is ``timeout``; a refused connection is ``connection``."""
    llm_provider.delay_next(2.0)
    client = watchkeeper.instrument(make(llm_provider, max_retries=0, timeout=0.2))
    refused = watchkeeper.instrument(
        openai.OpenAI(base_url=f"{refused_url}/v1", api_key="k", max_retries=0)
    )
    with capture() as captured:
        with pytest.raises(openai.APITimeoutError):
            client.chat.completions.create(model="gpt-4o", messages=HI)
        with pytest.raises(openai.APIConnectionError):
            refused.chat.completions.create(model="gpt-4o", messages=HI)
    timeout, connection = captured.spans
    assert timeout.attributes["error.type"] == "timeout"
    assert connection.attributes["error.type"] == "connection"


def test_content_off_by_default_and_redacted_when_on(llm_provider: FakeProvider) -> None:
    """Prompts and completions only with capture_content, with the email redacted."""
    messages = [
        {"role": "system", "content": "answer briefly"},
        {"role": "user", "content": "write to bob@example.com"},
    ]
    with capture() as captured:
        watchkeeper.instrument(make(llm_provider)).chat.completions.create(
            model="gpt-4o", messages=messages
        )
        watchkeeper.instrument(make(llm_provider), capture_content=True).chat.completions.create(
            model="gpt-4o", messages=messages
        )
    off, on = captured.spans
    assert not any(key.startswith("gen_ai.input") for key in off.attributes)
    inputs = json.loads(str(on.attributes["gen_ai.input.messages"]))
    outputs = json.loads(str(on.attributes["gen_ai.output.messages"]))
    assert inputs == [
        {"role": "system", "parts": [{"type": "text", "content": "answer briefly"}]},
        {"role": "user", "parts": [{"type": "text", "content": "write to [REDACTED:email]"}]},
    ]
    assert outputs == [
        {
            "role": "assistant",
            "parts": [{"type": "text", "content": "echo: write to [REDACTED:email]"}],
            "finish_reason": "stop",
        }
    ]


def test_instrument_twice_records_one_span_per_call(llm_provider: FakeProvider) -> None:
    """Instrumenting the same client again keeps one span per call, with the new settings."""
    client = make(llm_provider)
    assert watchkeeper.instrument(client) is client
    watchkeeper.instrument(client, feature="second")
    with capture() as captured:
        client.chat.completions.create(model="gpt-4o", messages=HI)
    assert only(captured.spans).attributes["feature"] == "second"


def test_copies_made_with_options_are_instrumented_too(llm_provider: FakeProvider) -> None:
    """``client.with_options(...)`` gives a client recorded like the one it came from."""
    client = watchkeeper.instrument(make(llm_provider), feature="faq")
    with capture() as captured:
        client.with_options(timeout=5.0).chat.completions.create(model="gpt-4o", messages=HI)
    assert only(captured.spans).attributes["feature"] == "faq"


def test_feature_from_bind_and_no_span_without_a_client(llm_provider: FakeProvider) -> None:
    """The bound feature tags the call; before init() nothing is recorded at all."""
    client = watchkeeper.instrument(make(llm_provider))
    client.chat.completions.create(model="gpt-4o", messages=HI)  # no client: not recorded
    with capture() as captured, watchkeeper.bind(feature="support-bot"):
        client.chat.completions.create(model="gpt-4o", messages=HI)
    assert only(captured.spans).attributes["feature"] == "support-bot"


def test_azure_client_is_named_azure(llm_provider: FakeProvider) -> None:
    """An AzureOpenAI client's calls carry ``azure.ai.openai`` (the fake has no Azure route)."""
    client = watchkeeper.instrument(
        openai.AzureOpenAI(
            azure_endpoint=llm_provider.url, api_key="k", api_version="2024-06-01", max_retries=0
        )
    )
    with capture() as captured, pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="gpt-4o", messages=HI)
    span = only(captured.spans)
    assert span.attributes["gen_ai.provider.name"] == "azure.ai.openai"
    assert span.attributes["error.type"] == "bad_request"


def test_a_user_http_client_is_left_alone(llm_provider: FakeProvider) -> None:
    """Instrumenting adds no httpx hooks: a client built on the app's own httpx client works."""
    own = httpx.Client(event_hooks={"request": []})
    client = watchkeeper.instrument(make(llm_provider, http_client=own))
    with capture() as captured:
        client.chat.completions.create(model="gpt-4o", messages=HI)
    assert own.event_hooks == {"request": [], "response": []}
    assert only(captured.spans).attributes["watchkeeper.retries"] == 0
