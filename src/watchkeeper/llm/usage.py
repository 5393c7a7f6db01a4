"""Other instrumentations' LLM attributes under the OpenTelemetry GenAI names (R-LLM2).

LLM calls arrive from our SDK, but also from OpenLLMetry (Traceloop), OpenInference (Phoenix),
OpenLIT, Logfire and Pydantic AI, the Vercel AI SDK and older versions of the GenAI conventions,
each with its own names. :func:`normalise` adds the current name for every value it finds under
another one, so the writer fills the ``gen_ai_*`` columns (store/base.py ``DERIVED``) alike for
all of them. Canonical keys already present win and the raw keys are kept. The names are data,
:data:`ALIASES` and :data:`OPERATION_HINTS`, each checked against the project's own source; bump
:data:`MAPPING_VERSION` when an entry changes meaning.

>>> attributes = {"llm.request.type": "chat", "gen_ai.system": "gemini",
...               "gen_ai.request.model": "gemini-2.5-flash", "gen_ai.usage.prompt_tokens": 12}
>>> normalise(attributes)
True
>>> attributes["gen_ai.operation.name"], attributes["gen_ai.provider.name"]
('chat', 'gcp.gemini')
>>> attributes["gen_ai.usage.input_tokens"]
12
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from watchkeeper.llm.errors import ERROR_KINDS, error_kind

MAPPING_VERSION: Final = 1
"""Version of the mapping below; bumped (and its test's digest updated) when an entry changes."""

CALL_OPERATIONS: Final = frozenset({"chat", "text_completion", "generate_content", "embeddings"})
"""Operations that are one model call. Agent, tool and workflow spans (``invoke_agent`` …) wrap
calls and often repeat their usage, so they are left alone: their tokens would count twice."""

SEMCONV_PROVIDERS: Final = (
    "openai", "anthropic", "gcp.gemini", "gcp.vertex_ai", "gcp.gen_ai", "aws.bedrock",
    "azure.ai.openai", "azure.ai.inference", "mistral_ai", "groq", "deepseek", "cohere", "x_ai",
    "perplexity", "ibm.watsonx.ai", "moonshot_ai",
)  # fmt: skip
"""The ``gen_ai.provider.name`` values of the GenAI conventions."""

PROVIDERS: Final[dict[str, str]] = {
    **{name: name for name in SEMCONV_PROVIDERS},
    # gen_ai.system values up to semconv v1.36 (OpenLIT's SemanticConvention.GEN_AI_SYSTEM_*).
    "gemini": "gcp.gemini", "vertex_ai": "gcp.vertex_ai", "az.ai.openai": "azure.ai.openai",
    "az.ai.inference": "azure.ai.inference", "xai": "x_ai", "ibm.watson.ai": "ibm.watsonx.ai",
    # OpenInference llm.provider / llm.system values (OpenInferenceLLMProviderValues).
    "google": "gcp.gen_ai", "vertexai": "gcp.vertex_ai", "azure": "azure.ai.openai",
    "aws": "aws.bedrock", "mistralai": "mistral_ai", "moonshot": "moonshot_ai",
    # OpenLLMetry gen_ai.system spellings ("Anthropic", "Watsonx", "AWS" once lowercased).
    "watsonx": "ibm.watsonx.ai", "bedrock": "aws.bedrock",
    # Vercel AI SDK ai.model.provider: "<provider>.<api>", e.g. openai.chat, google.vertex.chat.
    "google.generative-ai": "gcp.gemini", "google.vertex": "gcp.vertex_ai",
    "vertex": "gcp.vertex_ai", "amazon-bedrock": "aws.bedrock", "azure-openai": "azure.ai.openai",
    "mistral": "mistral_ai", "moonshotai": "moonshot_ai",
}  # fmt: skip
"""Provider names as sent → ``gen_ai.provider.name`` values; others are kept, lowercased."""


def provider(value: Any) -> str | None:
    """The semconv provider name for a provider as some instrumentation spells it.

    >>> provider("az.ai.openai"), provider("openai.chat"), provider("Ollama")
    ('azure.ai.openai', 'openai', 'ollama')
    """
    if not isinstance(value, str) or not value.strip():
        return None
    name = value.strip().lower()
    found = PROVIDERS.get(name)
    while found is None and "." in name:
        name = name.rpartition(".")[0]
        found = PROVIDERS.get(name)
    return found or value.strip().lower()


def token_count(value: Any) -> int | None:
    """A token count: a whole number ≥ 0 (from int, float or text), else None.

    >>> token_count(12), token_count("12"), token_count(12.0), token_count(-1), token_count(True)
    (12, 12, 12, None, None)
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    elif isinstance(value, str):
        value = int(value) if value.strip().isdigit() else None
    return value if isinstance(value, int) and value >= 0 else None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) and number >= 0 else None


def _ms_to_s(value: Any) -> float | None:
    number = _number(value)
    return None if number is None else number / 1000


def _flag(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    return {"true": True, "false": False}.get(str(value).lower())


def _reasons(value: Any) -> list[str] | None:
    if isinstance(value, str) and value:
        return [value]
    if isinstance(value, list) and value:
        return [str(item) for item in value]
    return None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


@dataclass(frozen=True, slots=True)
class Alias:
    """``source``, as another instrumentation names a value, fills canonical ``target``."""

    source: str
    target: str
    convert: Callable[[Any], Any] = _text


_PROVIDER: Final = "gen_ai.provider.name"
_REQUEST, _RESPONSE = "gen_ai.request.model", "gen_ai.response.model"
_INPUT, _OUTPUT = "gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens"
_CACHE_READ: Final = "gen_ai.usage.cache_read.input_tokens"
_CACHE_WRITE: Final = "gen_ai.usage.cache_write.input_tokens"
_REASONING: Final = "gen_ai.usage.reasoning.output_tokens"
_FINISH, _STREAM = "gen_ai.response.finish_reasons", "gen_ai.request.stream"
_TTFT, _COST = "gen_ai.response.time_to_first_chunk", "gen_ai.usage.cost"

ALIASES: Final[tuple[Alias, ...]] = (
    # OpenTelemetry GenAI conventions up to v1.36 (gen_ai.system), their pre-rename cache write
    # name (semantic-conventions-genai #440), and the names OpenLLMetry's semconv_ai
    # SpanAttributes used (LLM_USAGE_PROMPT_TOKENS, ..._CACHE_CREATION_INPUT_TOKENS,
    # ..._REASONING_TOKENS, LLM_RESPONSE_FINISH_REASON); OpenLIT sends the same token names.
    Alias("gen_ai.system", _PROVIDER, provider),
    Alias("gen_ai.usage.prompt_tokens", _INPUT, token_count),
    Alias("gen_ai.usage.completion_tokens", _OUTPUT, token_count),
    Alias("gen_ai.usage.cache_read_input_tokens", _CACHE_READ, token_count),
    Alias("gen_ai.usage.cache_creation.input_tokens", _CACHE_WRITE, token_count),
    Alias("gen_ai.usage.cache_creation_input_tokens", _CACHE_WRITE, token_count),
    Alias("gen_ai.usage.reasoning_tokens", _REASONING, token_count),
    Alias("gen_ai.response.finish_reason", _FINISH, _reasons),
    Alias("gen_ai.request.streaming", _STREAM, _flag),
    # OpenLLMetry before the gen_ai names: llm.vendor, llm.request.model, llm.usage.*, and its
    # llm.* extras (LLM_IS_STREAMING, LLM_RESPONSE_FINISH_REASON).
    Alias("llm.vendor", _PROVIDER, provider),
    Alias("llm.request.model", _REQUEST),
    Alias("llm.response.model", _RESPONSE),
    Alias("llm.usage.prompt_tokens", _INPUT, token_count),
    Alias("llm.usage.completion_tokens", _OUTPUT, token_count),
    Alias("llm.is_streaming", _STREAM, _flag),
    Alias("llm.response.finish_reason", _FINISH, _reasons),
    # OpenInference (openinference-semantic-conventions SpanAttributes): llm.provider (or the
    # older llm.system), llm.model_name / llm.request.model_name / llm.response.model_name,
    # embedding.model_name, llm.token_count.*, llm.finish_reason, llm.cost.total (USD).
    Alias("llm.provider", _PROVIDER, provider),
    Alias("llm.system", _PROVIDER, provider),
    Alias("llm.request.model_name", _REQUEST),
    Alias("llm.model_name", _REQUEST),
    Alias("embedding.model_name", _REQUEST),
    Alias("llm.response.model_name", _RESPONSE),
    Alias("llm.token_count.prompt", _INPUT, token_count),
    Alias("llm.token_count.completion", _OUTPUT, token_count),
    Alias("llm.token_count.prompt_details.cache_read", _CACHE_READ, token_count),
    Alias("llm.token_count.prompt_details.cache_write", _CACHE_WRITE, token_count),
    Alias("llm.token_count.completion_details.reasoning", _REASONING, token_count),
    Alias("llm.finish_reason", _FINISH, _reasons),
    Alias("llm.cost.total", _COST, _number),
    # OpenLIT (SemanticConvention): GEN_AI_REQUEST_IS_STREAM, GEN_AI_SERVER_TTFT (seconds; was
    # gen_ai.server.ttft, now gen_ai.server.time_to_first_token); its cost is gen_ai.usage.cost.
    Alias("gen_ai.request.is_stream", _STREAM, _flag),
    Alias("gen_ai.server.time_to_first_token", _TTFT, _number),
    Alias("gen_ai.server.ttft", _TTFT, _number),
    # Logfire and Pydantic AI (RunUsage.opentelemetry_attributes, InstrumentedModel): details
    # under gen_ai.usage.details.*, the price genai-prices gave as operation.cost (USD).
    Alias("gen_ai.usage.details.cache_read_tokens", _CACHE_READ, token_count),
    Alias("gen_ai.usage.details.cache_write_tokens", _CACHE_WRITE, token_count),
    Alias("gen_ai.usage.details.reasoning_tokens", _REASONING, token_count),
    Alias("operation.cost", _COST, _number),
    # Vercel AI SDK telemetry (ai.*): v4 promptTokens/completionTokens, v5+ inputTokens/
    # outputTokens with cachedInputTokens, reasoningTokens and *TokenDetails; msToFirstChunk (ms).
    Alias("ai.model.provider", _PROVIDER, provider),
    Alias("ai.model.id", _REQUEST),
    Alias("ai.response.model", _RESPONSE),
    Alias("ai.usage.inputTokens", _INPUT, token_count),
    Alias("ai.usage.promptTokens", _INPUT, token_count),
    Alias("ai.usage.outputTokens", _OUTPUT, token_count),
    Alias("ai.usage.completionTokens", _OUTPUT, token_count),
    Alias("ai.usage.inputTokenDetails.cacheReadTokens", _CACHE_READ, token_count),
    Alias("ai.usage.cachedInputTokens", _CACHE_READ, token_count),
    Alias("ai.usage.inputTokenDetails.cacheWriteTokens", _CACHE_WRITE, token_count),
    Alias("ai.usage.outputTokenDetails.reasoningTokens", _REASONING, token_count),
    Alias("ai.usage.reasoningTokens", _REASONING, token_count),
    Alias("ai.response.finishReason", _FINISH, _reasons),
    Alias("ai.response.msToFirstChunk", _TTFT, _ms_to_s),
)
"""Every other name of a canonical attribute, grouped by source; for one target the first
present (in this order) with a usable value wins."""

OPERATION_HINTS: Final[tuple[tuple[str, dict[str, str]], ...]] = (
    # OpenLLMetry LLMRequestTypeValues; rerank and unknown are not model calls we price.
    (
        "llm.request.type",
        {"chat": "chat", "completion": "text_completion", "embedding": "embeddings"},
    ),
    # OpenInference span kinds: only LLM and EMBEDDING spans are calls (CHAIN, AGENT… wrap them).
    ("openinference.span.kind", {"LLM": "chat", "EMBEDDING": "embeddings"}),
    # Vercel AI SDK: the do* spans are the provider calls; the outer ai.generateText (…) span
    # around them repeats their usage.
    (
        "ai.operationId",
        {
            "ai.generateText.doGenerate": "chat", "ai.streamText.doStream": "chat",
            "ai.generateObject.doGenerate": "chat", "ai.streamObject.doStream": "chat",
            "ai.embed.doEmbed": "embeddings", "ai.embedMany.doEmbed": "embeddings",
        },
    ),
)  # fmt: skip
"""Keys that say what a span is when ``gen_ai.operation.name`` is missing: key → its value →
operation. A span with one of these keys and a value not listed is not a model call."""


def _sources(*targets: str) -> tuple[str, ...]:
    return (*targets, *(alias.source for alias in ALIASES if alias.target in targets))


_MODEL_KEYS: Final = _sources(_REQUEST, _RESPONSE)
_PROVIDER_KEYS: Final = _sources(_PROVIDER)
_TOKEN_KEYS: Final = _sources(_INPUT, _OUTPUT)
MARKERS: Final = frozenset(
    {"gen_ai.operation.name", *(key for key, _ in OPERATION_HINTS), *_MODEL_KEYS, *_PROVIDER_KEYS}
)
"""Every LLM call has one of these keys: it says what it is or names its model or provider. A
span with none is not one, and finding that out (a set lookup per key, in C) is all such a span
costs: ingest runs ≥ 50,000 records/s."""
_BY_SOURCE: Final = {alias.source: alias for alias in ALIASES}
_RANK: Final = {alias.source: rank for rank, alias in enumerate(ALIASES)}
_SOURCES: Final = frozenset(_BY_SOURCE)
_CANONICAL_PROVIDERS: Final = frozenset(SEMCONV_PROVIDERS)
_ERROR_KEYS: Final = frozenset(
    {"error.type", "exception.type", "http.response.status_code", "http.status_code"}
)


def normalise(attributes: dict[str, Any]) -> bool:
    """Add the canonical GenAI attributes of an LLM call found under other names; return whether
    ``attributes`` are those of a model call (left untouched when not).

    >>> attributes = {"openinference.span.kind": "LLM", "llm.model_name": "gpt-4o",
    ...               "llm.token_count.prompt": 10, "llm.token_count.completion": 3}
    >>> normalise(attributes), attributes["gen_ai.request.model"]
    (True, 'gpt-4o')
    >>> normalise({"http.route": "/chat", "http.request.method": "POST"})
    False
    """
    if MARKERS.isdisjoint(attributes):
        return False
    operation = attributes.get("gen_ai.operation.name")
    if operation is None:
        for key, operations in OPERATION_HINTS:
            hint = attributes.get(key)
            if hint is not None:
                operation = operations.get(str(hint))
                if operation is None:
                    return False
                attributes["gen_ai.operation.name"] = operation
                break
        else:
            # Without an operation, a call names at least two of its model, provider and usage.
            found = (
                any(attributes.get(key) for key in _MODEL_KEYS),
                any(attributes.get(key) for key in _PROVIDER_KEYS),
                any(key in attributes for key in _TOKEN_KEYS),
            )
            if sum(found) < 2:
                return False
    elif not isinstance(operation, str) or operation not in CALL_OPERATIONS:
        return False
    _fill(attributes)
    return True


def _fill(attributes: dict[str, Any]) -> None:
    """The canonical keys missing from an LLM call's ``attributes``, from their aliases."""
    present = _SOURCES.intersection(attributes)
    for source in sorted(present, key=_RANK.__getitem__) if len(present) > 1 else present:
        alias = _BY_SOURCE[source]
        if alias.target not in attributes:
            value = alias.convert(attributes[source])
            if value is not None:
                attributes[alias.target] = value
    spelled = attributes.get(_PROVIDER)
    if isinstance(spelled, str) and spelled not in _CANONICAL_PROVIDERS:
        attributes[_PROVIDER] = provider(spelled) or spelled
    if _FINISH not in attributes and "gen_ai.completion.0.finish_reason" in attributes:
        # OpenLLMetry's indexed completions: gen_ai.completion.<n>.finish_reason, n from 0.
        reasons: list[str] = []
        while (
            reason := attributes.get(f"gen_ai.completion.{len(reasons)}.finish_reason")
        ) is not None:
            reasons.append(str(reason))
        attributes[_FINISH] = reasons
    raw_type = attributes.get("error.type")
    known = isinstance(raw_type, str) and raw_type in ERROR_KINDS
    if not known and not _ERROR_KEYS.isdisjoint(attributes):
        kind = error_kind(
            raw_type,
            attributes.get("exception.type"),
            attributes.get("http.response.status_code", attributes.get("http.status_code")),
        )
        if kind is not None:
            if raw_type is not None:
                attributes["watchkeeper.error.raw_type"] = raw_type
            attributes["error.type"] = kind
