"""litellm instrumented: ``completion``/``acompletion`` through its OpenAI, Anthropic and Gemini
routes, against the fake provider on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import warnings
from collections.abc import Iterator
from typing import Any

import httpx
import litellm
import pytest
from litellm.litellm_core_utils.streaming_handler import CustomStreamWrapper
from tests.fakes.llm_provider import FakeProvider, expected_usage, reply, served_model

import watchkeeper
from watchkeeper.records import Span
from watchkeeper.testing import capture

# litellm's own types make pydantic warn when they are first built (warnings are errors here).
pytestmark = [
    pytest.mark.filterwarnings("ignore:Item .* `ReadOnly` qualifier:UserWarning"),
    pytest.mark.filterwarnings("ignore:Accessing the 'model_\\w+' attribute:DeprecationWarning"),
]
HI = [{"role": "user", "content": "hello there"}]


@pytest.fixture(autouse=True)
def _restore() -> Iterator[None]:
    """instrument(litellm) and instrument_llms() patch modules and classes for good: put back
    what they replaced after each test, so other tests see the libraries untouched."""
    import anthropic.resources.messages.messages as anthropic_messages
    import google.genai.models as genai_models
    import openai.resources.chat.completions as chat
    import openai.resources.embeddings as embeddings
    import openai.resources.responses as responses

    targets: list[Any] = [litellm, httpx.Client, httpx.AsyncClient]
    targets += [chat.Completions, chat.AsyncCompletions, responses.Responses]
    targets += [responses.AsyncResponses, embeddings.Embeddings, embeddings.AsyncEmbeddings]
    targets += [anthropic_messages.Messages, anthropic_messages.AsyncMessages]
    targets += [genai_models.Models, genai_models.AsyncModels]
    names = ("completion", "acompletion", "send", "create", "parse", "stream")
    names += ("generate_content", "generate_content_stream")
    saved = [(t, n, vars(t)[n]) for t in targets for n in names if n in vars(t)]
    yield
    for target, name, value in saved:
        setattr(target, name, value)
    release_litellm_sockets()


def release_litellm_sockets() -> None:
    """litellm keeps connections of its async clients past close_litellm_async_clients(); they
    warn (ResourceWarning) when collected, which would fail whichever later test collects them.
    Collect them here, where they are known to be litellm's."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()


def only(spans: list[Span]) -> Span:
    assert len(spans) == 1, [span.name for span in spans]
    return spans[0]


def openai_route(provider: FakeProvider, **extra: Any) -> dict[str, Any]:
    return {"api_base": f"{provider.url}/v1", "api_key": "k", **extra}


def test_openai_route(llm_provider: FakeProvider) -> None:
    """A completion through the OpenAI route: provider openai, usage in OpenAI's terms, the
    same ``ModelResponse`` back."""
    watchkeeper.instrument(litellm)
    text = "hi [cached] [reason]"
    messages = [{"role": "user", "content": text}]
    with capture() as captured:
        result = litellm.completion(
            model="openai/gpt-4o-mini",
            messages=messages,
            max_tokens=40,
            **openai_route(llm_provider),
        )
    assert type(result) is litellm.ModelResponse
    assert result.choices[0].message.content == reply(text)  # type: ignore[union-attr]
    usage = expected_usage(text)
    span = only(captured.spans)
    assert span.name == "chat openai/gpt-4o-mini"
    expected = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "openai/gpt-4o-mini",
        "gen_ai.request.max_tokens": 40,
        "gen_ai.request.stream": False,
        "gen_ai.response.model": served_model("openai", "gpt-4o-mini"),
        "gen_ai.response.finish_reasons": ["stop"],
        "gen_ai.usage.input_tokens": usage.input,
        "gen_ai.usage.output_tokens": usage.output,
        "gen_ai.usage.cache_read.input_tokens": usage.cached,
        "gen_ai.usage.reasoning.output_tokens": usage.reasoning,
        "server.address": "127.0.0.1",
    }
    assert {key: span.attributes.get(key) for key in expected} == expected


def test_anthropic_and_gemini_routes_name_their_provider(llm_provider: FakeProvider) -> None:
    """The provider is the one litellm resolved, in the semantic conventions' spelling."""
    watchkeeper.instrument(litellm)
    with capture() as captured:
        litellm.completion(
            model="anthropic/claude-haiku-4-5", messages=HI, max_tokens=9,
            api_base=llm_provider.url, api_key="k",
        )  # fmt: skip
        litellm.completion(
            model="gemini/gemini-2.5-flash", messages=HI,
            api_base=f"{llm_provider.url}/v1beta", api_key="k",
        )  # fmt: skip
    claude, gemini = captured.spans
    assert claude.attributes["gen_ai.provider.name"] == "anthropic"
    assert claude.attributes["gen_ai.usage.input_tokens"] == expected_usage("hello there").input
    assert gemini.attributes["gen_ai.provider.name"] == "gcp.gemini"
    assert gemini.attributes["gen_ai.response.model"] == served_model("gemini", "gemini-2.5-flash")


