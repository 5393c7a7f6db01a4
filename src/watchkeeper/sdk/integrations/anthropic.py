"""Anthropic: ``messages.create`` (streamed or not) and the ``messages.stream()`` helper.

>>> client = watchkeeper.instrument(anthropic.Anthropic())  # doctest: +SKIP

The client shares the openai client's generated base, so attempts and streams are observed
the same way (see :mod:`watchkeeper.sdk.integrations.openai`). Anthropic counts input tokens
without the cache: ``gen_ai.usage.input_tokens`` adds cache reads and writes back, as the
semantic conventions ask. Since anthropic 2.x a client also opens an OpenTelemetry span per
call by itself, which ``init()`` routes into watchkeeper too: an instrumented client's own
spans are turned off, so each call is one LLM span and is counted once.
"""

from __future__ import annotations

import contextlib
import json
import weakref
from collections.abc import Callable, Mapping
from typing import Any, Final

from watchkeeper.sdk.client import DEFAULT
from watchkeeper.sdk.integrations import warn_once
from watchkeeper.sdk.integrations.llm import (
    Call,
    Content,
    Message,
    Settings,
    field,
    mark,
    patch,
    run,
    run_async,
    set_params,
    text_part,
    wrap,
)
from watchkeeper.sdk.integrations.openai import StainlessAdapter, keep_on_copies, resource_client


class MessagesAdapter(StainlessAdapter):
    """``messages.create``."""

    def provider(self, client: Any) -> str:
        # The client's own call spans would be a second LLM span per call.
        with contextlib.suppress(Exception):
            client._lazy_tracer = None
        return "anthropic"

    def request(self, kwargs: Mapping[str, Any], attributes: dict[str, object]) -> str:
        set_params(kwargs, attributes, _PARAMS)
        return str(kwargs.get("model") or "")

    def response(self, call: Call, result: Any) -> None:
        attributes = call.attributes
        value = getattr(result, "id", None)
        if type(value) is str:
            attributes["gen_ai.response.id"] = value
        value = getattr(result, "model", None)
        if type(value) is str:
            attributes["gen_ai.response.model"] = value
        call.set_finish_reason(getattr(result, "stop_reason", None))
        usage = getattr(result, "usage", None)
        if usage is not None:
            # _read_usage and _set_usage in one, without a dict: a whole response's usage.
            given = getattr(usage, "input_tokens", None)
            read = getattr(usage, "cache_read_input_tokens", None)
            write = getattr(usage, "cache_creation_input_tokens", None)
            total = None if given is None else given + (read or 0) + (write or 0)
            thinking = getattr(
                getattr(usage, "output_tokens_details", None), "thinking_tokens", None
            )
            call.set_usage(total, getattr(usage, "output_tokens", None), read, write, thinking)

    def chunk(self, call: Call, item: Any) -> None:
        kind = getattr(item, "type", "")
        if kind in ("content_block_delta", "content_block_start"):
            call.first_chunk()
            if call.output is not None and kind == "content_block_delta":
                text = getattr(item.delta, "text", None)
                if text:
                    call.output.append(text)
        elif kind == "message_start":
            if call.state is None:
                call.state = {}
            self.response(call, item.message)
            _read_usage(call.state, item.message.usage)
        elif kind == "message_delta":
            if call.state is None:
                call.state = {}
            call.set_finish_reason(getattr(item.delta, "stop_reason", None))
            # Its usage holds running totals; fields it leaves out keep message_start's value.
            _read_usage(call.state, item.usage)
            _set_usage(call, call.state)

    def content(self, call: Call) -> None:
        attributes = call.attributes
        inputs = call.inputs or {}
        attributes["gen_ai.input.messages"] = Content(_messages, inputs.get("messages"))
        if inputs.get("system"):
            attributes["gen_ai.system_instructions"] = Content(_system, inputs["system"])
        if call.output is not None:
            attributes["gen_ai.output.messages"] = Content(
                _outputs, call.output, list(call.finish_reasons)
            )


_PARAMS: Final = {
    "max_tokens": "gen_ai.request.max_tokens",
    "temperature": "gen_ai.request.temperature",
    "top_p": "gen_ai.request.top_p",
    "top_k": "gen_ai.request.top_k",
}
_USAGE: Final = (
    ("input_tokens", "input"),
    ("cache_read_input_tokens", "cache_read"),
    ("cache_creation_input_tokens", "cache_write"),
    ("output_tokens", "output"),
)


def _read_usage(counts: dict[str, Any], usage: Any) -> None:
    for name, key in _USAGE:
        value = getattr(usage, name, None)
        if value is not None:
            counts[key] = value
    details = getattr(usage, "output_tokens_details", None)
    thinking = getattr(details, "thinking_tokens", None)
    if thinking is not None:
        counts["reasoning"] = thinking


