"""LLM calls traced the OpenInference way and the OpenLLMetry way, sent by the unmodified
OpenTelemetry SDK over OTLP/HTTP to ``watchkeeper serve``, come back from the read API with the
GenAI columns filled and the cost genai-prices gives."""

from __future__ import annotations

import json
import urllib.request
from datetime import UTC, datetime
from typing import Any

import pytest
from genai_prices import Usage, calc_price
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind, StatusCode
from tests.e2e.conftest import Server

OPENINFERENCE = {
    "openinference.span.kind": "LLM",
    "llm.provider": "anthropic",
    "llm.system": "anthropic",
    "llm.model_name": "claude-3-5-sonnet-20240620",
    "llm.token_count.prompt": 5200,
    "llm.token_count.completion": 310,
    "llm.token_count.total": 5510,
    "llm.token_count.prompt_details.cache_read": 4000,
    "llm.token_count.prompt_details.cache_write": 1000,
    "input.value": "What is the capital of France?",
    "session.id": "s-1",
}
OPENLLMETRY = {
    "llm.request.type": "chat",
    "gen_ai.system": "openai",
    "gen_ai.request.model": "gpt-4o-mini",
    "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
    "gen_ai.usage.prompt_tokens": 1800,
    "gen_ai.usage.completion_tokens": 90,
    "gen_ai.usage.cache_read_input_tokens": 1024,
    "llm.usage.total_tokens": 1890,
    "gen_ai.completion.0.finish_reason": "stop",
    "llm.is_streaming": False,
    "feature": "answer",
}


def spans(server: Server) -> dict[str, dict[str, Any]]:
    request = urllib.request.Request(
        f"{server.url}/api/v1/records?kind=span&limit=100",
        headers={"Authorization": f"Bearer {server.read_token}"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return {span["name"]: span for span in json.load(response)["records"]}


def genai_cost(model: str, provider: str, ts_ns: int, **usage: int) -> float:
    """What genai-prices' own calc_price says the call cost."""
    when = datetime.fromtimestamp(ts_ns / 1e9, tz=UTC)
    price = calc_price(Usage(**usage), model, provider_id=provider, genai_request_timestamp=when)
    return float(price.total_price)


def test_openinference_and_openllmetry_calls_are_priced(server: Server) -> None:
    """Both instrumentations' calls are stored with provider, model, tokens, cache tokens, the
    operation and a computed cost equal to genai-prices'; a failed call gets an error kind and
    a span that is not a call none of it."""
    exporter = OTLPSpanExporter(
        f"{server.url}/v1/traces", headers={"Authorization": f"Bearer {server.ingest_key}"}
    )
    tracing = TracerProvider(resource=Resource.create({"service.name": "rag-bot"}))
    tracing.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = tracing.get_tracer("e2e.llm")
    try:
        with tracer.start_as_current_span("handle", kind=SpanKind.SERVER):
            with tracer.start_as_current_span("ChatAnthropic", attributes=OPENINFERENCE) as oi:
                pass
            with tracer.start_as_current_span(
                "openai.chat", kind=SpanKind.CLIENT, attributes=OPENLLMETRY
            ) as ol:
                pass
            with tracer.start_as_current_span(
                "openai.chat retry", kind=SpanKind.CLIENT,
                attributes={**OPENLLMETRY, "gen_ai.usage.prompt_tokens": 0,
                            "gen_ai.usage.completion_tokens": 0},
            ) as failed:  # fmt: skip
                failed.record_exception(RuntimeError("429 Too Many Requests"))
                failed.set_attribute("error.type", "openai.RateLimitError")
                failed.set_status(StatusCode.ERROR)
        assert tracing.force_flush(10_000)
    finally:
        tracing.shutdown()

    stored = spans(server)
    anthropic = stored["ChatAnthropic"]
    assert (anthropic["gen_ai_operation"], anthropic["gen_ai_provider"]) == ("chat", "anthropic")
    assert anthropic["gen_ai_request_model"] == "claude-3-5-sonnet-20240620"
    assert (anthropic["gen_ai_input_tokens"], anthropic["gen_ai_output_tokens"]) == (5200, 310)
    assert (anthropic["gen_ai_cache_read_tokens"], anthropic["gen_ai_cache_write_tokens"]) == (4000, 1000)  # fmt: skip
    assert anthropic["gen_ai_cost_source"] == "computed"
    assert anthropic["gen_ai_cost_usd"] == pytest.approx(genai_cost(
        "claude-3-5-sonnet-20240620", "anthropic", oi.start_time or 0,
        input_tokens=5200, output_tokens=310, cache_read_tokens=4000, cache_write_tokens=1000,
    ), rel=1e-12)  # fmt: skip
    assert anthropic["attributes"]["gen_ai.usage.cost"] == anthropic["gen_ai_cost_usd"]
    assert anthropic["attributes"]["llm.token_count.total"] == 5510

    openai = stored["openai.chat"]
    assert (openai["gen_ai_operation"], openai["gen_ai_provider"]) == ("chat", "openai")
    assert (openai["gen_ai_request_model"], openai["gen_ai_response_model"]) == ("gpt-4o-mini", "gpt-4o-mini-2024-07-18")  # fmt: skip
    assert (openai["gen_ai_input_tokens"], openai["gen_ai_output_tokens"], openai["gen_ai_cache_read_tokens"]) == (1800, 90, 1024)  # fmt: skip
    assert (openai["gen_ai_cost_source"], openai["feature"]) == ("computed", "answer")
    assert openai["gen_ai_cost_usd"] == pytest.approx(genai_cost(
        "gpt-4o-mini-2024-07-18", "openai", ol.start_time or 0,
        input_tokens=1800, output_tokens=90, cache_read_tokens=1024,
    ), rel=1e-12)  # fmt: skip
    assert openai["attributes"]["gen_ai.response.finish_reasons"] == ["stop"]
    assert openai["attributes"]["gen_ai.request.stream"] is False

    retry = stored["openai.chat retry"]
    assert (retry["status"], retry["gen_ai_error_type"]) == ("error", "rate_limit")
    assert retry["attributes"]["watchkeeper.error.raw_type"] == "openai.RateLimitError"
    handle = stored["handle"]
    assert "gen_ai_cost_source" not in handle and "gen_ai_provider" not in handle