def test_streams_stay_custom_stream_wrappers(llm_provider: FakeProvider) -> None:
    """A sync and an async stream: still CustomStreamWrapper, TTFT recorded, usage when the
    app asked for it."""
    watchkeeper.instrument(litellm)

    async def main() -> str:
        stream = await litellm.acompletion(
            model="openai/gpt-4o", messages=HI, stream=True, **openai_route(llm_provider)
        )
        text = "".join([chunk.choices[0].delta.content or "" async for chunk in stream])
        await litellm.close_litellm_async_clients()  # they belong to this loop, which ends here
        return text

    with capture() as captured:
        stream = litellm.completion(
            model="openai/gpt-4o", messages=HI, stream=True,
            stream_options={"include_usage": True}, **openai_route(llm_provider),
        )  # fmt: skip
        assert isinstance(stream, CustomStreamWrapper)
        text = "".join(chunk.choices[0].delta.content or "" for chunk in stream)
        # litellm's sync logging made this thread an event loop (asyncio.get_event_loop()) and
        # left it open; asyncio.run() would drop it unclosed.
        with contextlib.suppress(RuntimeError):  # none was set
            asyncio.get_event_loop_policy().get_event_loop().close()
        async_text = asyncio.run(main())
    assert text == async_text == reply("hello there")
    with_usage, without = captured.spans
    for span in (with_usage, without):
        assert span.attributes["gen_ai.request.stream"] is True
        ttft = span.attributes["gen_ai.response.time_to_first_chunk"]
        assert isinstance(ttft, float) and ttft * 1e9 <= span.duration_ns
    assert (
        with_usage.attributes["gen_ai.usage.output_tokens"] == expected_usage("hello there").output
    )
    assert "gen_ai.usage.output_tokens" not in without.attributes


def test_retries_are_counted(llm_provider: FakeProvider) -> None:
    """Two 429s then success: the HTTP attempts litellm made are counted."""
    watchkeeper.instrument(litellm)
    llm_provider.fail_next(429, 2)
    with capture() as captured:
        litellm.completion(
            model="openai/gpt-4o", messages=HI, max_retries=3, **openai_route(llm_provider)
        )
    span = only(captured.spans)
    assert span.attributes["watchkeeper.retries"] == 2 and span.status == "unset"


@pytest.mark.parametrize(("status", "kind"), [(429, "rate_limit"), (500, "server"), (401, "auth")])
def test_errors_are_classified(llm_provider: FakeProvider, status: int, kind: str) -> None:
    """litellm's mapped exceptions raise as usual; the span has the kind and the provider."""
    watchkeeper.instrument(litellm)
    llm_provider.fail_next(status)
    with capture() as captured, pytest.raises(Exception) as raised:
        litellm.completion(
            model="openai/gpt-4o", messages=HI, max_retries=0, **openai_route(llm_provider)
        )
    assert getattr(raised.value, "status_code", None) == status
    span = only(captured.spans)
    assert span.status == "error" and span.attributes["error.type"] == kind
    assert span.attributes["gen_ai.provider.name"] == "openai"


def test_refused_connection(refused_url: str) -> None:
    """A refused connection is ``connection``, though litellm raises it as a server error."""
    watchkeeper.instrument(litellm)
    with capture() as captured, pytest.raises(litellm.InternalServerError):
        litellm.completion(
            model="openai/gpt-4o",
            messages=HI,
            max_retries=0,
            api_base=f"{refused_url}/v1",
            api_key="k",
        )
    assert only(captured.spans).attributes["error.type"] == "connection"


def test_content_and_positional_arguments(llm_provider: FakeProvider) -> None:
    """``completion(model, messages)`` written positionally is read right; content is
    captured redacted when asked."""
    watchkeeper.instrument(litellm, capture_content=True)
    messages = [{"role": "user", "content": "call 4111 1111 1111 1111"}]
    with capture() as captured:
        litellm.completion("openai/gpt-4o", messages, **openai_route(llm_provider))
    span = only(captured.spans)
    assert span.attributes["gen_ai.request.model"] == "openai/gpt-4o"
    assert json.loads(str(span.attributes["gen_ai.input.messages"])) == [
        {"role": "user", "parts": [{"type": "text", "content": "call [REDACTED:card]"}]}
    ]
    assert "[REDACTED:card]" in str(span.attributes["gen_ai.output.messages"])


def test_instrument_twice_and_instrument_llms(llm_provider: FakeProvider) -> None:
    """instrument(litellm) twice, then instrument_llms() (litellm is imported): one span per
    call, and litellm's inner openai client call is not recorded again."""
    watchkeeper.instrument(litellm)
    watchkeeper.instrument(litellm, feature="chat-ui")
    assert "litellm" in watchkeeper.instrument_llms()
    with capture() as captured:
        litellm.completion(model="openai/gpt-4o", messages=HI, **openai_route(llm_provider))
    assert only(captured.spans).attributes.get("feature") is None  # instrument_llms() settings
