"""The real, uninstrumented openai, anthropic, google-genai and litellm clients against the fake
LLM provider: sync, async, streaming, and each injected failure."""

from __future__ import annotations

import asyncio
import base64
import struct
import time
from collections.abc import Callable, Iterator
from typing import Any

import anthropic
import httpx
import httpx2
import openai
import pytest
from google import genai
from google.genai import errors as genai_errors
from tests.fakes.llm_provider import (
    REASONING_TOKENS,
    FakeProvider,
    embedding,
    error_body,
    expected_usage,
    reply,
    served_model,
    tokens,
)

# google-genai 3.4 subclasses aiohttp.ClientSession for its async client, which aiohttp 3.14
# deprecates; the warning is theirs, and the async path under it is what users run.
aiohttp_subclass = pytest.mark.filterwarnings(
    "ignore:Inheritance class AiohttpClientSession:DeprecationWarning"
)
# litellm builds a pydantic schema lazily on its first stream, and pydantic warns about a
# ReadOnly TypedDict item of litellm's; litellm's sync calls also take the thread's event loop
# through asyncio.get_event_loop(), creating one nobody closes (its ResourceWarning then fires
# in whichever test next runs asyncio.run), so each test here sets a loop it closes.
LITELLM = pytest.mark.filterwarnings("ignore:Item 'summary' on TypedDict class:UserWarning")
USER = [{"role": "user", "content": "hello fake world"}]


