"""LLM calls as spans: the recorder the client integrations share, and ``instrument()``.

Each call of an instrumented client is one ``client`` span named ``"{operation} {model}"`` with
the OpenTelemetry GenAI attributes (``gen_ai.operation.name``, ``gen_ai.provider.name``,
``gen_ai.request.model``, ``gen_ai.usage.*`` …; reference/llm-observability.md §d), the count of
HTTP attempts beyond the first (``watchkeeper.retries``), the product ``feature`` and, on
failure, an ``error.type`` (:func:`error_kind`). The library modules (openai.py, anthropic.py,
google_genai.py, litellm.py) say where each library keeps these; this one opens and ends the
span, watches streams and shapes content.

What the app's thread pays (about 5 µs a call on the reference machine, measured against a
stub client): one span, a dict of request attributes and a few reads of the response. The span
records through its :class:`Call`, so the rest runs where the record is built, on the batcher's
thread (:func:`_build_call`): the GenAI histograms, and prompts and completions (when captured,
only a shallow copy of the messages is taken on the app's thread) turned into redacted JSON.
A client's return value and exceptions are never touched: the same objects come back, streams
included (their iteration is observed in place).
"""

from __future__ import annotations

import functools
import inspect
import json
import types
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from contextvars import ContextVar
from time import perf_counter
from typing import Any, Final, NamedTuple, cast
from urllib.parse import urlsplit

from watchkeeper.records import Record
from watchkeeper.sdk import metrics
from watchkeeper.sdk.batcher import Item
from watchkeeper.sdk.client import DEFAULT, Client
from watchkeeper.sdk.context import bound_fields
from watchkeeper.sdk.integrations import warn_once
from watchkeeper.sdk.redact import redact_text
from watchkeeper.sdk.traces import SpanScope

MAX_CONTENT: Final = 16_384
"""Characters of each content attribute; longer texts are cut with a ``…[truncated N]`` mark."""

MARK: Final = "__watchkeeper__"
"""The attribute that marks our wrappers (``wrapper.__watchkeeper__ is True``)."""

ERROR_KINDS: Final = (
    "rate_limit",
    "timeout",
    "connection",
    "auth",
    "bad_request",
    "server",
    "other",
)
"""The values of ``error.type`` on a failed call."""


class Settings(NamedTuple):
    """What ``instrument(client, ...)`` was told: None leaves it to ``init()``/the bound ids."""

    capture_content: bool | None = None
    feature: str | None = None


_ACTIVE: Final[ContextVar[Call | None]] = ContextVar("watchkeeper_llm_call", default=None)
"""The call being recorded in this thread or task: a call made inside it (litellm calling the
openai client) is not recorded twice, and the attempt hooks count into it."""


class Adapter:
    """What one kind of call of one library looks like; the library modules subclass it."""

    operation = "chat"
    source = ""
    """Which attempt hook counts this call's HTTP attempts (see :func:`count_attempt`)."""
    streams = False
    """Every call streams (``generate_content_stream``), whatever its arguments."""

    def describe(self, owner: Any) -> tuple[str, str | None, int | None]:
        """``(provider, server address, server port)`` of the client ``owner``."""
        return "", None, None

    def request(self, kwargs: Mapping[str, Any], attributes: dict[str, object]) -> str:
        """Put the request's parameters on ``attributes``; return the requested model."""
        return str(kwargs.get("model") or "")

    def response(self, call: Call, result: Any) -> None:
        """Read a whole response."""

    def chunk(self, call: Call, item: Any) -> None:
        """Read one item of a stream; call ``call.first_chunk()`` on the first with output."""

    def stream(self, call: Call, result: Any) -> Any:
        """Observe the stream ``result`` in place and return it; None when it is no stream."""
        return None

    def content(self, call: Call) -> None:
        """Put :class:`Content` attributes on the span (only when content is captured)."""

    def failed(self, call: Call, error: BaseException) -> None:
        """Read what a failure tells (litellm's exceptions name the provider)."""


