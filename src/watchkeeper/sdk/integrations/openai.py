"""OpenAI and Azure OpenAI: chat completions, the Responses API and embeddings, as LLM spans.

>>> client = watchkeeper.instrument(openai.OpenAI())  # doctest: +SKIP

Wrapped: ``chat.completions.create``/``parse``, ``responses.create``/``parse`` and
``embeddings.create``, sync and async; the ``stream()`` helpers and ``with_raw_response`` go
through ``create``. The openai and anthropic clients share one generated base (Stainless), so
the helpers below serve both: HTTP attempts are counted by the client's ``_prepare_request``,
which its retry loop calls once per attempt (its docstring invites overriding it), and a
returned ``Stream`` keeps its identity: its ``_iterator`` and ``close`` are observed in place.
Token counts of a stream come only from what the provider sends: a chat completion stream
carries usage only when the app asked with ``stream_options={"include_usage": True}``.
"""

from __future__ import annotations

import inspect
import weakref
from collections.abc import Callable, Mapping
from typing import Any, Final

from watchkeeper.sdk.integrations import warn_once
from watchkeeper.sdk.integrations.llm import (
    _ACTIVE,
    MARK,
    Adapter,
    Call,
    Content,
    Message,
    Settings,
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
"""Where a client object keeps ``(provider, address, port)``, once its hooks are installed."""


class StainlessAdapter(Adapter):
    """The parts of an adapter common to the openai and anthropic clients."""

    source = "stainless"

    def provider(self, client: Any) -> str:
        return "openai"

    def describe(self, owner: Any) -> tuple[str, str | None, int | None]:
        info: tuple[str, str | None, int | None] | None = owner.__dict__.get(_INFO)
        if info is None:
            url = owner.base_url
            port = url.port or (443 if url.scheme == "https" else 80)
            info = (self.provider(owner), url.host or None, port)
            hook_attempts(owner)
            owner.__dict__[_INFO] = info
        return info

    def stream(self, call: Call, result: Any) -> Any:
        iterator = getattr(result, "_iterator", None)
        if iterator is None or not hasattr(result, "response"):
            return None  # a raw response (with_raw_response), not a Stream
        if call.capture:
            call.output = []
        if hasattr(iterator, "__anext__"):
            result._iterator = observe_async(iterator, call)
            result.close = _AsyncClose(result, call)
            end_when_dropped(result, call)
        else:
            result._iterator = observe(iterator, call)  # ends the call when dropped
            result.close = _Close(result, call)
        return result


def hook_attempts(client: Any) -> None:
    """Count each HTTP attempt of ``client`` (retries included) into the call being recorded."""
    current = client.__dict__.get("_prepare_request")
    if getattr(current, MARK, False):
        return
    # The class's method is called with a weak reference to the client, so there is no cycle
    # and a dropped client is freed at once, as without us; one already set on the object is
    # called as it is. count_attempt() is written out: this runs once per attempt.
    method = type(client)._prepare_request if current is None else current
    ref = weakref.ref(client) if current is None else None
    get = _ACTIVE.get
    if inspect.iscoroutinefunction(method):

        async def prepare_async(request: Any) -> None:
            call = get()
            if call is not None and call.adapter.source == "stainless":
                call.attempts += 1
            await (method(request) if ref is None else method(ref(), request))

        client._prepare_request = mark(prepare_async, method)
    else:

        def prepare(request: Any) -> None:
            call = get()
            if call is not None and call.adapter.source == "stainless":
                call.attempts += 1
            if ref is None:
                method(request)
            else:
                method(ref(), request)

        client._prepare_request = mark(prepare, method)


class _Close:
    """A stream's ``close``: closes it as before, then ends the call."""

    __slots__ = ("call", "close", "stream")

    def __init__(self, stream: Any, call: Call) -> None:
        self.close = type(stream).close
        self.stream = weakref.ref(stream)
        self.call = call

    def __call__(self) -> None:
        try:
            stream = self.stream()
            if stream is not None:
                self.close(stream)
        finally:
            self.call.end()


class _AsyncClose(_Close):
    __slots__ = ()

    async def __call__(self) -> None:  # type: ignore[override]
        try:
            stream = self.stream()
            if stream is not None:
                await self.close(stream)
        finally:
            self.call.end()


# -- chat completions (also the shape litellm answers in) ------------------------------------


class ChatAdapter(StainlessAdapter):
    """``chat.completions.create``."""

    def provider(self, client: Any) -> str:
        return "azure.ai.openai" if "Azure" in type(client).__name__ else "openai"

    def request(self, kwargs: Mapping[str, Any], attributes: dict[str, object]) -> str:
        set_params(kwargs, attributes, _CHAT_PARAMS)
        return str(kwargs.get("model") or "")

    def response(self, call: Call, result: Any) -> None:
        read_ids(call, result)
        choices = getattr(result, "choices", None)
        if choices:
            if len(choices) == 1:  # the common case, without a loop
                choice = choices[0]
                call.set_finish_reason(choice.finish_reason, choice.index or 0)
            else:
                for choice in choices:
                    call.set_finish_reason(choice.finish_reason, choice.index or 0)
        usage = getattr(result, "usage", None)
        if usage is not None:
            read_chat_usage(call, usage)

    def chunk(self, call: Call, item: Any) -> None:
        # Per chunk of a stream: only what a chunk may carry is looked at.
        if call.ttft is None:
            call.first_chunk()
        if "gen_ai.response.id" not in call.attributes:
            read_ids(call, item)
        choices = getattr(item, "choices", None)
        if choices:
            output = call.output
            for choice in choices:
                if choice.finish_reason is not None:
                    call.set_finish_reason(choice.finish_reason, choice.index or 0)
                if output is not None and choice.index == 0:
                    text = getattr(choice.delta, "content", None)
                    if text:
                        output.append(text)
        usage = getattr(item, "usage", None)
        if usage is not None:
            read_chat_usage(call, usage)

    def content(self, call: Call) -> None:
        attributes = call.attributes
        inputs = call.inputs or {}
        attributes["gen_ai.input.messages"] = Content(chat_messages, inputs.get("messages"))
        if call.output is not None:
            attributes["gen_ai.output.messages"] = Content(
                chat_outputs, call.output, list(call.finish_reasons)
            )


_CHAT_PARAMS: Final = {
    "max_tokens": "gen_ai.request.max_tokens",
    "max_completion_tokens": "gen_ai.request.max_tokens",
    "temperature": "gen_ai.request.temperature",
    "top_p": "gen_ai.request.top_p",
    "seed": "gen_ai.request.seed",
}


def read_ids(call: Call, result: Any) -> None:
    """The response's id and model."""
    attributes = call.attributes
    value = getattr(result, "id", None)
    if type(value) is str:
        attributes["gen_ai.response.id"] = value
    value = getattr(result, "model", None)
    if type(value) is str:
        attributes["gen_ai.response.model"] = value


def read_chat_usage(call: Call, usage: Any) -> None:
    """OpenAI's usage: prompt tokens include cached ones, completion tokens reasoning ones."""
    prompt = getattr(usage, "prompt_tokens_details", None)
    completion = getattr(usage, "completion_tokens_details", None)
    call.set_usage(
        getattr(usage, "prompt_tokens", None),
        getattr(usage, "completion_tokens", None),
        getattr(prompt, "cached_tokens", None),
        None,
        getattr(completion, "reasoning_tokens", None),
    )


def chat_messages(messages: Any) -> list[Message]:
    """Chat messages (dicts or the client's objects) as the semantic conventions' messages."""
    out: list[Message] = []
    for message in messages or ():
        role = field(message, "role") or "user"
        content = field(message, "content")
        if role == "tool":
            text = content if isinstance(content, str) else _texts(content)
            response = {"type": "tool_call_response", "response": text}
            out.append({"role": role, "parts": [response | {"id": field(message, "tool_call_id")}]})
            continue
        parts = [text_part(content)] if isinstance(content, str) else _parts(content)
        for call in field(message, "tool_calls") or ():
            function = field(call, "function")
            parts.append(
                {
                    "type": "tool_call",
                    "id": field(call, "id"),
                    "name": field(function, "name"),
                    "arguments": field(function, "arguments"),
                }
            )
        out.append({"role": role, "parts": parts})
    return out


def _parts(content: Any) -> list[dict[str, Any]]:
    parts = []
    for part in content or ():
        kind = field(part, "type") or "unknown"
        text = field(part, "text")
        # Images, audio and files are named, never copied: they are large and rarely text.
        parts.append(text_part(text) if isinstance(text, str) else {"type": kind})
    return parts


def _texts(content: Any) -> str:
    return "".join(part["content"] for part in _parts(content) if "content" in part)


def chat_outputs(output: Any, reasons: list[str]) -> list[Message]:
    """The answer (a response, or the texts of a stream) as output messages."""
    if isinstance(output, list):
        reason = reasons[0] if reasons else ""
        return [
            {"role": "assistant", "parts": [text_part("".join(output))], "finish_reason": reason}
        ]
    messages = []
    for choice in getattr(output, "choices", None) or ():
        message = chat_messages([choice.message])[0]
        message["finish_reason"] = str(choice.finish_reason or "")
        messages.append(message)
    return messages


# -- the Responses API -----------------------------------------------------------------------


class ResponsesAdapter(ChatAdapter):
    """``responses.create``."""

    def request(self, kwargs: Mapping[str, Any], attributes: dict[str, object]) -> str:
        set_params(kwargs, attributes, _RESPONSES_PARAMS)
        return str(kwargs.get("model") or "")

    def response(self, call: Call, result: Any) -> None:
        read_ids(call, result)
        call.set_finish_reason(_finish(result))
        usage = getattr(result, "usage", None)
        if usage is not None:
            call.set_usage(
                getattr(usage, "input_tokens", None),
                getattr(usage, "output_tokens", None),
                getattr(getattr(usage, "input_tokens_details", None), "cached_tokens", None),
                None,
                getattr(getattr(usage, "output_tokens_details", None), "reasoning_tokens", None),
            )

    def chunk(self, call: Call, item: Any) -> None:
        kind = getattr(item, "type", "")
        if kind.endswith(".delta") or kind == "response.output_item.added":
            call.first_chunk()
            if call.output is not None and kind == "response.output_text.delta":
                call.output.append(item.delta)
        elif kind == "response.created":
            read_ids(call, item.response)
        elif kind in ("response.completed", "response.incomplete", "response.failed"):
            self.response(call, item.response)

    def content(self, call: Call) -> None:
        attributes = call.attributes
        inputs = call.inputs or {}
        attributes["gen_ai.input.messages"] = Content(_response_inputs, inputs.get("input"))
        if inputs.get("instructions"):
            attributes["gen_ai.system_instructions"] = Content(
                lambda text: [text_part(text)], inputs["instructions"]
            )
        if call.output is not None:
            attributes["gen_ai.output.messages"] = Content(
                _response_outputs, call.output, list(call.finish_reasons)
            )


_RESPONSES_PARAMS: Final = {
    "max_output_tokens": "gen_ai.request.max_tokens",
    "temperature": "gen_ai.request.temperature",
    "top_p": "gen_ai.request.top_p",
}


def _finish(response: Any) -> str | None:
    """A Responses API answer has a status, not a finish reason: the chat names for it."""
    status = getattr(response, "status", None)
    if status == "completed":
        calls = any(getattr(item, "type", "") == "function_call" for item in response.output or ())
        return "tool_calls" if calls else "stop"
    if status == "incomplete":
        reason = getattr(getattr(response, "incomplete_details", None), "reason", None)
        return "length" if reason == "max_output_tokens" else str(reason or status)
    return status if isinstance(status, str) else None


def _response_inputs(given: Any) -> list[Message]:
    if isinstance(given, str):
        return [{"role": "user", "parts": [text_part(given)]}]
    out: list[Message] = []
    for item in given or ():
        kind = field(item, "type")
        if kind == "function_call_output":
            part = {"type": "tool_call_response", "id": field(item, "call_id")}
            out.append({"role": "tool", "parts": [part | {"response": field(item, "output")}]})
        elif kind == "function_call":
            part = {"type": "tool_call", "id": field(item, "call_id"), "name": field(item, "name")}
            out.append(
                {"role": "assistant", "parts": [part | {"arguments": field(item, "arguments")}]}
            )
        else:
            out.extend(chat_messages([item]))
    return out


def _response_outputs(output: Any, reasons: list[str]) -> list[Message]:
    if isinstance(output, list):
        return chat_outputs(output, reasons)
    parts: list[dict[str, Any]] = []
    for item in getattr(output, "output", None) or ():
        kind = getattr(item, "type", "")
        if kind == "message":
            parts.extend(_parts(item.content))
        elif kind == "function_call":
            parts.append(
                {
                    "type": "tool_call",
                    "id": item.call_id,
                    "name": item.name,
                    "arguments": item.arguments,
                }
            )
    return [{"role": "assistant", "parts": parts, "finish_reason": reasons[0] if reasons else ""}]


# -- embeddings ------------------------------------------------------------------------------


class EmbeddingsAdapter(ChatAdapter):
    """``embeddings.create``: input tokens only, and no content (vectors are not messages)."""

    operation = "embeddings"

    def request(self, kwargs: Mapping[str, Any], attributes: dict[str, object]) -> str:
        set_params(kwargs, attributes, {"dimensions": "gen_ai.embeddings.dimension.count"})
        return str(kwargs.get("model") or "")

    def response(self, call: Call, result: Any) -> None:
        model = getattr(result, "model", None)
        if type(model) is str:
            call.attributes["gen_ai.response.model"] = model
        usage = getattr(result, "usage", None)
        if usage is not None:
            call.set_usage(getattr(usage, "prompt_tokens", None), None)

    def content(self, call: Call) -> None:
        pass


CHAT: Final = ChatAdapter()
RESPONSES: Final = ResponsesAdapter()
EMBEDDINGS: Final = EmbeddingsAdapter()


def _resources(root: Any) -> list[tuple[Any, tuple[str, ...], Adapter]]:
    return [
        (root.chat.completions, ("create", "parse"), CHAT),
        (root.responses, ("create", "parse"), RESPONSES),
        (root.embeddings, ("create",), EMBEDDINGS),
    ]


def instrument_client(client: Any, settings: Settings) -> bool:
    """Wrap the methods of one ``OpenAI``/``AsyncOpenAI`` (or Azure) client; False when
    ``client`` is none of them."""
    import openai  # noqa: PLC0415 - the app's dependency, imported only when it is used

    if not isinstance(client, openai.OpenAI | openai.AsyncOpenAI):
        return False
    ref = weakref.ref(client)

    def owner(args: tuple[Any, ...]) -> Any:
        return ref()

    for resource, names, adapter in _resources(client):
        for name in names:
            patch(resource, name, _wrapper(adapter, settings, owner))
    CHAT.describe(client)  # installs the attempt hook now
    keep_on_copies(client, settings, instrument_client)
    return True


def keep_on_copies(
    client: Any, settings: Settings, instrument: Callable[[Any, Settings], bool]
) -> None:
    """Instrument the clients ``client.with_options(...)``/``copy(...)`` make, as this one."""

    def make(original: Callable[..., Any]) -> Callable[..., Any]:
        def copy(*args: Any, **kwargs: Any) -> Any:
            made = original(*args, **kwargs)
            try:
                instrument(made, settings)
            except Exception as exc:
                warn_once("the LLM integration (a client's copy)", exc)
            return made

        return mark(copy, original)

    for name in ("copy", "with_options"):
        if hasattr(client, name):
            patch(client, name, make)


def instrument_classes(settings: Settings) -> None:
    """Wrap the methods of every client, present and future (``instrument_llms()``)."""
    from openai.resources import embeddings, responses  # noqa: PLC0415
    from openai.resources.chat import completions  # noqa: PLC0415

    for classes, names, adapter in (
        ((completions.Completions, completions.AsyncCompletions), ("create", "parse"), CHAT),
        ((responses.Responses, responses.AsyncResponses), ("create", "parse"), RESPONSES),
        ((embeddings.Embeddings, embeddings.AsyncEmbeddings), ("create",), EMBEDDINGS),
    ):
        for cls in classes:
            for name in names:
                patch(cls, name, _wrapper(adapter, settings, resource_client))


def resource_client(args: tuple[Any, ...]) -> Any:
    """The client of a resource method's ``self``."""
    return args[0]._client


def _wrapper(
    adapter: Adapter, settings: Settings, owner: Callable[[tuple[Any, ...]], Any]
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    return lambda original: wrap(original, adapter, settings, owner)