@pytest.fixture(autouse=True)
def owned_event_loop() -> Iterator[None]:
    """An event loop set for the main thread during the test, closed after it."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    yield
    asyncio.set_event_loop(None)
    loop.close()


def openai_client(url: str, **options: Any) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{url}/v1", api_key="sk-test", **options)


def anthropic_client(url: str, **options: Any) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=url, api_key="sk-ant-test", **options)


def gemini_client(url: str, *, retries: int = 0, timeout: float | None = None) -> genai.Client:
    options: dict[str, Any] = {"base_url": url}
    if retries:  # google-genai retries only when asked to; no pause between attempts here
        options["retry_options"] = {"attempts": retries + 1, "initial_delay": 0, "jitter": 0}
    if timeout:
        options["timeout"] = int(timeout * 1000)  # milliseconds
    return genai.Client(api_key="gm-test", http_options=options)


def test_rule_helpers() -> None:
    """The documented rule: words are tokens, markers switch on cached/reasoning counts."""
    assert tokens("echo:  a b\n c") == 4
    assert reply("hi") == "echo: hi"
    assert served_model("openai", "gpt-4o-mini") == "gpt-4o-mini-2024-07-18"
    assert served_model("openai", "gpt-4o-2024-08-06") == "gpt-4o-2024-08-06"
    assert served_model("anthropic", "claude-haiku-4-5-latest") == "claude-haiku-4-5-20251001"
    assert served_model("gemini", "models/gemini-2.0-flash") == "gemini-2.0-flash-001"
    usage = expected_usage("be brief", "a b c d [cached] [reason]")
    assert (usage.input, usage.cached, usage.reasoning) == (8, 4, REASONING_TOKENS)
    assert usage.visible == tokens(reply("a b c d [cached] [reason]")) == 7
    assert usage.output == 7 + REASONING_TOKENS and usage.total == 8 + usage.output
    assert embedding("x", 4) == embedding("x", 4) != embedding("y", 4)


def test_openai_chat(llm_provider: FakeProvider) -> None:
    """A chat completion echoes the last user message, with a dated model and exact usage."""
    messages = [{"role": "system", "content": "be brief"}, *USER]
    with openai_client(llm_provider.url) as client:
        answer = client.chat.completions.create(model="gpt-4o-mini", messages=messages)
    expected = expected_usage("be brief", "hello fake world")
    assert answer.choices[0].message.content == "echo: hello fake world"
    assert answer.choices[0].finish_reason == "stop"
    assert answer.model == "gpt-4o-mini-2024-07-18"
    assert answer.usage is not None
    counts = (answer.usage.prompt_tokens, answer.usage.completion_tokens, answer.usage.total_tokens)
    assert counts == (expected.input, expected.output, expected.total) == (5, 4, 9)
    (received,) = llm_provider.requests
    assert received.path == "/v1/chat/completions"
    assert received.headers["authorization"] == "Bearer sk-test"
    assert received.json["messages"] == messages


def test_openai_chat_stream_with_usage(llm_provider: FakeProvider) -> None:
    """A chat stream sends one piece per word, then a usage-only chunk when asked for usage."""
    with openai_client(llm_provider.url) as client:
        stream = client.chat.completions.create(
            model="gpt-4o-mini",
            messages=USER,
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = list(stream)
    pieces = [
        c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content
    ]
    assert pieces == ["echo:", " hello", " fake", " world"]
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    last = chunks[-1]
    assert last.choices == [] and last.usage is not None
    assert (last.usage.prompt_tokens, last.usage.completion_tokens) == (3, 4)
    assert all(c.usage is None for c in chunks[:-1])


def test_openai_chat_stream_without_usage(llm_provider: FakeProvider) -> None:
    """Without ``include_usage`` no chunk carries usage, as OpenAI does."""
    with openai_client(llm_provider.url) as client:
        chunks = list(
            client.chat.completions.create(model="gpt-4o-mini", messages=USER, stream=True)
        )
    assert chunks and all(c.usage is None and c.choices for c in chunks)


def test_openai_async_chat_and_stream(llm_provider: FakeProvider) -> None:
    """The async client gets the same answer, whole and streamed."""

    async def talk() -> tuple[str | None, str]:
        async with openai.AsyncOpenAI(base_url=f"{llm_provider.url}/v1", api_key="k") as client:
            whole = await client.chat.completions.create(model="gpt-4o", messages=USER)
            stream = await client.chat.completions.create(
                model="gpt-4o", messages=USER, stream=True
            )
            text = "".join([c.choices[0].delta.content or "" async for c in stream])
        return whole.choices[0].message.content, text

    assert asyncio.run(talk()) == ("echo: hello fake world", "echo: hello fake world")
    assert len(llm_provider.requests) == 2


def test_openai_responses(llm_provider: FakeProvider) -> None:
    """The Responses API answers with output_text and its own usage names."""
    with openai_client(llm_provider.url) as client:
        answer = client.responses.create(
            model="gpt-4o-mini", input="hi [cached] [reason]", instructions="be brief"
        )
    assert answer.output_text == "echo: hi [cached] [reason]"
    assert answer.model == "gpt-4o-mini-2024-07-18" and answer.status == "completed"
    expected = expected_usage("be brief", "hi [cached] [reason]")
    assert answer.usage is not None
    assert answer.usage.input_tokens == expected.input == 5
    assert answer.usage.input_tokens_details.cached_tokens == expected.cached == 2
    assert answer.usage.output_tokens == expected.output
    assert answer.usage.output_tokens_details.reasoning_tokens == REASONING_TOKENS


def test_openai_responses_stream(llm_provider: FakeProvider) -> None:
    """A Responses stream sends typed events, deltas in order, usage on response.completed;
    the ``responses.stream`` helper assembles them."""
    with openai_client(llm_provider.url) as client:
        events = list(client.responses.create(model="gpt-4o-mini", input=USER, stream=True))
        with client.responses.stream(model="gpt-4o-mini", input="helper") as stream:
            final = stream.get_final_response()
    kinds = [e.type for e in events]
    assert kinds[:2] == ["response.created", "response.in_progress"]
    assert kinds[-1] == "response.completed"
    assert (
        "".join(e.delta for e in events if e.type == "response.output_text.delta")
        == "echo: hello fake world"
    )
    assert [e.sequence_number for e in events] == list(range(len(events)))
    completed = events[-1]
    assert completed.type == "response.completed" and completed.response.usage is not None
    assert completed.response.usage.output_tokens == 4
    assert final.output_text == "echo: helper"


def test_openai_embeddings(llm_provider: FakeProvider) -> None:
    """Embeddings come back as the client's default base64 and as floats, both exact."""
    with openai_client(llm_provider.url) as client:
        default = client.embeddings.create(model="text-embedding-3-small", input=["a b", "c"])
        floats = client.embeddings.create(
            model="text-embedding-3-small", input="a b", encoding_format="float", dimensions=4
        )
    assert [d.embedding for d in default.data] == [embedding("a b"), embedding("c")]
    assert floats.data[0].embedding == embedding("a b", 4)
    assert default.usage.prompt_tokens == 3 and default.model == "text-embedding-3-small"
    assert llm_provider.requests[0].json["encoding_format"] == "base64"