class Call:
    """One LLM call being recorded, from the request to the end of its response or stream."""

    __slots__ = (
        "adapter",
        "attempts",
        "attributes",
        "capture",
        "client",
        "duration",
        "ended",
        "finish_reasons",
        "inputs",
        "output",
        "requests",
        "scope",
        "state",
        "streaming",
        "t0",
        "ttft",
        "usage",
    )

    def __init__(
        self,
        client: Client,
        adapter: Adapter,
        name: str,
        attributes: dict[str, object],
        capture: bool,
        inputs: Mapping[str, Any] | None,
        streaming: bool = False,
    ) -> None:
        self.client = client
        self.adapter = adapter
        self.scope: SpanScope | None = SpanScope(name, attributes, cast(Client, self), "client")
        self.attributes = attributes
        self.capture = capture
        self.inputs = inputs
        self.output: Any = None
        """The response, or the texts of a stream (only when content is captured)."""
        self.streaming = streaming
        self.attempts = 0
        self.requests = 0
        self.ended = False
        self.duration = 0.0
        self.ttft: float | None = None
        self.finish_reasons: list[str] = []
        self.usage: tuple[int | None, int | None] = (None, None)
        self.state: Any = None
        """Whatever the adapter keeps while a stream goes (partial usage)."""
        self.t0 = perf_counter()

    def first_chunk(self) -> None:
        """The first chunk with output arrived: the time to it is ``time_to_first_chunk``."""
        if self.ttft is None:
            self.ttft = perf_counter() - self.t0
            self.attributes["gen_ai.response.time_to_first_chunk"] = self.ttft

    def set_usage(
        self,
        input_tokens: int | None,
        output_tokens: int | None,
        cache_read: int | None = None,
        cache_write: int | None = None,
        reasoning: int | None = None,
    ) -> None:
        """Token counts as OpenTelemetry counts them: input includes cached, output reasoning."""
        attributes = self.attributes
        if type(input_tokens) is int:
            attributes["gen_ai.usage.input_tokens"] = input_tokens
        if type(output_tokens) is int:
            attributes["gen_ai.usage.output_tokens"] = output_tokens
        if type(cache_read) is int:
            attributes["gen_ai.usage.cache_read.input_tokens"] = cache_read
        if type(cache_write) is int:
            attributes["gen_ai.usage.cache_write.input_tokens"] = cache_write
        if type(reasoning) is int:
            attributes["gen_ai.usage.reasoning.output_tokens"] = reasoning
        self.usage = (input_tokens, output_tokens)

    def set_finish_reason(self, reason: object, index: int = 0) -> None:
        """Record why choice ``index`` stopped (None leaves it unknown)."""
        if reason is None:
            return
        reasons = self.finish_reasons
        text = reason if type(reason) is str else str(getattr(reason, "value", reason))
        if index < len(reasons):
            reasons[index] = text
        else:
            reasons.append(text)
        self.attributes["gen_ai.response.finish_reasons"] = reasons

    def chunk(self, item: Any) -> None:
        try:
            self.adapter.chunk(self, item)
        except Exception as exc:
            self._failed("reading a stream chunk", exc)

    def end(self, error: BaseException | None = None) -> None:
        """End the span (once): with ``error``, as a failure of that kind."""
        if self.ended:
            return
        self.ended = True
        self.duration = perf_counter() - self.t0
        attributes = self.attributes
        try:
            if self.attempts:
                retries = self.attempts - max(self.requests, 1)
                attributes["watchkeeper.retries"] = retries if retries > 0 else 0
            if self.capture:
                self.adapter.content(self)
            if error is not None:
                self.adapter.failed(self, error)
                attributes["error.type"] = error_kind(error)
        except Exception as exc:
            self._failed("ending the span", exc)
        scope, self.scope = self.scope, None  # the scope records through us: no cycle left
        if scope is None:
            return
        if error is None:
            scope.__exit__(None, None, None)
        else:
            scope.__exit__(type(error), error, error.__traceback__)

    # The span records through the call (it is the span's client), so that the call's own
    # work runs where the span's record is built: on the batcher's thread.

    def enqueue(self, item: Item) -> None:
        """Hand the span's item to the client, to be built by :func:`_build_call`: with the
        call's figures as plain numbers, so that the call and the response are freed now
        rather than when the batcher takes the item (objects kept alive until then make the
        garbage collector run more often on the app's thread)."""
        input_tokens, output_tokens = self.usage
        self.client.enqueue(
            (_build_call, item, self.duration, self.ttft, input_tokens, output_tokens)
        )

    def count_failure(self) -> None:
        self.client.count_failure()

    def _failed(self, what: str, exc: Exception) -> None:
        self.client.count_failure()
        warn_once(f"the LLM integration ({what})", exc)


