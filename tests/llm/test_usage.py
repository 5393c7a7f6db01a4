"""llm/usage.py: other instrumentations' LLM attributes under the GenAI names, the canonical ones
winning, spans that are not model calls left alone."""

from __future__ import annotations

import copy
import hashlib
from typing import Any

import pytest

from watchkeeper.llm import usage
from watchkeeper.llm.usage import ALIASES, MAPPING_VERSION, OPERATION_HINTS, PROVIDERS, normalise

DIGESTS = {1: "1b628a4241770595"}
"""The mapping's digest for each MAPPING_VERSION: change the table, bump the version."""


def canonical(attributes: dict[str, Any]) -> dict[str, Any]:
    """The attributes after normalise, which must call them a model call."""
    assert normalise(attributes) is True
    return attributes


def test_mapping_changes_bump_the_version() -> None:
    """The aliases, operation hints and provider names hash to the digest of MAPPING_VERSION."""
    table = repr(
        (
            [(a.source, a.target, a.convert.__name__) for a in ALIASES],
            OPERATION_HINTS,
            sorted(PROVIDERS.items()),
        )
    )
    assert hashlib.sha256(table.encode()).hexdigest()[:16] == DIGESTS[MAPPING_VERSION]


SAMPLES = {
    "token_count": ("7", 7),
    "provider": ("xai", "x_ai"),
    "_text": ("model-1", "model-1"),
    "_number": (0.25, 0.25),
    "_ms_to_s": (250, 0.25),
    "_flag": ("true", True),
    "_reasons": ("stop", ["stop"]),
}


@pytest.mark.parametrize("alias", ALIASES, ids=lambda alias: alias.source)
def test_every_alias_fills_its_target(alias: usage.Alias) -> None:
    """Each entry of the table, alone on a chat span, fills its canonical key, converted."""
    raw, expected = SAMPLES[alias.convert.__name__]
    attributes = canonical({"gen_ai.operation.name": "chat", alias.source: raw})
    assert attributes[alias.target] == expected
    assert attributes[alias.source] == raw


def test_older_semconv_names() -> None:
    """GenAI conventions up to v1.36: gen_ai.system with its old values, prompt/completion
    tokens, the pre-rename cache write name; the operation is kept."""
    attributes = canonical(
        {
            "gen_ai.operation.name": "generate_content",
            "gen_ai.system": "vertex_ai",
            "gen_ai.request.model": "gemini-2.5-pro",
            "gen_ai.usage.prompt_tokens": 1200,
            "gen_ai.usage.completion_tokens": 80,
            "gen_ai.usage.cache_creation.input_tokens": 1000,
            "gen_ai.usage.reasoning_tokens": 40,
        }
    )
    assert attributes["gen_ai.provider.name"] == "gcp.vertex_ai"
    assert attributes["gen_ai.usage.input_tokens"] == 1200
    assert attributes["gen_ai.usage.output_tokens"] == 80
    assert attributes["gen_ai.usage.cache_write.input_tokens"] == 1000
    assert attributes["gen_ai.usage.reasoning.output_tokens"] == 40
    assert attributes["gen_ai.operation.name"] == "generate_content"
    assert attributes["gen_ai.system"] == "vertex_ai"


@pytest.mark.parametrize(
    ("system", "provider"),
    [("gemini", "gcp.gemini"), ("az.ai.openai", "azure.ai.openai"), ("xai", "x_ai"),
     ("az.ai.inference", "azure.ai.inference"), ("Anthropic", "anthropic"), ("ollama", "ollama")],
)  # fmt: skip
def test_old_provider_values(system: str, provider: str) -> None:
    """Old gen_ai.system values become the current provider names; unknown ones are lowercased."""
    attributes = canonical({"gen_ai.system": system, "gen_ai.request.model": "m", "gen_ai.usage.input_tokens": 1})  # fmt: skip
    assert attributes["gen_ai.provider.name"] == provider


def test_openllmetry() -> None:
    """OpenLLMetry: llm.request.type gives the operation, Anthropic-style cache names, indexed
    finish reasons, llm.is_streaming."""
    attributes = canonical(
        {
            "llm.request.type": "chat",
            "gen_ai.system": "Anthropic",
            "gen_ai.request.model": "claude-sonnet-4-5",
            "gen_ai.response.model": "claude-sonnet-4-5-20250929",
            "gen_ai.usage.prompt_tokens": 500,
            "gen_ai.usage.completion_tokens": 20,
            "gen_ai.usage.cache_read_input_tokens": 300,
            "gen_ai.usage.cache_creation_input_tokens": 100,
            "gen_ai.completion.0.finish_reason": "end_turn",
            "gen_ai.completion.1.finish_reason": "max_tokens",
            "llm.is_streaming": True,
        }
    )
    assert attributes["gen_ai.operation.name"] == "chat"
    assert attributes["gen_ai.provider.name"] == "anthropic"
    assert (attributes["gen_ai.usage.input_tokens"], attributes["gen_ai.usage.output_tokens"]) == (500, 20)  # fmt: skip
    assert attributes["gen_ai.usage.cache_read.input_tokens"] == 300
    assert attributes["gen_ai.usage.cache_write.input_tokens"] == 100
    assert attributes["gen_ai.response.finish_reasons"] == ["end_turn", "max_tokens"]
    assert attributes["gen_ai.request.stream"] is True


