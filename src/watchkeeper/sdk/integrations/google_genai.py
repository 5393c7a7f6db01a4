"""Google Gen AI (Gemini API and Vertex AI): ``generate_content`` and
``generate_content_stream``, sync (``client.models``) and async (``client.aio.models``).

>>> client = watchkeeper.instrument(genai.Client(api_key="..."))  # doctest: +SKIP

The provider is ``gcp.gemini``, or ``gcp.vertex_ai`` for a client in Vertex AI mode. The client
retries through tenacity around its ``_request_once`` (one per HTTP attempt), called from
``_request`` (one per request, and a call may make several: automatic function calling and
continuation): ``watchkeeper.retries`` is attempts minus requests. Gemini counts thinking
tokens apart from candidate tokens; ``gen_ai.usage.output_tokens`` adds them, as the semantic
conventions ask. A stream is a generator: the one returned yields the same chunks, seen on the
way; its request starts when the first chunk is asked for.
"""

from __future__ import annotations

import inspect
import json
import weakref
from collections.abc import Callable, Mapping
from typing import Any, Final

from watchkeeper.sdk.integrations.llm import (
    MARK,
    Adapter,
    Call,
    Content,
    Message,
    Settings,
    address_of,
    count_attempt,
    end_when_dropped,
    field,
    mark,
    observe,
    observe_async,
    patch,
    set_params,
    text_part,
    wrap,
)

_INFO: Final = "_watchkeeper_llm"


class GenerateAdapter(Adapter):
    """``models.generate_content``."""

    operation = "generate_content"
    source = "genai"

    def describe(self, owner: Any) -> tuple[str, str | None, int | None]:
        api = owner._api_client
        info: tuple[str, str | None, int | None] | None = api.__dict__.get(_INFO)
        if info is None:
            provider = "gcp.vertex_ai" if api.vertexai else "gcp.gemini"
            base_url = getattr(api._http_options, "base_url", None)
            info = (provider, *address_of(base_url)) if base_url else (provider, None, None)
            hook_attempts(api)
            api.__dict__[_INFO] = info
        return info

    def request(self, kwargs: Mapping[str, Any], attributes: dict[str, object]) -> str:
        config = kwargs.get("config")
        if config is not None:
            set_params(config, attributes, _PARAMS)
        return str(kwargs.get("model") or "")

    def response(self, call: Call, result: Any) -> None:
        attributes = call.attributes
        for key, name in (("gen_ai.response.id", "response_id"),
                          ("gen_ai.response.model", "model_version")):  # fmt: skip
            value = getattr(result, name, None)
            if type(value) is str:
                attributes[key] = value
        for index, candidate in enumerate(getattr(result, "candidates", None) or ()):
            reason = candidate.finish_reason
            if reason is not None:
                call.set_finish_reason(str(getattr(reason, "value", reason)).lower(), index)
        usage = getattr(result, "usage_metadata", None)
        if usage is not None:
            prompt, tools = usage.prompt_token_count, usage.tool_use_prompt_token_count
            output, thoughts = usage.candidates_token_count, usage.thoughts_token_count
            if prompt is not None and tools:
                prompt += tools
            if thoughts:
                output = (output or 0) + thoughts
            call.set_usage(prompt, output, usage.cached_content_token_count, None, thoughts)

    def chunk(self, call: Call, item: Any) -> None:
        if call.ttft is None:
            call.first_chunk()
        self.response(call, item)  # each chunk's usage is the running total
        if call.output is not None:
            for candidate in (getattr(item, "candidates", None) or ())[:1]:
                for part in getattr(candidate.content, "parts", None) or ():
                    if part.text and not part.thought:
                        call.output.append(part.text)

    def stream(self, call: Call, result: Any) -> Any:
        if call.capture:
            call.output = []
        if hasattr(result, "__anext__"):
            observed: Any = observe_async(result, call)
            end_when_dropped(observed, call)
        elif hasattr(result, "__next__"):
            observed = observe(result, call)  # ends the call when dropped
        else:
            return None
        return observed

    def content(self, call: Call) -> None:
        attributes = call.attributes
        inputs = call.inputs or {}
        attributes["gen_ai.input.messages"] = Content(_contents, inputs.get("contents"))
        system = field(inputs.get("config"), "system_instruction")
        if system:
            attributes["gen_ai.system_instructions"] = Content(_system, system)
        if call.output is not None:
            attributes["gen_ai.output.messages"] = Content(
                _outputs, call.output, list(call.finish_reasons)
            )


class _StreamAdapter(GenerateAdapter):
    """``models.generate_content_stream``."""

    streams = True


_PARAMS: Final = {
    "max_output_tokens": "gen_ai.request.max_tokens",
    "temperature": "gen_ai.request.temperature",
    "top_p": "gen_ai.request.top_p",
    "top_k": "gen_ai.request.top_k",
    "seed": "gen_ai.request.seed",
}
GENERATE: Final = GenerateAdapter()
GENERATE_STREAM: Final = _StreamAdapter()


