"""LiteLLM: ``litellm.completion`` and ``litellm.acompletion`` (streamed or not).

>>> watchkeeper.instrument(litellm)  # doctest: +SKIP

The module's functions are replaced, so calls written ``litellm.completion(...)`` are recorded
(a ``from litellm import completion`` made before ``instrument()`` keeps the original). The
answers are in OpenAI's chat shape; the provider is the one LiteLLM resolved (its
``custom_llm_provider``), named as the semantic conventions name it (``gemini`` →
``gcp.gemini``). LiteLLM reaches providers through httpx (its own handlers, or the openai
client): an HTTP attempt is one ``httpx.Client.send``/``AsyncClient.send`` made while the call
runs, counted by a hook on those two methods that does nothing outside a LiteLLM call. A stream
(``CustomStreamWrapper``) stays the same object: its class becomes a subclass that watches
``__next__``/``__anext__``/``aclose``.
"""

from __future__ import annotations

import types
from collections.abc import Callable, Mapping
from typing import Any, Final

from watchkeeper.sdk.client import DEFAULT
from watchkeeper.sdk.integrations.llm import (
    _ACTIVE,
    MARK,
    Call,
    Settings,
    address_of,
    count_attempt,
    end_when_dropped,
    mark,
    patch,
    run,
    run_async,
    set_params,
)
from watchkeeper.sdk.integrations.openai import _CHAT_PARAMS, ChatAdapter

PROVIDERS: Final = {
    "gemini": "gcp.gemini",
    "vertex_ai": "gcp.vertex_ai",
    "vertex_ai_beta": "gcp.vertex_ai",
    "azure": "azure.ai.openai",
    "azure_ai": "azure.ai.inference",
    "bedrock": "aws.bedrock",
    "mistral": "mistral_ai",
    "xai": "x_ai",
    "watsonx": "ibm.watsonx.ai",
    "moonshot": "moonshot_ai",
}
"""LiteLLM's provider names that the semantic conventions spell otherwise."""


class CompletionAdapter(ChatAdapter):
    """``litellm.completion``."""

    source = "litellm"

    def describe(self, owner: Any) -> tuple[str, str | None, int | None]:
        return "", None, None

    def request(self, kwargs: Mapping[str, Any], attributes: dict[str, object]) -> str:
        set_params(kwargs, attributes, _CHAT_PARAMS)
        base = kwargs.get("api_base") or kwargs.get("base_url")
        if isinstance(base, str):
            attributes["server.address"], attributes["server.port"] = address_of(base)
        model = str(kwargs.get("model") or "")
        named = kwargs.get("custom_llm_provider") or (
            model.split("/", 1)[0] if "/" in model else ""
        )
        if named:
            attributes["gen_ai.provider.name"] = PROVIDERS.get(named, named)
        return model

    def response(self, call: Call, result: Any) -> None:
        super().response(call, result)
        hidden = getattr(result, "_hidden_params", None) or {}
        self._provider(call, hidden.get("custom_llm_provider"))
        if "server.address" not in call.attributes and isinstance(hidden.get("api_base"), str):
            address, port = address_of(hidden["api_base"])
            if address:
                call.attributes["server.address"], call.attributes["server.port"] = address, port
        usage = getattr(result, "usage", None)
        write = getattr(usage, "cache_creation_input_tokens", None)
        if type(write) is int:
            call.attributes["gen_ai.usage.cache_write.input_tokens"] = write

    def stream(self, call: Call, result: Any) -> Any:
        if not hasattr(result, "completion_stream"):
            return None
        self._provider(call, getattr(result, "custom_llm_provider", None))
        if call.capture:
            call.output = []
        result.__dict__[_CALL] = call
        result.__class__ = _recorded(type(result))
        end_when_dropped(result, call)
        return result

    def failed(self, call: Call, error: BaseException) -> None:
        self._provider(call, getattr(error, "llm_provider", None))

    @staticmethod
    def _provider(call: Call, name: object) -> None:
        if isinstance(name, str) and name:
            call.attributes["gen_ai.provider.name"] = PROVIDERS.get(name, name)


COMPLETION: Final = CompletionAdapter()
_CALL: Final = "_watchkeeper_call"
_RECORDED: dict[type, type] = {}


