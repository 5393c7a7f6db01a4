"""A fake LLM provider: OpenAI-, Anthropic- and Gemini-shaped endpoints on 127.0.0.1.

The real ``openai``, ``anthropic``, ``google-genai`` and ``litellm`` clients talk to it instead of
the internet. It is a Starlette app under a real uvicorn server in a background thread::

    with FakeProvider() as provider:
        client = openai.OpenAI(base_url=f"{provider.url}/v1", api_key="k")
        client.chat.completions.create(model="gpt-4o-mini", messages=[...])
        provider.requests[-1].json["model"]        # "gpt-4o-mini"

Endpoints (shapes checked against openai 2.54, anthropic 2.12, google-genai 3.4):

- ``POST /v1/chat/completions`` (SSE when ``stream``; the usage-only last chunk only with
  ``stream_options.include_usage``, ending ``data: [DONE]``), ``POST /v1/responses`` (SSE of typed
  events ``response.created`` … ``response.output_text.delta`` … ``response.completed``),
  ``POST /v1/embeddings`` (``encoding_format`` float or base64, ``dimensions``).
- ``POST /v1/messages`` (Anthropic; SSE with ``event:`` lines: message_start, ping,
  content_block_start/delta/stop, message_delta, message_stop).
- ``POST /{v1,v1beta}/models/{model}:generateContent`` and ``:streamGenerateContent?alt=sse``
  (google-genai in API-key mode defaults to ``v1``; pass ``http_options={"base_url": url}``).

Pointing the clients at it (see test_llm_provider.py): ``openai.OpenAI(base_url=f"{url}/v1")``;
``anthropic.Anthropic(base_url=url)`` (2.x sends its key as ``authorization: Bearer``);
``genai.Client(api_key=..., http_options={"base_url": url})``; litellm with
``model="openai/…", api_base=f"{url}/v1"``, ``"anthropic/…", api_base=url`` or
``"gemini/…", api_base=f"{url}/v1beta"``.

Answers are deterministic, so tests compute what to expect with the functions below:

- the reply is ``reply(last user message)`` = ``"echo: " + text``; streams send it in one piece
  per word (``"echo:"``, ``" hello"``, …) after ``first_chunk_delay`` seconds (default 0.02),
  with ``chunk_delay`` between pieces (default 0).
- tokens are whitespace-separated words: ``tokens(text)``. Input tokens are the words of every
  text in the request (system/instructions and all messages); output tokens the words of the
  reply. ``expected_usage(*texts)`` computes a ``Usage``; markers in any prompt text switch on:
  ``[cached]``  cached = input // 2 (OpenAI cached_tokens, Anthropic cache_read_input_tokens,
  Gemini cachedContentTokenCount); ``[cache-write]`` cache_write = input // 4 (Anthropic
  cache_creation_input_tokens only); ``[reason]`` reasoning = REASONING_TOKENS (OpenAI
  reasoning_tokens, Gemini thoughtsTokenCount, Anthropic output_tokens_details.thinking_tokens);
  ``[length]`` the answer stops for length (finish_reason "length", stop_reason "max_tokens",
  finishReason "MAX_TOKENS", Responses status "incomplete").
- each provider reports usage its own way: OpenAI input includes cached and output includes
  reasoning; Anthropic input_tokens excludes cache reads and writes; Gemini candidatesTokenCount
  excludes thoughts and omits cached/thoughts counts when zero, as the real API does.
- the answering model is ``served_model(provider, model)``: the requested name plus a dated
  suffix (``gpt-4o-mini`` → ``gpt-4o-mini-2024-07-18``), as real APIs answer; embeddings answer
  with the requested name.

Failures: ``fail_next(429)`` answers the next request(s) with a provider-shaped error body (by
the endpoint's provider) and ``retry-after`` plus ``retry-after-ms`` headers; ``delay_next(s)``
holds the next answer(s) back for ``s`` seconds, or until the client hangs up (counted in
``hangups``). ``requests`` lists every request received (``Received``: path, lower-case
headers, JSON body); ``reset()`` forgets requests and pending injections.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import itertools
import json
import re
import socket
import struct
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

import anyio
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

Provider = Literal["openai", "anthropic", "gemini"]
Json = dict[str, Any]

CACHED, CACHE_WRITE, REASON, LENGTH = "[cached]", "[cache-write]", "[reason]", "[length]"
REASONING_TOKENS = 12
SUFFIX: dict[Provider, str] = {"openai": "-2024-07-18", "anthropic": "-20251001", "gemini": "-001"}
_DATED = {"openai": r"-\d{4}-\d{2}-\d{2}$", "anthropic": r"-\d{8}$", "gemini": r"-\d{3}$"}


def tokens(text: str) -> int:
    """Tokens in ``text`` by the fake's rule: whitespace-separated words.

    >>> tokens("echo: hello  world")
    3
    """
    return len(text.split())


def reply(text: str) -> str:
    """The answer to a last user message ``text``.

    >>> reply("hello world")
    'echo: hello world'
    """
    return f"echo: {text}"


def served_model(provider: Provider, model: str) -> str:
    """The model name an answer reports for the requested ``model``.

    >>> served_model("openai", "gpt-4o-mini"), served_model("anthropic", "claude-haiku-4-5-latest")
    ('gpt-4o-mini-2024-07-18', 'claude-haiku-4-5-20251001')
    """
    model = model.removeprefix("models/").removesuffix("-latest")
    return model if re.search(_DATED[provider], model) else model + SUFFIX[provider]


def embedding(text: str, dimensions: int = 8) -> list[float]:
    """The fake's embedding of ``text``: ``dimensions`` values in [-1, 1), exact in float32.

    >>> len(embedding("hi", 3)), embedding("hi") == embedding("hi")
    (3, True)
    """
    digest = b"".join(hashlib.sha256(f"{text}#{n}".encode()).digest() for n in range(dimensions))
    return [(byte - 128) / 128 for byte in digest[:dimensions]]


@dataclass(frozen=True)
class Usage:
    """Token counts of one answer, provider-neutral (``input`` includes ``cached``)."""

    input: int
    visible: int
    cached: int = 0
    cache_write: int = 0
    reasoning: int = 0

    @property
    def output(self) -> int:
        """Output tokens with reasoning included, as OpenAI counts them."""
        return self.visible + self.reasoning

    @property
    def total(self) -> int:
        return self.input + self.output


def expected_usage(*texts: str, reply_to: str | None = None) -> Usage:
    """The usage the fake reports for a request whose prompt texts are ``texts``; the reply
    answers ``reply_to``, by default the last text.

    >>> expected_usage("be brief", "hi [cached]")
    Usage(input=4, visible=3, cached=2, cache_write=0, reasoning=0)
    """
    prompt = " ".join(texts)
    size = tokens(prompt)
    return Usage(
        input=size,
        visible=tokens(reply(texts[-1] if reply_to is None else reply_to)),
        cached=size // 2 if CACHED in prompt else 0,
        cache_write=size // 4 if CACHE_WRITE in prompt else 0,
        reasoning=REASONING_TOKENS if REASON in prompt else 0,
    )


@dataclass(frozen=True)
class Received:
    """One request as the fake received it."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    json: Any
    at: float = field(default_factory=time.monotonic)