def hook_attempts(api: Any) -> None:
    """Count the requests and HTTP attempts of one ``BaseApiClient`` (sync and async)."""
    ref = weakref.ref(api)
    for name, request in (
        ("_request", True),
        ("_request_once", False),
        ("_async_request", True),
        ("_async_request_once", False),
    ):
        method = getattr(type(api), name, None)
        if method is None or getattr(api.__dict__.get(name), MARK, False):
            continue
        setattr(api, name, mark(_counting(method, ref, request), method))


def _counting(method: Callable[..., Any], ref: Any, request: bool) -> Callable[..., Any]:
    # tenacity awaits what an `async def` returns, and calls anything else: keep the kind.
    if inspect.iscoroutinefunction(method):

        async def counted_async(*args: Any, **kwargs: Any) -> Any:
            count_attempt("genai", request)
            return await method(ref(), *args, **kwargs)

        return counted_async

    def counted(*args: Any, **kwargs: Any) -> Any:
        count_attempt("genai", request)
        return method(ref(), *args, **kwargs)

    return counted


# -- content ---------------------------------------------------------------------------------


def _part(part: Any) -> dict[str, Any]:
    if isinstance(part, str):
        return text_part(part)
    text = field(part, "text")
    if isinstance(text, str):
        return {"type": "reasoning", "content": text} if field(part, "thought") else text_part(text)
    call = field(part, "function_call")
    if call is not None:
        arguments = json.dumps(field(call, "args"), default=str)
        return {"type": "tool_call", "id": field(call, "id"), "name": field(call, "name"),
                "arguments": arguments}  # fmt: skip
    answer = field(part, "function_response")
    if answer is not None:
        response = json.dumps(field(answer, "response"), default=str)
        return {"type": "tool_call_response", "id": field(answer, "id"), "response": response}
    return {"type": "blob" if field(part, "inline_data") is not None else "file"}


def _contents(contents: Any) -> list[Message]:
    """What ``contents`` may be: a string, a part, a content, or a list of them; loose strings
    and parts make one user message, as the client makes of them."""
    items = contents if isinstance(contents, list) else [contents]
    out: list[Message] = []
    loose: list[dict[str, Any]] = []
    for item in items:
        parts = None if isinstance(item, str) else field(item, "parts")
        if parts is None:
            loose.append(_part(item))
            continue
        if loose:
            out.append({"role": "user", "parts": loose})
            loose = []
        role = field(item, "role") or "user"
        out.append({"role": "assistant" if role == "model" else role,
                    "parts": [_part(part) for part in parts]})  # fmt: skip
    if loose:
        out.append({"role": "user", "parts": loose})
    return out


def _system(system: Any) -> list[dict[str, Any]]:
    return [part for message in _contents(system) for part in message["parts"]]


def _outputs(output: Any, reasons: list[str]) -> list[Message]:
    reason = reasons[0] if reasons else ""
    if isinstance(output, list):
        return [
            {"role": "assistant", "parts": [text_part("".join(output))], "finish_reason": reason}
        ]
    messages = []
    for index, candidate in enumerate(getattr(output, "candidates", None) or ()):
        parts = getattr(candidate.content, "parts", None) or ()
        finish = reasons[index] if index < len(reasons) else ""
        messages.append({"role": "assistant", "parts": [_part(p) for p in parts],
                         "finish_reason": finish})  # fmt: skip
    return messages


# -- wiring ----------------------------------------------------------------------------------

_METHODS: Final = (("generate_content", GENERATE), ("generate_content_stream", GENERATE_STREAM))


def instrument_client(client: Any, settings: Settings) -> bool:
    """Wrap the methods of one ``genai.Client`` (its ``models`` and ``aio.models``); False
    when ``client`` is none."""
    from google.genai import client as genai  # noqa: PLC0415 - the app's dependency

    if not isinstance(client, genai.Client):
        return False
    for models in (client.models, client.aio.models):
        ref = weakref.ref(models)

        def owner(args: tuple[Any, ...], ref: Any = ref) -> Any:
            return ref()

        for name, adapter in _METHODS:
            patch(models, name, _wrapper(adapter, settings, owner))
    GENERATE.describe(client.models)
    return True


def instrument_classes(settings: Settings) -> None:
    """Wrap the methods of every client, present and future (``instrument_llms()``)."""
    from google.genai import models  # noqa: PLC0415

    for cls in (models.Models, models.AsyncModels):
        for name, adapter in _METHODS:
            patch(cls, name, _wrapper(adapter, settings, _resource))


def _resource(args: tuple[Any, ...]) -> Any:
    return args[0]


def _wrapper(
    adapter: Adapter, settings: Settings, owner: Callable[[tuple[Any, ...]], Any]
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    return lambda original: wrap(original, adapter, settings, owner)