def _build_call(item: Item, record_id: str) -> Record:
    """On the batcher's thread: the call's metrics and content, then its span's record."""
    _, span, duration, ttft, input_tokens, output_tokens = item
    attributes = span[7]  # see SpanScope.__exit__
    try:
        for key, value in attributes.items():
            if type(value) is Content:
                attributes[key] = str(value)
        metrics.llm_call(
            str(attributes.get("gen_ai.operation.name", "")),
            str(attributes.get("gen_ai.provider.name", "")),
            str(attributes.get("gen_ai.request.model", "")),
            str(attributes.get("error.type", "")),
            duration,
            input_tokens,
            output_tokens,
            ttft,
        )
    except Exception as exc:
        warn_once("the LLM integration (building a call)", exc)
    record: Record = span[0](span, record_id)
    return record


def count_attempt(source: str, request: bool = False) -> None:
    """Count one HTTP attempt (or, with ``request``, one logical request that may be retried)
    of the call being recorded, when its hooks are of kind ``source``."""
    call = _ACTIVE.get()
    if call is not None and call.adapter.source == source:
        if request:
            call.requests += 1
        else:
            call.attempts += 1


def _begin(
    client: Client, adapter: Adapter, settings: Settings, owner: Any, kwargs: Mapping[str, Any]
) -> Call | None:
    """Open the span of a call through ``client``; None when that failed. The caller checks
    that no call is being recorded already (``_ACTIVE``)."""
    try:
        provider, address, port = adapter.describe(owner)
        stream = adapter.streams or kwargs.get("stream") is True
        attributes: dict[str, object] = {
            "gen_ai.operation.name": adapter.operation,
            "gen_ai.provider.name": provider,
            "gen_ai.request.stream": stream,
        }
        model = adapter.request(kwargs, attributes)
        attributes["gen_ai.request.model"] = model
        if address:
            attributes["server.address"] = address
            attributes["server.port"] = port
        feature = settings.feature or (bound_fields.get() or {}).get("feature")
        if feature:
            attributes["feature"] = feature
        capture = settings.capture_content
        if capture is None:
            capture = client.config.capture_content
        # A shallow copy: apps append the answer to the same messages list right after the call,
        # and the content is made later, on the batcher's thread.
        inputs = (
            {k: list(v) if type(v) is list else v for k, v in kwargs.items()} if capture else None
        )
        name = f"{adapter.operation} {model}" if model else adapter.operation
        call = Call(client, adapter, name, attributes, capture, inputs, stream)
        call.scope.__enter__()  # type: ignore[union-attr]
        call.t0 = perf_counter()  # after the span's own start: the first chunk is within it
        return call
    except Exception as exc:
        client.count_failure()
        warn_once("the LLM integration (starting a call)", exc)
        return None


def _done(call: Call, result: Any) -> Any:
    """Record a call's result; a stream is observed in place and its span ends with it."""
    try:
        if call.streaming:
            observed = call.adapter.stream(call, result)
            if observed is not None:
                if call.scope is not None:
                    call.scope.detach()  # what runs until the stream ends is not inside it
                return observed
        else:
            if call.capture:
                call.output = result  # for the content, made on the batcher's thread
            call.adapter.response(call, result)
    except Exception as exc:
        call._failed("reading a response", exc)
    call.end()
    return result