def _recorded(cls: type) -> type:
    """A subclass of a stream class whose iteration is watched; made once per class. It adds
    no slot, so an instance's ``__class__`` can be switched to it and back."""
    found = _RECORDED.get(cls)
    if found is not None:
        return found

    def __next__(self: Any) -> Any:
        call: Call = self.__dict__[_CALL]
        token = _ACTIVE.set(call) if call.ttft is None else None  # the request may start now
        try:
            item = cls.__next__(self)  # type: ignore[attr-defined]
        except StopIteration:
            call.end()
            raise
        except BaseException as exc:
            call.end(exc)
            raise
        finally:
            if token is not None:
                _ACTIVE.reset(token)
        call.chunk(item)
        return item

    async def __anext__(self: Any) -> Any:
        call: Call = self.__dict__[_CALL]
        token = _ACTIVE.set(call) if call.ttft is None else None
        try:
            item = await cls.__anext__(self)  # type: ignore[attr-defined]
        except StopAsyncIteration:
            call.end()
            raise
        except BaseException as exc:
            call.end(exc)
            raise
        finally:
            if token is not None:
                _ACTIVE.reset(token)
        call.chunk(item)
        return item

    async def aclose(self: Any) -> Any:
        try:
            return await cls.aclose(self)  # type: ignore[attr-defined]
        finally:
            self.__dict__[_CALL].end()

    namespace = {
        "__slots__": (),
        "__module__": cls.__module__,
        "__qualname__": cls.__qualname__,
        "__next__": __next__,
        "__anext__": __anext__,
    }
    if hasattr(cls, "aclose"):
        namespace["aclose"] = aclose
    found = _RECORDED[cls] = type(cls.__name__, (cls,), namespace)
    return found


# -- wiring ----------------------------------------------------------------------------------


def _view(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Mapping[str, Any]:
    """The call's arguments by name: ``completion(model, messages, ...)`` may be positional."""
    if not args:
        return kwargs
    view = dict(kwargs)
    for name, value in zip(("model", "messages"), args, strict=False):
        view.setdefault(name, value)
    return view


def _wrap_completion(original: Callable[..., Any], settings: Settings) -> Callable[..., Any]:
    def completion(*args: Any, **kwargs: Any) -> Any:
        if DEFAULT.client is None:
            return original(*args, **kwargs)
        return run(COMPLETION, settings, None, _view(args, kwargs),
                   lambda: original(*args, **kwargs))  # fmt: skip

    completion.__doc__ = original.__doc__
    return mark(completion, original)


def _wrap_acompletion(original: Callable[..., Any], settings: Settings) -> Callable[..., Any]:
    async def acompletion(*args: Any, **kwargs: Any) -> Any:
        if DEFAULT.client is None:
            return await original(*args, **kwargs)
        return await run_async(COMPLETION, settings, None, _view(args, kwargs),
                               lambda: original(*args, **kwargs))  # fmt: skip

    acompletion.__doc__ = original.__doc__
    return mark(acompletion, original)


def instrument_module(module: types.ModuleType, settings: Settings) -> None:
    """Replace ``litellm.completion`` and ``litellm.acompletion`` by recording ones."""
    patch(module, "completion", lambda original: _wrap_completion(original, settings))
    patch(module, "acompletion", lambda original: _wrap_acompletion(original, settings))
    _hook_httpx()


def _hook_httpx() -> None:
    """Count httpx sends made while a LiteLLM call is recorded (once per process)."""
    import httpx  # noqa: PLC0415 - LiteLLM's own dependency

    for cls in (httpx.Client, httpx.AsyncClient):
        send = cls.__dict__["send"]
        if getattr(send, MARK, False):
            continue
        cls.send = mark(_counted_async(send) if cls is httpx.AsyncClient else _counted(send), send)  # type: ignore[method-assign]


def _counted(send: Callable[..., Any]) -> Callable[..., Any]:
    def counted(*args: Any, **kwargs: Any) -> Any:
        count_attempt("litellm")
        return send(*args, **kwargs)

    return counted


def _counted_async(send: Callable[..., Any]) -> Callable[..., Any]:
    async def counted(*args: Any, **kwargs: Any) -> Any:
        count_attempt("litellm")
        return await send(*args, **kwargs)

    return counted