@dataclass
class _Answer:
    """What every provider says to one request, before it is put in that provider's shape."""

    model: str
    text: str
    usage: Usage
    truncated: bool
    id: str

    def pieces(self) -> list[str]:
        return [piece for piece in re.split(r"(?=\s+\S)", self.text) if piece]


def _texts(content: Any) -> list[str]:
    """The text parts of a message content: a string, or a list of typed parts or Gemini parts."""
    if isinstance(content, str):
        return [content]
    if isinstance(content, dict):
        content = content.get("parts", [content])
    parts = content if isinstance(content, list) else []
    return [p["text"] for p in parts if isinstance(p, dict) and isinstance(p.get("text"), str)]


def _answer(provider: Provider, model: str, system: Any, messages: list[Any], id: str) -> _Answer:
    """The answer to a request whose system text is ``system`` and messages ``messages``."""
    texts, last_user = _texts(system) if system else [], ""
    for given in messages:
        # a Responses ``input`` may be a plain string, a user message
        message = {"role": "user", "content": given} if isinstance(given, str) else given
        if not isinstance(message, dict):
            continue
        parts = _texts(message.get("content", message.get("parts")))
        texts += parts
        if message.get("role", "user") == "user" and parts:
            last_user = " ".join(parts)
    usage = expected_usage(*texts, reply_to=last_user)
    prompt = " ".join(texts)
    return _Answer(served_model(provider, model), reply(last_user), usage, LENGTH in prompt, id)