def run(
    adapter: Adapter,
    settings: Settings,
    owner: Any,
    kwargs: Mapping[str, Any],
    send: Callable[[], Any],
) -> Any:
    """Record the call ``send()`` makes with ``kwargs`` through the client ``owner``."""
    client = DEFAULT.client
    call = None
    if client is not None and _ACTIVE.get() is None:
        call = _begin(client, adapter, settings, owner, kwargs)
    if call is None:
        return send()
    token = _ACTIVE.set(call)
    try:
        result = send()
    except BaseException as exc:
        _ACTIVE.reset(token)
        call.end(exc)
        raise
    _ACTIVE.reset(token)
    return _done(call, result)


async def run_async(
    adapter: Adapter,
    settings: Settings,
    owner: Any,
    kwargs: Mapping[str, Any],
    send: Callable[[], Awaitable[Any]],
) -> Any:
    """:func:`run` for a call made by awaiting ``send()``."""
    client = DEFAULT.client
    call = None
    if client is not None and _ACTIVE.get() is None:
        call = _begin(client, adapter, settings, owner, kwargs)
    if call is None:
        return await send()
    token = _ACTIVE.set(call)
    try:
        result = await send()
    except BaseException as exc:
        _ACTIVE.reset(token)
        call.end(exc)
        raise
    _ACTIVE.reset(token)
    return _done(call, result)


def wrap(
    original: Callable[..., Any],
    adapter: Adapter,
    settings: Settings,
    owner: Callable[[tuple[Any, ...]], Any],
) -> Callable[..., Any]:
    """A recording stand-in for a client method (sync or ``async def``); ``owner(args)`` finds
    the client object the call goes through."""
    # The clients' own decorators (openai's `required_args`) hide an `async def` behind a
    # plain function; they keep it as `__wrapped__`.
    if inspect.iscoroutinefunction(inspect.unwrap(original)):

        @functools.wraps(original)
        async def record_async(*args: Any, **kwargs: Any) -> Any:
            client = DEFAULT.client
            if client is None or _ACTIVE.get() is not None:
                return await original(*args, **kwargs)
            call = _begin(client, adapter, settings, owner(args), kwargs)
            if call is None:
                return await original(*args, **kwargs)
            token = _ACTIVE.set(call)
            try:
                result = await original(*args, **kwargs)
            except BaseException as exc:
                _ACTIVE.reset(token)
                call.end(exc)
                raise
            _ACTIVE.reset(token)
            return _done(call, result)

        return mark(record_async, original)

    # What run() does, written out: the app's thread pays for every call and frame here.
    @functools.wraps(original)
    def record(*args: Any, **kwargs: Any) -> Any:
        client = DEFAULT.client
        if client is None or _ACTIVE.get() is not None:
            return original(*args, **kwargs)
        call = _begin(client, adapter, settings, owner(args), kwargs)
        if call is None:
            return original(*args, **kwargs)
        token = _ACTIVE.set(call)
        try:
            result = original(*args, **kwargs)
        except BaseException as exc:
            _ACTIVE.reset(token)
            call.end(exc)
            raise
        _ACTIVE.reset(token)
        return _done(call, result)

    return mark(record, original)


def mark(wrapper: Callable[..., Any], original: Callable[..., Any]) -> Callable[..., Any]:
    """Mark ``wrapper`` as ours, wrapping ``original`` (kept as ``__wrapped__``)."""
    wrapper.__wrapped__ = original  # type: ignore[attr-defined]
    setattr(wrapper, MARK, True)
    return wrapper