def test_openai_markers(llm_provider: FakeProvider) -> None:
    """[cached], [reason] and [length] switch on cached tokens, reasoning tokens and a length stop."""
    prompt = "one two three four [cached] [reason] [length]"
    with openai_client(llm_provider.url) as client:
        answer = client.chat.completions.create(
            model="o4-mini", messages=[{"role": "user", "content": prompt}]
        )
    assert answer.usage is not None
    assert (
        answer.usage.prompt_tokens_details is not None
        and answer.usage.completion_tokens_details is not None
    )
    assert answer.usage.prompt_tokens_details.cached_tokens == 3
    assert answer.usage.completion_tokens_details.reasoning_tokens == REASONING_TOKENS
    assert answer.usage.completion_tokens == tokens(reply(prompt)) + REASONING_TOKENS
    assert answer.choices[0].finish_reason == "length"


def test_anthropic_messages(llm_provider: FakeProvider) -> None:
    """A message echoes the user; input_tokens excludes cache reads and writes, as Anthropic's does."""
    prompt = "a b c d e f [cached] [cache-write] [reason]"
    with anthropic_client(llm_provider.url) as client:
        message = client.messages.create(
            model="claude-haiku-4-5",
            max_tokens=64,
            system="be brief",
            messages=[{"role": "user", "content": prompt}],
        )
    expected = expected_usage("be brief", prompt)
    assert message.content[0].type == "text" and message.content[0].text == reply(prompt)
    assert message.model == "claude-haiku-4-5-20251001" and message.stop_reason == "end_turn"
    assert message.usage.cache_read_input_tokens == expected.cached == 5
    assert message.usage.cache_creation_input_tokens == expected.cache_write == 2
    assert message.usage.input_tokens == expected.input - 7
    assert message.usage.output_tokens == expected.output
    assert message.usage.output_tokens_details is not None
    assert message.usage.output_tokens_details.thinking_tokens == REASONING_TOKENS
    (received,) = llm_provider.requests
    # anthropic 2.x sends the API key as a bearer token, not x-api-key
    assert received.headers["authorization"] == "Bearer sk-ant-test"
    assert "anthropic-version" in received.headers