def test_openllmetry_before_gen_ai_names() -> None:
    """The first OpenLLMetry releases: llm.vendor, llm.request.model, llm.usage.*."""
    attributes = canonical(
        {
            "llm.request.type": "completion",
            "llm.vendor": "OpenAI",
            "llm.request.model": "gpt-3.5-turbo-instruct",
            "llm.usage.prompt_tokens": 9,
            "llm.usage.completion_tokens": 4,
            "llm.usage.total_tokens": 13,
        }
    )
    assert attributes["gen_ai.operation.name"] == "text_completion"
    assert attributes["gen_ai.provider.name"] == "openai"
    assert attributes["gen_ai.request.model"] == "gpt-3.5-turbo-instruct"
    assert (attributes["gen_ai.usage.input_tokens"], attributes["gen_ai.usage.output_tokens"]) == (9, 4)  # fmt: skip


def test_openinference_llm_and_embedding_spans() -> None:
    """OpenInference LLM spans are chat calls with llm.* names and a reported cost; EMBEDDING
    spans are embeddings calls named by embedding.model_name."""
    llm = canonical(
        {
            "openinference.span.kind": "LLM",
            "llm.provider": "mistralai",
            "llm.system": "mistralai",
            "llm.model_name": "mistral-large-latest",
            "llm.token_count.prompt": 40,
            "llm.token_count.completion": 12,
            "llm.token_count.total": 52,
            "llm.token_count.prompt_details.cache_read": 8,
            "llm.token_count.prompt_details.cache_write": 2,
            "llm.token_count.completion_details.reasoning": 5,
            "llm.finish_reason": "stop",
            "llm.cost.total": 0.0004,
        }
    )
    assert llm["gen_ai.operation.name"] == "chat"
    assert llm["gen_ai.provider.name"] == "mistral_ai"
    assert llm["gen_ai.request.model"] == "mistral-large-latest"
    assert (llm["gen_ai.usage.input_tokens"], llm["gen_ai.usage.output_tokens"]) == (40, 12)
    assert llm["gen_ai.usage.cache_read.input_tokens"] == 8
    assert llm["gen_ai.usage.cache_write.input_tokens"] == 2
    assert llm["gen_ai.usage.reasoning.output_tokens"] == 5
    assert llm["gen_ai.response.finish_reasons"] == ["stop"]
    assert llm["gen_ai.usage.cost"] == 0.0004
    embedding = canonical(
        {
            "openinference.span.kind": "EMBEDDING",
            "embedding.model_name": "text-embedding-3-small",
            "llm.provider": "openai",
        }
    )
    assert embedding["gen_ai.operation.name"] == "embeddings"
    assert embedding["gen_ai.request.model"] == "text-embedding-3-small"


def test_openlit() -> None:
    """OpenLIT: old provider values, is_stream, time to first token (s) and its cost."""
    attributes = canonical(
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.system": "az.ai.openai",
            "gen_ai.request.model": "gpt-4o",
            "gen_ai.usage.input_tokens": 10,
            "gen_ai.usage.output_tokens": 5,
            "gen_ai.usage.reasoning_tokens": 0,
            "gen_ai.request.is_stream": True,
            "gen_ai.server.ttft": 0.42,
            "gen_ai.server.tbt": 0.01,
            "gen_ai.usage.cost": 0.000075,
        }
    )
    assert attributes["gen_ai.provider.name"] == "azure.ai.openai"
    assert attributes["gen_ai.request.stream"] is True
    assert attributes["gen_ai.response.time_to_first_chunk"] == 0.42
    assert attributes["gen_ai.usage.reasoning.output_tokens"] == 0
    newer = canonical({"gen_ai.operation.name": "chat", "gen_ai.server.time_to_first_token": 1.5})
    assert newer["gen_ai.response.time_to_first_chunk"] == 1.5