def patch(target: Any, name: str, make: Callable[[Callable[..., Any]], Callable[..., Any]]) -> None:
    """Replace ``target.name`` (on a class, a module or one object) by ``make(original)``; a
    wrapper of ours is replaced, not wrapped again, so instrumenting twice records one span per
    call (with the newest settings)."""
    current = vars(target).get(name)
    if current is None:
        current = getattr(target, name)  # a method of the object's class, bound
    elif isinstance(target, type | types.ModuleType):
        while getattr(current, MARK, False):
            current = current.__wrapped__
    elif getattr(current, MARK, False):
        # Ours, around the bound method (which may be a class-level wrapper of ours: it stays).
        current = current.__wrapped__
    setattr(target, name, make(current))


# -- streams ---------------------------------------------------------------------------------

_END: Final = object()


def observe(iterator: Iterator[Any], call: Call) -> Iterator[Any]:
    """``iterator``'s items, seen by ``call``; the call ends when it is exhausted, fails or is
    closed, or when it is dropped, even unread (no :func:`end_when_dropped` needed). The first
    item is fetched inside the call, so retries made then are counted.

    >>> observed = observe(iter(["a", "b"]), call)  # doctest: +SKIP
    """
    observed = _observe(iterator, call)
    # Started up to its first `yield`: a started generator that is dropped is closed, which
    # ends the call, at the cost of one step (a weakref.finalize costs ten times more).
    next(observed)
    return observed


def _observe(iterator: Iterator[Any], call: Call) -> Iterator[Any]:
    chunk = call.adapter.chunk
    try:
        yield None
        token = _ACTIVE.set(call)
        try:
            item = next(iterator, _END)
        finally:
            _ACTIVE.reset(token)
        while item is not _END:
            try:
                chunk(call, item)
            except Exception as exc:
                call._failed("reading a stream chunk", exc)
            yield item
            item = next(iterator, _END)
    except GeneratorExit:
        call.end()
        raise
    except BaseException as exc:
        call.end(exc)
        raise
    call.end()


async def observe_async(iterator: AsyncIterator[Any], call: Call) -> AsyncIterator[Any]:
    """:func:`observe` for async iterators."""
    chunk = call.adapter.chunk
    try:
        token = _ACTIVE.set(call)
        try:
            item = await anext(iterator, _END)
        finally:
            _ACTIVE.reset(token)
        while item is not _END:
            try:
                chunk(call, item)
            except Exception as exc:
                call._failed("reading a stream chunk", exc)
            yield item
            item = await anext(iterator, _END)
    except GeneratorExit:
        call.end()
        raise
    except BaseException as exc:
        call.end(exc)
        raise
    call.end()


def end_when_dropped(stream: Any, call: Call) -> None:
    """End ``call`` when ``stream`` is garbage-collected, if nothing ended it before (what
    :func:`observe` does by itself; an async generator is closed by its event loop, if ever)."""
    weakref.finalize(stream, call.end)


# -- errors ----------------------------------------------------------------------------------

_TIMEOUTS: Final = frozenset(
    {"TimeoutError", "APITimeoutError", "Timeout", "TimeoutException", "ServerTimeoutError"}
)
_CONNECTIONS: Final = frozenset(
    {
        "ConnectionError",
        "APIConnectionError",
        "ConnectError",
        "NetworkError",
        "RemoteProtocolError",
        "ClientConnectionError",
        "ClientConnectorError",
        "ServerDisconnectedError",
    }
)
_BY_NAME: Final = {
    "RateLimitError": "rate_limit",
    "AuthenticationError": "auth",
    "PermissionDeniedError": "auth",
    "InternalServerError": "server",
    "ServiceUnavailableError": "server",
    "OverloadedError": "server",
    "BadRequestError": "bad_request",
}