def _set_usage(call: Call, counts: Mapping[str, Any]) -> None:
    given = counts.get("input")
    read, write = counts.get("cache_read"), counts.get("cache_write")
    total = None if given is None else given + (read or 0) + (write or 0)
    call.set_usage(total, counts.get("output"), read, write, counts.get("reasoning"))


class _StreamHelper(MessagesAdapter):
    """``messages.stream()``: always a stream."""

    streams = True


MESSAGES: Final = MessagesAdapter()
STREAM_HELPER: Final = _StreamHelper()
_SYNC: Final = "_MessageStreamManager__api_request"
_ASYNC: Final = "_AsyncMessageStreamManager__api_request"


def _block(block: Any) -> dict[str, Any]:
    kind = field(block, "type") or "unknown"
    if kind == "text":
        return text_part(field(block, "text"))
    if kind == "thinking":
        return {"type": "reasoning", "content": str(field(block, "thinking") or "")}
    if kind == "tool_use":
        arguments = json.dumps(field(block, "input"), default=str)
        return {"type": "tool_call", "id": field(block, "id"), "name": field(block, "name"),
                "arguments": arguments}  # fmt: skip
    if kind == "tool_result":
        content = field(block, "content")
        text = content if isinstance(content, str) else "".join(
            str(field(part, "text") or "") for part in content or ()
        )  # fmt: skip
        return {"type": "tool_call_response", "id": field(block, "tool_use_id"), "response": text}
    return {"type": kind}  # images and documents are named, never copied


def _messages(messages: Any) -> list[Message]:
    out = []
    for message in messages or ():
        content = field(message, "content")
        parts = (
            [text_part(content)] if isinstance(content, str) else [_block(b) for b in content or ()]
        )
        out.append({"role": field(message, "role") or "user", "parts": parts})
    return out


def _system(system: Any) -> list[dict[str, Any]]:
    return [text_part(system)] if isinstance(system, str) else [_block(b) for b in system]


def _outputs(output: Any, reasons: list[str]) -> list[Message]:
    reason = reasons[0] if reasons else ""
    if isinstance(output, list):
        parts = [text_part("".join(output))]
    else:
        parts = [_block(block) for block in getattr(output, "content", None) or ()]
    return [{"role": "assistant", "parts": parts, "finish_reason": reason}]


# -- wiring ----------------------------------------------------------------------------------


def _stream_helper(
    settings: Settings, owner: Callable[[tuple[Any, ...]], Any]
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Wrap ``messages.stream``: the request is made when its manager is entered, so the
    manager's request is what gets recorded."""

    def make(original: Callable[..., Any]) -> Callable[..., Any]:
        def stream(*args: Any, **kwargs: Any) -> Any:
            manager = original(*args, **kwargs)
            if DEFAULT.client is None:
                return manager
            try:
                # The managers keep the request in a private (name-mangled) attribute: a
                # partial to call (sync), or a coroutine to await (async).
                client = owner(args)
                send = getattr(manager, _SYNC, None)
                if send is not None:
                    setattr(
                        manager, _SYNC, lambda: run(STREAM_HELPER, settings, client, kwargs, send)
                    )
                pending = getattr(manager, _ASYNC, None)
                if pending is not None:
                    recorded = run_async(STREAM_HELPER, settings, client, kwargs, lambda: pending)
                    setattr(manager, _ASYNC, recorded)
            except Exception as exc:
                warn_once("the LLM integration (messages.stream)", exc)
            return manager

        return mark(stream, original)

    return make


def instrument_client(client: Any, settings: Settings) -> bool:
    """Wrap the methods of one ``Anthropic``/``AsyncAnthropic`` client; False when ``client``
    is neither."""
    import anthropic  # noqa: PLC0415 - the app's dependency, imported only when it is used

    if not isinstance(client, anthropic.Anthropic | anthropic.AsyncAnthropic):
        return False
    ref = weakref.ref(client)

    def owner(args: tuple[Any, ...]) -> Any:
        return ref()

    patch(client.messages, "create", lambda original: wrap(original, MESSAGES, settings, owner))
    patch(client.messages, "stream", _stream_helper(settings, owner))
    MESSAGES.describe(client)
    keep_on_copies(client, settings, instrument_client)
    return True


def instrument_classes(settings: Settings) -> None:
    """Wrap the methods of every client, present and future (``instrument_llms()``)."""
    from anthropic.resources.messages import messages  # noqa: PLC0415

    for cls in (messages.Messages, messages.AsyncMessages):
        patch(cls, "create", lambda original: wrap(original, MESSAGES, settings, resource_client))
        patch(cls, "stream", _stream_helper(settings, resource_client))