def _sse(data: Any, event: str | None = None) -> bytes:
    head = f"event: {event}\n" if event else ""
    body = data if isinstance(data, str) else json.dumps(data)
    return f"{head}data: {body}\n\n".encode()


_ERRORS: dict[int, tuple[str, str, str]] = {  # status: (OpenAI type, Anthropic type, Gemini status)
    400: ("invalid_request_error", "invalid_request_error", "INVALID_ARGUMENT"),
    401: ("invalid_request_error", "authentication_error", "UNAUTHENTICATED"),
    403: ("permission_error", "permission_error", "PERMISSION_DENIED"),
    404: ("invalid_request_error", "not_found_error", "NOT_FOUND"),
    408: ("timeout", "timeout_error", "DEADLINE_EXCEEDED"),
    413: ("invalid_request_error", "request_too_large", "INVALID_ARGUMENT"),
    429: ("requests", "rate_limit_error", "RESOURCE_EXHAUSTED"),
    500: ("server_error", "api_error", "INTERNAL"),
    503: ("server_error", "api_error", "UNAVAILABLE"),
    504: ("server_error", "api_error", "DEADLINE_EXCEEDED"),
    529: ("server_error", "overloaded_error", "UNAVAILABLE"),
}


def error_body(provider: Provider, status: int, message: str | None = None) -> Json:
    """The error body ``provider`` sends with ``status``.

    >>> error_body("anthropic", 529)["error"]["type"]
    'overloaded_error'
    """
    default = ("server_error", "api_error", "INTERNAL")
    if status < 500:
        default = ("invalid_request_error", "invalid_request_error", "FAILED_PRECONDITION")
    openai_type, anthropic_type, gemini_status = _ERRORS.get(status, default)
    message = message or f"fake {provider} error {status}"
    if provider == "anthropic":
        return {"type": "error", "error": {"type": anthropic_type, "message": message}}
    if provider == "gemini":
        return {"error": {"code": status, "message": message, "status": gemini_status}}
    code = "rate_limit_exceeded" if status == 429 else None
    return {"error": {"message": message, "type": openai_type, "param": None, "code": code}}


@dataclass
class _Failure:
    status: int
    times: int
    retry_after: float | None
    body: Json | None


@dataclass
class _Delay:
    seconds: float
    times: int