def error_kind(error: BaseException) -> str:
    """The kind of a failed call, from the library's exception class and the HTTP status:
    429 is ``rate_limit``; timeouts; connection errors; 401/403 ``auth``; other 4xx
    ``bad_request``; 5xx (and Anthropic's 529 "overloaded") ``server``; else ``other``.

    >>> error_kind(TimeoutError()), error_kind(ConnectionRefusedError()), error_kind(ValueError())
    ('timeout', 'connection', 'other')
    """
    names = [cls.__name__ for cls in type(error).__mro__]
    # litellm re-raises a refused connection as its InternalServerError: what caused an error
    # decides whether it was a timeout or a connection failure.
    cause = _cause(error)
    for _ in range(8):
        if cause is None:
            break
        names += [cls.__name__ for cls in type(cause).__mro__]
        cause = _cause(cause)
    status = getattr(error, "status_code", None)
    if type(status) is not int:
        status = getattr(error, "code", None)  # google-genai's APIError
    kind = "other"
    # Timeouts first: the openai and anthropic timeout errors subclass their connection error.
    if any(name in _TIMEOUTS or name.endswith("Timeout") for name in names):
        kind = "timeout"
    elif any(name in _CONNECTIONS for name in names):
        kind = "connection"
    elif type(status) is int and 400 <= status < 600:
        kind = _STATUSES.get(status) or ("server" if status >= 500 else "bad_request")
    else:
        kind = next((_BY_NAME[name] for name in names if name in _BY_NAME), kind)
    return kind


_STATUSES: Final = {429: "rate_limit", 401: "auth", 403: "auth", 408: "timeout"}


def _cause(error: BaseException) -> BaseException | None:
    return error.__cause__ or (None if error.__suppress_context__ else error.__context__)


# -- content ---------------------------------------------------------------------------------

Message = dict[str, Any]


class Content:
    """A content attribute, made on the batcher's thread: ``make(*args)`` gives the semantic
    conventions' messages (or parts), which become redacted JSON of at most 16 KiB."""

    __slots__ = ("args", "make")

    def __init__(self, make: Callable[..., Any], *args: Any) -> None:
        self.make = make
        self.args = args

    def __str__(self) -> str:
        try:
            return render(self.make(*self.args))
        except Exception as exc:
            warn_once("the LLM integration (content)", exc)
            return ""


def render(value: Any, limit: int = MAX_CONTENT) -> str:
    """``value`` as JSON with every ``content`` text redacted, within ``limit`` characters:
    texts are shortened first (the JSON stays valid), then the JSON itself is cut.

    >>> render([{"role": "user", "parts": [{"type": "text", "content": "mail a@b.io"}]}])
    '[{"role": "user", "parts": [{"type": "text", "content": "mail [REDACTED:email]"}]}]'
    """
    texts: list[dict[str, Any]] = []
    _redact_parts(value, texts)
    text = json.dumps(value, ensure_ascii=False, default=str)
    if len(text) > limit and texts:
        share = max(limit // (2 * len(texts)), 64)
        for part in texts:
            content = part["content"]
            if len(content) > share:
                part["content"] = f"{content[:share]}…[truncated {len(content) - share}]"
        text = json.dumps(value, ensure_ascii=False, default=str)
    if len(text) > limit:
        text = f"{text[: limit - 32]}…[truncated {len(text) - limit + 32}]"
    return text


def _redact_parts(value: Any, texts: list[dict[str, Any]]) -> None:
    if isinstance(value, list):
        for item in value:
            _redact_parts(item, texts)
    elif isinstance(value, dict):
        for key, item in value.items():
            if type(item) is str and key in ("content", "arguments", "response"):
                value[key] = redact_text(item)
                if key == "content":
                    texts.append(value)
            elif isinstance(item, list | dict):
                _redact_parts(item, texts)


def text_part(text: object) -> dict[str, Any]:
    """A ``text`` part of a message."""
    return {"type": "text", "content": text if type(text) is str else str(text)}


def field(value: Any, name: str, default: Any = None) -> Any:
    """``value[name]`` of a dict, or ``value.name`` of an object (what users pass back)."""
    if type(value) is dict or isinstance(value, Mapping):
        return value.get(name, default)
    return getattr(value, name, default)


def set_params(source: Any, attributes: dict[str, object], names: dict[str, str]) -> None:
    """Copy the numeric request parameters ``names`` (parameter -> attribute) of ``source``."""
    get = source.get if type(source) is dict else lambda name: field(source, name)
    for name, key in names.items():
        value = get(name)
        if type(value) is int or type(value) is float:
            attributes[key] = value


@functools.lru_cache(maxsize=256)
def address_of(url: str) -> tuple[str | None, int | None]:
    """``(server.address, server.port)`` of a base URL.

    >>> address_of("https://api.openai.com/v1")
    ('api.openai.com', 443)
    """
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80 if parts.hostname else None)
    return parts.hostname, port