def test_logfire_and_pydantic_ai() -> None:
    """Logfire/Pydantic AI: usage details and operation.cost on chat spans; the invoke_agent
    span that sums them is not a call and stays as it was."""
    chat = canonical(
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.system": "anthropic",
            "gen_ai.provider.name": "anthropic",
            "gen_ai.request.model": "claude-3-5-haiku-latest",
            "gen_ai.usage.input_tokens": 2000,
            "gen_ai.usage.output_tokens": 100,
            "gen_ai.usage.details.cache_read_tokens": 1500,
            "gen_ai.usage.details.cache_write_tokens": 400,
            "gen_ai.usage.details.reasoning_tokens": 30,
            "operation.cost": 0.0021,
        }
    )
    assert chat["gen_ai.usage.cache_read.input_tokens"] == 1500
    assert chat["gen_ai.usage.cache_write.input_tokens"] == 400
    assert chat["gen_ai.usage.reasoning.output_tokens"] == 30
    assert chat["gen_ai.usage.cost"] == 0.0021
    agent = {"gen_ai.operation.name": "invoke_agent", "gen_ai.usage.input_tokens": 2000, "operation.cost": 0.0021}  # fmt: skip
    before = copy.deepcopy(agent)
    assert normalise(agent) is False
    assert agent == before


def test_vercel_ai_sdk() -> None:
    """Vercel AI SDK: the doGenerate/doStream spans are calls (v4 and v5 usage names, ms to
    first chunk); the outer ai.streamText span repeating their usage is not."""
    v4 = canonical(
        {
            "ai.operationId": "ai.generateText.doGenerate",
            "ai.model.id": "gpt-4o-mini",
            "ai.model.provider": "openai.chat",
            "ai.response.model": "gpt-4o-mini-2024-07-18",
            "ai.usage.promptTokens": 30,
            "ai.usage.completionTokens": 7,
            "ai.response.finishReason": "stop",
        }
    )
    assert v4["gen_ai.operation.name"] == "chat"
    assert v4["gen_ai.provider.name"] == "openai"
    assert (v4["gen_ai.request.model"], v4["gen_ai.response.model"]) == ("gpt-4o-mini", "gpt-4o-mini-2024-07-18")  # fmt: skip
    assert (v4["gen_ai.usage.input_tokens"], v4["gen_ai.usage.output_tokens"]) == (30, 7)
    assert v4["gen_ai.response.finish_reasons"] == ["stop"]
    v5 = canonical(
        {
            "ai.operationId": "ai.streamText.doStream",
            "ai.model.id": "gemini-2.5-flash",
            "ai.model.provider": "google.vertex.chat",
            "ai.usage.inputTokens": 100,
            "ai.usage.outputTokens": 50,
            "ai.usage.cachedInputTokens": 60,
            "ai.usage.reasoningTokens": 20,
            "ai.response.msToFirstChunk": 350,
        }
    )
    assert v5["gen_ai.provider.name"] == "gcp.vertex_ai"
    assert (v5["gen_ai.usage.input_tokens"], v5["gen_ai.usage.cache_read.input_tokens"]) == (100, 60)  # fmt: skip
    assert v5["gen_ai.usage.reasoning.output_tokens"] == 20
    assert v5["gen_ai.response.time_to_first_chunk"] == 0.35
    outer = {"ai.operationId": "ai.streamText", "ai.model.id": "gemini-2.5-flash", "ai.usage.inputTokens": 100}  # fmt: skip
    assert normalise(outer) is False
    assert "gen_ai.request.model" not in outer


def test_canonical_keys_win() -> None:
    """A canonical key already present keeps its value over every alias; raw keys are kept."""
    attributes = canonical(
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "openai",
            "gen_ai.system": "anthropic",
            "gen_ai.request.model": "gpt-4o",
            "llm.model_name": "gpt-3.5",
            "gen_ai.usage.input_tokens": 10,
            "gen_ai.usage.prompt_tokens": 99,
            "gen_ai.usage.cost": 0.5,
            "operation.cost": 0.9,
        }
    )
    assert attributes["gen_ai.provider.name"] == "openai"
    assert attributes["gen_ai.request.model"] == "gpt-4o"
    assert attributes["gen_ai.usage.input_tokens"] == 10
    assert attributes["gen_ai.usage.cost"] == 0.5
    assert (attributes["gen_ai.system"], attributes["gen_ai.usage.prompt_tokens"]) == ("anthropic", 99)  # fmt: skip


def test_unusable_values_are_skipped() -> None:
    """A negative, fractional or non-numeric count is not copied; the next alias is tried."""
    attributes = canonical(
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.usage.prompt_tokens": "many",
            "llm.usage.prompt_tokens": 12,
            "gen_ai.usage.completion_tokens": -3,
            "gen_ai.usage.reasoning_tokens": 2.5,
        }
    )
    assert attributes["gen_ai.usage.input_tokens"] == 12
    assert "gen_ai.usage.output_tokens" not in attributes
    assert "gen_ai.usage.reasoning.output_tokens" not in attributes