def test_anthropic_raw_stream(llm_provider: FakeProvider) -> None:
    """``stream=True`` yields Anthropic's event sequence with usage in message_start and message_delta."""
    with anthropic_client(llm_provider.url) as client:
        events = list(
            client.messages.create(
                model="claude-haiku-4-5", max_tokens=64, messages=USER, stream=True
            )
        )
    kinds = [e.type for e in events]
    assert kinds[:2] == ["message_start", "content_block_start"]
    assert kinds[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    assert kinds.count("content_block_delta") == 4
    start, delta = events[0], events[-2]
    assert start.type == "message_start" and start.message.usage.input_tokens == 3
    assert delta.type == "message_delta" and delta.usage.output_tokens == 4
    assert delta.delta.stop_reason == "end_turn"


def test_anthropic_stream_helper_sync_and_async(llm_provider: FakeProvider) -> None:
    """``messages.stream`` assembles text and usage, sync and async; [length] stops at max_tokens."""
    with (
        anthropic_client(llm_provider.url) as client,
        client.messages.stream(model="claude-haiku-4-5", max_tokens=64, messages=USER) as stream,
    ):
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == "echo: hello fake world"
    assert (final.usage.input_tokens, final.usage.output_tokens) == (3, 4)

    async def talk() -> anthropic.types.Message:
        async with anthropic.AsyncAnthropic(base_url=llm_provider.url, api_key="k") as aclient:
            whole = await aclient.messages.create(
                model="claude-haiku-4-5", max_tokens=8, messages=USER
            )
            assert whole.content[0].type == "text" and whole.content[0].text == text
            content = [{"role": "user", "content": "long [length]"}]
            async with aclient.messages.stream(
                model="claude-haiku-4-5", max_tokens=8, messages=content
            ) as astream:
                return await astream.get_final_message()

    cut = asyncio.run(talk())
    assert cut.stop_reason == "max_tokens" and cut.usage.output_tokens == 3


def test_gemini_generate_content(llm_provider: FakeProvider) -> None:
    """generate_content reads usageMetadata, modelVersion, responseId and finishReason."""
    with gemini_client(llm_provider.url) as client:
        answer = client.models.generate_content(
            model="gemini-2.0-flash", contents="a b c d [cached] [reason]"
        )
    assert answer.text == "echo: a b c d [cached] [reason]"
    assert answer.model_version == "gemini-2.0-flash-001" and answer.response_id
    assert answer.candidates and answer.candidates[0].finish_reason == genai.types.FinishReason.STOP
    usage = answer.usage_metadata
    assert usage is not None
    assert (usage.prompt_token_count, usage.cached_content_token_count) == (6, 3)
    assert (usage.candidates_token_count, usage.thoughts_token_count) == (7, REASONING_TOKENS)
    assert usage.total_token_count == 6 + 7 + REASONING_TOKENS
    (received,) = llm_provider.requests
    assert received.path == "/v1/models/gemini-2.0-flash:generateContent"
    assert received.headers["x-goog-api-key"] == "gm-test"


def test_gemini_stream_omits_zero_counts(llm_provider: FakeProvider) -> None:
    """The SSE stream (alt=sse) sends a piece per chunk; final usage omits zero cached/thoughts."""
    with gemini_client(llm_provider.url) as client:
        chunks = list(
            client.models.generate_content_stream(
                model="gemini-2.5-flash", contents="hello fake world"
            )
        )
    assert [c.text for c in chunks] == ["echo:", " hello", " fake", " world"]
    last = chunks[-1].usage_metadata
    assert last is not None and last.candidates_token_count == 4
    assert last.cached_content_token_count is None and last.thoughts_token_count is None
    assert llm_provider.requests[0].query == {"alt": "sse"}


@aiohttp_subclass
def test_gemini_async(llm_provider: FakeProvider) -> None:
    """The async client (aiohttp underneath) gets the same answer, whole and streamed, and a
    [length] prompt finishes with MAX_TOKENS."""

    async def talk() -> tuple[str | None, list[str | None], Any]:
        client = gemini_client(llm_provider.url)
        try:
            whole = await client.aio.models.generate_content(
                model="gemini-2.0-flash", contents="hello fake world"
            )
            stream = await client.aio.models.generate_content_stream(
                model="gemini-2.0-flash", contents="hi [length]"
            )
            chunks = [c async for c in stream]
        finally:
            await client.aio.aclose()
        assert chunks[-1].candidates
        return whole.text, [c.text for c in chunks], chunks[-1].candidates[0].finish_reason

    assert asyncio.run(talk()) == (
        "echo: hello fake world",
        ["echo:", " hi", " [length]"],
        "MAX_TOKENS",
    )


@LITELLM
def test_litellm_openai_and_anthropic(llm_provider: FakeProvider) -> None:
    """litellm reaches the fake as ``openai/…`` with api_base ``{url}/v1``, ``anthropic/…`` with
    api_base ``{url}`` and ``gemini/…`` with api_base ``{url}/v1beta``."""
    import litellm

    routes = {
        "openai/gpt-4o-mini": (f"{llm_provider.url}/v1", "/v1/chat/completions"),
        "anthropic/claude-haiku-4-5": (llm_provider.url, "/v1/messages"),
        "gemini/gemini-2.0-flash": (
            f"{llm_provider.url}/v1beta",
            "/v1beta/models/gemini-2.0-flash:generateContent",
        ),
    }
    for model, (api_base, path) in routes.items():
        answer = litellm.completion(
            model=model, api_base=api_base, api_key="k", messages=USER, max_tokens=16
        )
        assert answer.choices[0].message.content == "echo: hello fake world", model
        assert answer.usage.prompt_tokens == 3 and answer.usage.completion_tokens == 4, model
        assert llm_provider.requests[-1].path == path


@LITELLM
def test_litellm_async_and_stream(llm_provider: FakeProvider) -> None:
    """litellm.acompletion works whole and streamed, and litellm.completion streams."""
    import litellm

    base = f"{llm_provider.url}/v1"
    chunks = litellm.completion(
        model="openai/gpt-4o-mini", api_base=base, api_key="k", messages=USER, stream=True
    )
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "echo: hello fake world"

    async def talk() -> tuple[str, str]:
        whole = await litellm.acompletion(
            model="anthropic/claude-haiku-4-5",
            api_base=llm_provider.url,
            api_key="k",
            messages=USER,
            max_tokens=16,
        )
        stream = await litellm.acompletion(
            model="openai/gpt-4o-mini", api_base=base, api_key="k", messages=USER, stream=True
        )
        text = "".join([c.choices[0].delta.content or "" async for c in stream])
        return whole.choices[0].message.content, text

    assert asyncio.run(talk()) == ("echo: hello fake world", "echo: hello fake world")


def call_openai(url: str, *, retries: int = 0, timeout: float = 10) -> str | None:
    with openai_client(url, max_retries=retries, timeout=timeout) as client:
        return (
            client.chat.completions.create(model="gpt-4o-mini", messages=USER)
            .choices[0]
            .message.content
        )


def call_anthropic(url: str, *, retries: int = 0, timeout: float = 10) -> str | None:
    with anthropic_client(url, max_retries=retries, timeout=timeout) as client:
        block = client.messages.create(
            model="claude-haiku-4-5", max_tokens=16, messages=USER
        ).content[0]
        return block.text if block.type == "text" else None


def call_gemini(url: str, *, retries: int = 0, timeout: float = 10) -> str | None:
    with gemini_client(url, retries=retries, timeout=timeout) as client:
        return client.models.generate_content(
            model="gemini-2.0-flash", contents="hello fake world"
        ).text


def call_litellm(url: str, *, retries: int = 0, timeout: float = 10) -> str | None:
    import litellm

    answer = litellm.completion(
        model="openai/gpt-4o-mini",
        api_base=f"{url}/v1",
        api_key="k",
        messages=USER,
        max_retries=retries,
        timeout=timeout,
    )
    return answer.choices[0].message.content


CALLS: dict[str, Callable[..., str | None]] = {
    "openai": call_openai,
    "anthropic": call_anthropic,
    "gemini": call_gemini,
    "litellm": call_litellm,
}
NAMES = ["openai", "anthropic", "gemini", pytest.param("litellm", marks=LITELLM)]


@pytest.mark.parametrize("name", NAMES)
def test_rate_limit_then_success(llm_provider: FakeProvider, name: str) -> None:
    """A 429 is retried by a client allowed one retry: two attempts, then the answer."""
    llm_provider.fail_next(429)
    assert CALLS[name](llm_provider.url, retries=1) == "echo: hello fake world"
    assert len(llm_provider.requests) == 2


def server_error(name: str) -> type[BaseException]:
    import litellm

    return {
        "openai": openai.InternalServerError,
        "anthropic": anthropic.InternalServerError,
        "gemini": genai_errors.ServerError,
        "litellm": litellm.InternalServerError,
    }[name]


@pytest.mark.parametrize("name", NAMES)
def test_server_error_raises(llm_provider: FakeProvider, name: str) -> None:
    """A 500 without retries raises the client's server error carrying the provider's body."""
    llm_provider.fail_next(500)
    with pytest.raises(server_error(name)) as raised:
        CALLS[name](llm_provider.url, retries=0)
    assert len(llm_provider.requests) == 1
    if name == "gemini":
        assert (
            isinstance(raised.value, genai_errors.ServerError) and raised.value.status == "INTERNAL"
        )
    assert CALLS[name](llm_provider.url) == "echo: hello fake world"  # one failure, then well


def test_error_bodies_reach_the_clients(llm_provider: FakeProvider) -> None:
    """Clients read the provider-shaped error: OpenAI's code, Anthropic's type, a custom body."""
    llm_provider.fail_next(429, retry_after=None)
    with pytest.raises(openai.RateLimitError) as limited:
        call_openai(llm_provider.url)
    assert limited.value.code == "rate_limit_exceeded"
    assert "retry-after" not in limited.value.response.headers
    llm_provider.fail_next(529)
    with pytest.raises(anthropic.OverloadedError) as overloaded:
        call_anthropic(llm_provider.url)
    assert overloaded.value.type == "overloaded_error"
    assert overloaded.value.response.headers["retry-after-ms"] == "1"
    llm_provider.fail_next(
        400, body={"error": {"message": "bad things", "type": "invalid_request_error", "code": "x"}}
    )
    with pytest.raises(openai.BadRequestError, match="bad things"):
        call_openai(llm_provider.url)


def test_anthropic_overloaded_is_retried(llm_provider: FakeProvider) -> None:
    """529 (overloaded) twice, then an answer within max_retries=2."""
    llm_provider.fail_next(529, times=2)
    assert call_anthropic(llm_provider.url, retries=2) == "echo: hello fake world"
    assert len(llm_provider.requests) == 3


def timeout_error(name: str) -> tuple[type[BaseException], ...]:
    import litellm

    return {
        "openai": (openai.APITimeoutError,),
        "anthropic": (anthropic.APITimeoutError,),
        # google-genai lets its HTTP library's timeout through (httpx2 when installed)
        "gemini": (httpx.TimeoutException, httpx2.TimeoutException),
        "litellm": (litellm.Timeout,),
    }[name]


@pytest.mark.parametrize("name", NAMES)
def test_delay_beyond_timeout_raises(llm_provider: FakeProvider, name: str) -> None:
    """An answer held back past the client's timeout raises its timeout error; the next
    request is answered."""
    llm_provider.delay_next(5)
    with pytest.raises(timeout_error(name)):
        CALLS[name](llm_provider.url, timeout=0.2)
    assert CALLS[name](llm_provider.url) == "echo: hello fake world"
    assert len(llm_provider.requests) == 2


def test_delayed_answer_stops_when_the_client_hangs_up(llm_provider: FakeProvider) -> None:
    """A delayed request whose client timed out is dropped long before its delay ends."""
    llm_provider.delay_next(30, times=2)
    with pytest.raises(openai.APITimeoutError):
        call_openai(llm_provider.url, timeout=0.2)
    deadline = time.monotonic() + 10
    while llm_provider.hangups < 1 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert llm_provider.hangups == 1
    with pytest.raises(anthropic.APITimeoutError):
        call_anthropic(llm_provider.url, timeout=0.2)
    assert call_openai(llm_provider.url) == "echo: hello fake world"  # both delays used up


def test_injections_reject_bad_arguments(llm_provider: FakeProvider) -> None:
    """fail_next and delay_next name the bad argument and inject nothing."""
    with pytest.raises(ValueError, match="status"):
        llm_provider.fail_next(200)
    with pytest.raises(ValueError, match="times"):
        llm_provider.fail_next(429, times=0)
    with pytest.raises(ValueError, match="seconds"):
        llm_provider.delay_next(-1)
    assert call_openai(llm_provider.url) == "echo: hello fake world"


@aiohttp_subclass
def test_gemini_async_timeout(llm_provider: FakeProvider) -> None:
    """The async genai client (aiohttp) raises TimeoutError past its timeout."""

    async def talk() -> None:
        client = gemini_client(llm_provider.url, timeout=0.2)
        try:
            await client.aio.models.generate_content(model="gemini-2.0-flash", contents="x")
        finally:
            await client.aio.aclose()

    llm_provider.delay_next(5)
    with pytest.raises(TimeoutError):
        asyncio.run(talk())


def test_first_chunk_delay(llm_provider: FakeProvider) -> None:
    """The first streamed chunk waits ``first_chunk_delay``; reset() restores the default."""
    llm_provider.first_chunk_delay = 0.3
    with openai_client(llm_provider.url) as client:
        started = time.monotonic()
        stream = client.chat.completions.create(model="gpt-4o-mini", messages=USER, stream=True)
        next(iter(stream))
        waited = time.monotonic() - started
        stream.close()
    assert waited >= 0.3
    llm_provider.reset()
    assert llm_provider.first_chunk_delay == 0.02


def test_reset_forgets_requests_and_injections(llm_provider: FakeProvider) -> None:
    """reset() clears the request log and any pending failure or delay."""
    assert call_openai(llm_provider.url) == "echo: hello fake world"
    llm_provider.fail_next(500, times=3)
    llm_provider.delay_next(5)
    llm_provider.reset()
    assert llm_provider.requests == []
    assert call_openai(llm_provider.url, timeout=2) == "echo: hello fake world"
    assert len(llm_provider.requests) == 1


def test_bad_requests_get_provider_shaped_errors(llm_provider: FakeProvider) -> None:
    """An unknown path is a 404 and a body missing a field a 400 that names it, both recorded."""
    unknown = httpx.post(f"{llm_provider.url}/v1/nothing", json={})
    missing = httpx.post(f"{llm_provider.url}/v1/messages", json={"model": "claude-haiku-4-5"})
    gemini = httpx.post(
        f"{llm_provider.url}/v1beta/models/gemini-2.0-flash:generateContent", content=b"not json"
    )
    assert unknown.status_code == 404 and unknown.json()["error"]["type"] == "invalid_request_error"
    assert missing.status_code == 400 and missing.json() == error_body(
        "anthropic", 400, "messages: field required"
    )
    assert gemini.status_code == 400 and gemini.json()["error"]["status"] == "INVALID_ARGUMENT"
    assert [r.path for r in llm_provider.requests] == [
        "/v1/nothing",
        "/v1/messages",
        "/v1beta/models/gemini-2.0-flash:generateContent",
    ]
    assert llm_provider.requests[2].json is None


def test_base64_embedding_is_float32(llm_provider: FakeProvider) -> None:
    """A base64 embedding is little-endian float32, as OpenAI sends it."""
    body = {
        "model": "text-embedding-3-small",
        "input": "x",
        "encoding_format": "base64",
        "dimensions": 3,
    }
    data = httpx.post(f"{llm_provider.url}/v1/embeddings", json=body).json()["data"][0]["embedding"]
    assert list(struct.unpack("<3f", base64.b64decode(data))) == embedding("x", 3)