# -- instrument() ----------------------------------------------------------------------------

_SUPPORTED: Final = (
    "openai.OpenAI/AsyncOpenAI (and AzureOpenAI/AsyncAzureOpenAI), anthropic.Anthropic/"
    "AsyncAnthropic, google.genai.Client, or the litellm module"
)


def instrument(
    client: Any, *, capture_content: bool | None = None, feature: str | None = None
) -> Any:
    """Record every LLM call made through ``client`` as a span (see the module's docstring)
    and return the same client. ``capture_content`` overrides ``init(capture_content=...)``
    for this client; ``feature`` tags its calls (else the ``feature`` bound with ``bind()``).
    Calling it again replaces the settings; calls are still recorded once.

    >>> client = watchkeeper.instrument(openai.OpenAI(), feature="search")  # doctest: +SKIP
    >>> watchkeeper.instrument(litellm)  # doctest: +SKIP
    """
    settings = Settings(capture_content, feature)
    if isinstance(client, types.ModuleType):
        if client.__name__ == "litellm":
            from watchkeeper.sdk.integrations import litellm  # noqa: PLC0415

            litellm.instrument_module(client, settings)
            return client
    else:
        roots = {cls.__module__.split(".")[0] for cls in type(client).__mro__}
        modules = {cls.__module__ for cls in type(client).__mro__}
        if "openai" in roots:
            from watchkeeper.sdk.integrations import openai  # noqa: PLC0415

            if openai.instrument_client(client, settings):
                return client
        elif "anthropic" in roots:
            from watchkeeper.sdk.integrations import anthropic  # noqa: PLC0415

            if anthropic.instrument_client(client, settings):
                return client
        elif "google.genai.client" in modules:
            from watchkeeper.sdk.integrations import google_genai  # noqa: PLC0415

            if google_genai.instrument_client(client, settings):
                return client
    raise TypeError(f"instrument() takes an {_SUPPORTED}; got {type(client).__qualname__}")


def instrument_llms(*, capture_content: bool | None = None) -> list[str]:
    """Record the calls of every client of the installed LLM libraries (openai, anthropic,
    google-genai; litellm when it is imported already), also of clients made later, by
    patching their classes once. Returns the libraries it instrumented. Calling it again
    changes nothing but ``capture_content``.

    >>> watchkeeper.instrument_llms()  # doctest: +SKIP
    ['openai', 'anthropic', 'google-genai']
    """
    import importlib.util  # noqa: PLC0415
    import sys  # noqa: PLC0415

    from watchkeeper.sdk.integrations import (  # noqa: PLC0415
        anthropic,
        google_genai,
        litellm,
        openai,
    )

    settings = Settings(capture_content, None)
    done = []
    for name, spec, module in (
        ("openai", "openai", openai),
        ("anthropic", "anthropic", anthropic),
        ("google-genai", "google.genai", google_genai),
    ):
        try:
            found = importlib.util.find_spec(spec) is not None
        except ModuleNotFoundError:
            found = False
        if found:
            module.instrument_classes(settings)
            done.append(name)
    # Importing litellm makes it fetch its price list from the internet (unless
    # LITELLM_LOCAL_MODEL_COST_MAP is set): only an app that imported it gets it patched.
    if "litellm" in sys.modules:
        litellm.instrument_module(sys.modules["litellm"], settings)
        done.append("litellm")
    return done