@pytest.mark.parametrize(
    "attributes",
    [
        {},
        {"http.request.method": "POST", "http.route": "/chat", "http.response.status_code": 500},
        {"db.system": "postgresql", "db.statement": "SELECT 1", "error.type": "OperationalError"},
        {"openinference.span.kind": "CHAIN", "llm.model_name": "gpt-4o", "input.value": "hi"},
        {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "lookup"},
        {"llm.request.type": "rerank", "gen_ai.request.model": "rerank-v3.5"},
        {"gen_ai.request.model": "gpt-4o"},
        {"ai.feature": "search", "llm.custom": 1},
    ],
    ids=["empty", "http", "db", "chain", "tool", "rerank", "model-alone", "lookalike-keys"],
)
def test_spans_that_are_not_model_calls_are_untouched(attributes: dict[str, Any]) -> None:
    """HTTP, database, chain, tool and rerank spans, a model name alone, keys that only look
    like ours: normalise says no and changes nothing."""
    before = copy.deepcopy(attributes)
    assert normalise(attributes) is False
    assert attributes == before


def test_a_call_without_an_operation_needs_two_clues() -> None:
    """Without an operation a span is a call when it names two of model, provider, usage."""
    assert normalise({"gen_ai.request.model": "gpt-4o", "gen_ai.usage.input_tokens": 0})
    assert normalise({"gen_ai.system": "openai", "gen_ai.usage.completion_tokens": 3})
    assert not normalise({"gen_ai.system": "openai"})


@pytest.mark.parametrize(
    ("attributes", "kind"),
    [
        ({"error.type": "openai.RateLimitError"}, "rate_limit"),
        ({"error.type": "APITimeoutError"}, "timeout"),
        ({"error.type": "anthropic.APIConnectionError"}, "connection"),
        ({"error.type": "AuthenticationError"}, "auth"),
        ({"error.type": "BadRequestError"}, "bad_request"),
        ({"error.type": "InternalServerError"}, "server"),
        ({"error.type": "429"}, "rate_limit"),
        ({"exception.type": "httpx.ConnectTimeout"}, "timeout"),
        ({"exception.type": "google.api_core.exceptions.ResourceExhausted"}, "rate_limit"),
        ({"http.response.status_code": 529}, "server"),
        ({"error.type": "_OTHER", "http.response.status_code": 401}, "auth"),
        ({"error.type": "WeirdError"}, "other"),
    ],
)
def test_error_kinds(attributes: dict[str, Any], kind: str) -> None:
    """A failed call's error.type, exception type or HTTP status becomes an error kind; the raw
    error.type is kept under watchkeeper.error.raw_type."""
    call = canonical({"gen_ai.operation.name": "chat", **attributes})
    assert call["error.type"] == kind
    if "error.type" in attributes:
        assert call["watchkeeper.error.raw_type"] == attributes["error.type"]


def test_an_error_kind_already_given_is_kept() -> None:
    """error.type that is a kind already (our SDK's) stays, whatever the status says."""
    call = canonical({"gen_ai.operation.name": "chat", "error.type": "timeout", "http.response.status_code": 500})  # fmt: skip
    assert call["error.type"] == "timeout"
    assert "watchkeeper.error.raw_type" not in call
    ok = canonical({"gen_ai.operation.name": "chat", "http.response.status_code": 200})
    assert "error.type" not in ok


@pytest.mark.parametrize(
    "attributes",
    [
        {"gen_ai.operation.name": ["chat"], "gen_ai.request.model": "m"},
        {"gen_ai.provider.name": ["openai"], "gen_ai.request.model": "m", "gen_ai.usage.input_tokens": 1},
        {"gen_ai.operation.name": "chat", "error.type": ["a", "b"], "exception.type": 3},
        {"gen_ai.operation.name": "chat", "gen_ai.system": 7, "llm.model_name": ["x"], "ai.usage.inputTokens": [1]},
        {"openinference.span.kind": ["LLM"], "llm.model_name": "m"},
    ],
    ids=["list-operation", "list-provider", "list-error", "odd-aliases", "list-hint"],
)  # fmt: skip
def test_odd_value_types_never_raise(attributes: dict[str, Any]) -> None:
    """Lists and numbers where text is expected neither raise nor become canonical values."""
    normalise(attributes)
    assert not isinstance(attributes.get("gen_ai.request.model"), list)
    assert not isinstance(attributes.get("gen_ai.usage.input_tokens"), list)