class FakeProvider:
    """The fake provider server; a context manager that starts on enter and stops on exit.

    >>> with FakeProvider() as provider:
    ...     provider.fail_next(429)          # the next request is rate limited, then all is well
    """

    def __init__(self, *, first_chunk_delay: float = 0.02, chunk_delay: float = 0.0) -> None:
        self.url = ""
        self.requests: list[Received] = []
        self.hangups = 0  # delayed requests whose client hung up before the answer
        self.first_chunk_delay = self._first_chunk_default = first_chunk_delay
        self.chunk_delay = self._chunk_default = chunk_delay
        self._failures: list[_Failure] = []
        self._delays: list[_Delay] = []
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._socket: socket.socket | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def fail_next(
        self,
        status: int,
        times: int = 1,
        *,
        retry_after: float | None = 0.0,
        body: Json | None = None,
    ) -> None:
        """Answer the next ``times`` requests with ``status`` and the provider's error body (or
        ``body``). ``retry_after`` is sent as ``retry-after`` seconds and ``retry-after-ms``, at
        least 1 ms: the openai and anthropic clients ignore a zero delay and back off ~0.5 s.

        >>> provider.fail_next(529, 2, retry_after=None)  # doctest: +SKIP
        """
        if not 400 <= status <= 599:
            raise ValueError(f"status: an HTTP error status (400-599) is needed, not {status}")
        _check_times(times)
        with self._lock:
            self._failures.append(_Failure(status, times, retry_after, body))

    def delay_next(self, seconds: float, times: int = 1) -> None:
        """Hold the answer to the next ``times`` requests back for ``seconds`` (a client that
        times out first hangs up, and the fake stops waiting).

        >>> provider.delay_next(1.0)  # doctest: +SKIP
        """
        if not seconds >= 0:
            raise ValueError(f"seconds: must be 0 or more, not {seconds}")
        _check_times(times)
        with self._lock:
            self._delays.append(_Delay(seconds, times))

    def reset(self) -> None:
        """Forget received requests and pending failures and delays; restore stream delays."""
        with self._lock:
            self.requests.clear()
            self._failures.clear()
            self._delays.clear()
            self.hangups = 0
        self.first_chunk_delay, self.chunk_delay = self._first_chunk_default, self._chunk_default

    def __enter__(self) -> FakeProvider:
        self._socket = sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        config = uvicorn.Config(
            Starlette(routes=[Route("/{path:path}", self._dispatch, methods=["GET", "POST"])]),
            log_level="error",  # a bug in the fake shows as a traceback, not a quiet 500
            lifespan="off",
            ws="none",
            timeout_graceful_shutdown=2,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name="fake-llm", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the fake LLM provider did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server and self._thread:
            self._server.should_exit = True
            self._thread.join(10)
        if self._socket:
            self._socket.close()

    def _take(self) -> tuple[float, _Failure | None]:
        with self._lock:
            delay, failure = 0.0, None
            if self._delays:
                delay = self._delays[0].seconds
                self._delays[0].times -= 1
                if self._delays[0].times <= 0:
                    self._delays.pop(0)
            if self._failures:
                failure = self._failures[0]
                failure.times -= 1
                if failure.times <= 0:
                    self._failures.pop(0)
            return delay, failure

    async def _dispatch(self, request: Request) -> Response:
        raw = await request.body()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        path = request.url.path
        self.requests.append(
            Received(request.method, path, dict(request.query_params), dict(request.headers), body)
        )
        provider, handler, required = self._route(path)
        delay, failure = self._take()
        if delay and not await _wait_unless_gone(request, delay):
            with self._lock:
                self.hangups += 1
            return Response(status_code=499)  # nobody is listening any more
        if failure:
            return self._failure(provider, failure)
        if handler is None:
            return JSONResponse(error_body(provider, 404, f"no fake for {path}"), 404)
        missing = [name for name in required if not isinstance(body, dict) or name not in body]
        if missing:
            return JSONResponse(error_body(provider, 400, f"{missing[0]}: field required"), 400)
        return handler(body, path)

    def _route(self, path: str) -> tuple[Provider, Callable[[Json, str], Response] | None, Any]:
        """The provider that owns ``path``, its handler and the body fields it requires."""
        routes: dict[str, tuple[Provider, Callable[[Json, str], Response], tuple[str, ...]]] = {
            "/v1/chat/completions": ("openai", self._chat, ("model", "messages")),
            "/v1/responses": ("openai", self._responses, ("model", "input")),
            "/v1/embeddings": ("openai", self._embeddings, ("model", "input")),
            "/v1/messages": ("anthropic", self._messages, ("model", "messages")),
        }
        if path in routes:
            return routes[path]
        if re.fullmatch(r"/v1(beta)?/models/[^/:]+:(generateContent|streamGenerateContent)", path):
            return "gemini", self._gemini, ("contents",)
        return ("gemini" if "/models/" in path else "openai"), None, ()

    def _failure(self, provider: Provider, failure: _Failure) -> Response:
        headers = {}
        if failure.retry_after is not None:
            headers["retry-after"] = f"{failure.retry_after:g}"
            headers["retry-after-ms"] = str(max(1, round(failure.retry_after * 1000)))
        body = failure.body or error_body(provider, failure.status)
        return JSONResponse(body, failure.status, headers=headers)

    def _stream(self, events: Iterator[bytes]) -> StreamingResponse:
        first, between = self.first_chunk_delay, self.chunk_delay

        async def paced() -> AsyncIterator[bytes]:
            await asyncio.sleep(first)
            for n, event in enumerate(events):
                if n and between:
                    await asyncio.sleep(between)
                yield event

        return StreamingResponse(paced(), media_type="text/event-stream")

    def _id(self, prefix: str) -> str:
        return f"{prefix}fake{next(self._ids):06d}"

    # OpenAI ------------------------------------------------------------------------------

    def _chat(self, body: Json, path: str) -> Response:
        answer = _answer("openai", body["model"], None, body["messages"], self._id("chatcmpl-"))
        created, u = int(time.time()), answer.usage
        finish = "length" if answer.truncated else "stop"
        usage = {
            "prompt_tokens": u.input,
            "completion_tokens": u.output,
            "total_tokens": u.total,
            "prompt_tokens_details": {"cached_tokens": u.cached, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": u.reasoning, "audio_tokens": 0},
        }
        head = {"id": answer.id, "created": created, "model": answer.model}
        head |= {"service_tier": "default", "system_fingerprint": "fp_fake"}
        headers = {"x-request-id": self._id("req_")}
        if not body.get("stream"):
            message = {"role": "assistant", "content": answer.text, "refusal": None}
            choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": finish}
            result = head | {"object": "chat.completion", "choices": [choice], "usage": usage}
            return JSONResponse(result, headers=headers)
        with_usage = bool((body.get("stream_options") or {}).get("include_usage"))

        def chunk(delta: Json, finish_reason: str | None) -> bytes:
            choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
            data = head | {"object": "chat.completion.chunk", "choices": [choice]}
            return _sse(data | {"usage": None} if with_usage else data)

        def events() -> Iterator[bytes]:
            yield chunk({"role": "assistant", "content": "", "refusal": None}, None)
            for piece in answer.pieces():
                yield chunk({"content": piece}, None)
            yield chunk({}, finish)
            if with_usage:  # OpenAI sends usage in one last chunk, with no choices
                last = head | {"object": "chat.completion.chunk", "choices": [], "usage": usage}
                yield _sse(last)
            yield _sse("[DONE]")

        response = self._stream(events())
        response.headers.update(headers)
        return response

    def _responses(self, body: Json, path: str) -> Response:
        given = body.get("input", [])
        messages = [given] if isinstance(given, str) else given
        instructions = body.get("instructions")
        answer = _answer("openai", body["model"], instructions, messages, self._id("resp_"))
        u, item_id = answer.usage, self._id("msg_")
        part = {"type": "output_text", "text": answer.text, "annotations": [], "logprobs": []}
        item = {"id": item_id, "type": "message", "status": "completed", "role": "assistant"}
        status = "incomplete" if answer.truncated else "completed"
        response: Json = {
            "id": answer.id,
            "object": "response",
            "created_at": int(time.time()),
            "status": status,
            "error": None,
            "incomplete_details": {"reason": "max_output_tokens"} if answer.truncated else None,
            "instructions": instructions,
            "model": answer.model,
            "output": [item | {"content": [part]}],
            "parallel_tool_calls": True,
            "tool_choice": "auto",
            "tools": [],
            "text": {"format": {"type": "text"}},
            "usage": {
                "input_tokens": u.input,
                "input_tokens_details": {"cached_tokens": u.cached},
                "output_tokens": u.output,
                "output_tokens_details": {"reasoning_tokens": u.reasoning},
                "total_tokens": u.total,
            },
        }
        headers = {"x-request-id": self._id("req_")}
        if not body.get("stream"):
            return JSONResponse(response, headers=headers)
        seq = itertools.count()
        start = response | {"status": "in_progress", "output": [], "usage": None}

        def event(kind: str, **fields: Any) -> bytes:
            return _sse({"type": kind, "sequence_number": next(seq)} | fields, kind)

        def events() -> Iterator[bytes]:
            at = {"output_index": 0, "item_id": item_id, "content_index": 0}
            yield event("response.created", response=start)
            yield event("response.in_progress", response=start)
            added = item | {"status": "in_progress", "content": []}
            yield event("response.output_item.added", output_index=0, item=added)
            yield event("response.content_part.added", **at, part=part | {"text": ""})
            for piece in answer.pieces():
                yield event("response.output_text.delta", **at, delta=piece, logprobs=[])
            yield event("response.output_text.done", **at, text=answer.text, logprobs=[])
            yield event("response.content_part.done", **at, part=part)
            yield event("response.output_item.done", output_index=0, item=response["output"][0])
            yield event(f"response.{status}", response=response)

        stream = self._stream(events())
        stream.headers.update(headers)
        return stream

    def _embeddings(self, body: Json, path: str) -> Response:
        given = body.get("input", [])
        inputs = [given] if isinstance(given, str) else list(given)
        texts = [" ".join(map(str, i)) if isinstance(i, list) else str(i) for i in inputs]
        size, as_base64 = int(body.get("dimensions") or 8), body.get("encoding_format") == "base64"
        data = []
        for index, text in enumerate(texts):
            vector: Any = embedding(text, size)
            if as_base64:
                vector = base64.b64encode(struct.pack(f"<{size}f", *vector)).decode()
            data.append({"object": "embedding", "index": index, "embedding": vector})
        prompt = sum(tokens(text) for text in texts)
        usage = {"prompt_tokens": prompt, "total_tokens": prompt}
        result = {"object": "list", "data": data, "model": body["model"], "usage": usage}
        return JSONResponse(result, headers={"x-request-id": self._id("req_")})

    # Anthropic ---------------------------------------------------------------------------

    def _messages(self, body: Json, path: str) -> Response:
        system, messages = body.get("system"), body["messages"]
        answer = _answer("anthropic", body["model"], system, messages, self._id("msg_"))
        u = answer.usage
        stop = "max_tokens" if answer.truncated else "end_turn"
        usage = {
            "input_tokens": u.input - u.cached - u.cache_write,
            "cache_creation_input_tokens": u.cache_write,
            "cache_read_input_tokens": u.cached,
            "output_tokens": u.output,
        }
        if u.reasoning:  # the API's read-only breakdown of output_tokens, when it thought
            usage["output_tokens_details"] = {"thinking_tokens": u.reasoning}
        message = {"id": answer.id, "type": "message", "role": "assistant", "model": answer.model}
        headers = {"request-id": self._id("req_")}
        if not body.get("stream"):
            text = {"type": "text", "text": answer.text}
            final = {"content": [text], "stop_reason": stop, "stop_sequence": None, "usage": usage}
            return JSONResponse(message | final, headers=headers)

        def event(kind: str, **fields: Any) -> bytes:
            return _sse({"type": kind} | fields, kind)

        def events() -> Iterator[bytes]:
            opening = message | {"content": [], "stop_reason": None, "stop_sequence": None}
            yield event("message_start", message=opening | {"usage": usage | {"output_tokens": 1}})
            yield event("ping")
            yield event("content_block_start", index=0, content_block={"type": "text", "text": ""})
            for piece in answer.pieces():
                text = {"type": "text_delta", "text": piece}
                yield event("content_block_delta", index=0, delta=text)
            yield event("content_block_stop", index=0)
            # message_delta's usage holds cumulative totals, as the current API sends them
            ending = {"stop_reason": stop, "stop_sequence": None}
            yield event("message_delta", delta=ending, usage=usage)
            yield event("message_stop")

        stream = self._stream(events())
        stream.headers.update(headers)
        return stream

    # Gemini ------------------------------------------------------------------------------

    def _gemini(self, body: Json, path: str) -> Response:
        model, method = path.rsplit("/", 1)[1].split(":")
        system, contents = body.get("systemInstruction"), body["contents"]
        answer = _answer("gemini", model, system, contents, self._id("resp-"))
        u = answer.usage
        finish = "MAX_TOKENS" if answer.truncated else "STOP"
        usage: Json = {
            "promptTokenCount": u.input,
            "candidatesTokenCount": u.visible,
            "totalTokenCount": u.total,
            "promptTokensDetails": [{"modality": "TEXT", "tokenCount": u.input}],
        }
        if u.cached:
            usage["cachedContentTokenCount"] = u.cached
        if u.reasoning:
            usage["thoughtsTokenCount"] = u.reasoning

        def result(text: str, done: bool, usage: Json) -> Json:
            candidate: Json = {"content": {"parts": [{"text": text}], "role": "model"}, "index": 0}
            if done:
                candidate["finishReason"] = finish
            tail = {"modelVersion": answer.model, "responseId": answer.id}
            return {"candidates": [candidate], "usageMetadata": usage} | tail

        if method == "generateContent":
            return JSONResponse(result(answer.text, True, usage))

        def events() -> Iterator[bytes]:
            pieces = answer.pieces()
            partial = {"promptTokenCount": u.input, "totalTokenCount": u.input}
            for n, piece in enumerate(pieces):
                done = n == len(pieces) - 1
                yield _sse(result(piece, done, usage if done else partial))

        return self._stream(events())


def _check_times(times: int) -> None:
    if times < 1:
        raise ValueError(f"times: must be 1 or more, not {times}")


async def _wait_unless_gone(request: Request, seconds: float) -> bool:
    """Sleep ``seconds``; False as soon as the client disconnects (its timeout fired)."""
    with anyio.move_on_after(seconds):
        while (await request.receive())["type"] != "http.disconnect":
            pass
        return False
    return True
