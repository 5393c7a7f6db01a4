"""What recording an LLM call costs the app's thread: ``watchkeeper.instrument(client)`` against
langfuse's ``@observe(as_type="generation")``, in the same run.

The real clients (openai chat, streamed and not; anthropic messages; google-genai
generate_content) answer from an in-process transport (``httpx.MockTransport``, or httpx2's for
anthropic) with canned provider-shaped JSON and SSE, so a call costs only the client's own work
(≈0.5-1 ms of Python) and no network noise. Each call is made the way an app makes it (a
function that calls the client, reads the text and the usage), and timed in these modes:

- ``bare``: the client alone;
- ``watchkeeper``: the client through ``instrument``, ``init`` pointed at a counting sink (the
  batcher runs, as in production); ``watchkeeper+content`` the same with prompts and answers
  captured, which langfuse does by default;
- ``langfuse @observe``: the function decorated with ``@observe(as_type="generation")``, which
  passes model and usage with ``update_current_generation`` (the pattern its docstring shows);
  langfuse exports over OTLP/HTTP to the same kind of sink on a thread of its own;
- ``langfuse.openai`` (secondary): langfuse's OpenAI drop-in.

The modes of a section take turns, ``ROUNDS`` times, in one fresh interpreter (langfuse installs
the global OpenTelemetry provider; its drop-in patches openai's classes): a slow spell of the
machine hits all of them. The overhead of a mode is the median over the rounds of its
difference to ``bare`` in the same round, in caller-thread CPU (``time.thread_time_ns``) and in
wall time; beside it, the CPU the app's thread spent in the garbage collector per call over
all calls (:class:`GcMeter`), which the medians mostly leave out. The ``parts`` section splits
watchkeeper's overhead on an openai chat call (its wrapper in a warm loop, the same wrapper
after each real call, the real call inside it), and a last section sends instrumented calls to
a real ``watchkeeper serve`` and counts the spans it stored. Usage: ``python bench/llm.py``
(``--profile``: watchkeeper's functions by own time, from cProfile; ``--quick``: only the
watchkeeper section, printed).
"""

from __future__ import annotations

import gc
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import (
    WatchkeeperServer,
    child,
    counting_sink,
    run_section,
    time_statement,
    versions,
    write_result,
)

N, REPEATS, ROUNDS = 200, 3, 9
E2E_CALLS = 500  # per kind of call
TARGET_NS = 10_000
CALLS = ("openai chat", "openai chat, streamed", "anthropic messages", "gemini generate_content")
MESSAGES = [{"role": "user", "content": "Summarise the ticket in one line, please."}]
STATEMENT = "call(messages)"

# -- the provider, in process ----------------------------------------------------------------

_CHAT_USAGE = {
    "prompt_tokens": 9,
    "completion_tokens": 6,
    "total_tokens": 15,
    "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
    "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
}
_CHAT_HEAD = {
    "id": "chatcmpl-bench",
    "created": 1763769600,
    "model": "gpt-4o-mini-2024-07-18",
    "service_tier": "default",
    "system_fingerprint": "fp_bench",
}
_ANSWER = ["The", " printer", " on", " floor", " 3", " is", " jammed."]
CHAT = json.dumps(
    _CHAT_HEAD
    | {
        "object": "chat.completion",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "".join(_ANSWER), "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": _CHAT_USAGE,
    }
).encode()


def _event(choices: list[dict[str, Any]], usage: dict[str, Any] | None = None) -> str:
    data = _CHAT_HEAD | {"object": "chat.completion.chunk", "choices": choices, "usage": usage}
    return f"data: {json.dumps(data)}\n\n"


def _delta(delta: dict[str, Any], finish: str | None = None) -> list[dict[str, Any]]:
    return [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]


CHAT_SSE = (  # usage comes in a last chunk without choices (stream_options.include_usage)
    _event(_delta({"role": "assistant", "content": "", "refusal": None}))
    + "".join(_event(_delta({"content": piece})) for piece in _ANSWER)
    + _event(_delta({}, "stop"))
    + _event([], _CHAT_USAGE)
    + "data: [DONE]\n\n"
).encode()
MESSAGES_JSON = json.dumps(
    {
        "id": "msg_bench",
        "type": "message",
        "role": "assistant",
        "model": "claude-haiku-4-5-20251001",
        "content": [{"type": "text", "text": "".join(_ANSWER)}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {
            "input_tokens": 14,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
            "output_tokens": 8,
        },
    }
).encode()
GEMINI = json.dumps(
    {
        "candidates": [
            {
                "content": {"parts": [{"text": "".join(_ANSWER)}], "role": "model"},
                "finishReason": "STOP",
                "index": 0,
            }
        ],
        "usageMetadata": {"promptTokenCount": 9, "candidatesTokenCount": 7, "totalTokenCount": 16},
        "modelVersion": "gemini-2.0-flash-001",
        "responseId": "resp-bench",
    }
).encode()


def provider(http: Any) -> Any:
    """A transport of the httpx-like module ``http`` answering like the providers do."""
    json_type = [("content-type", "application/json")]
    sse_type = [("content-type", "text/event-stream")]

    def answer(request: Any) -> Any:
        path = request.url.path
        if path.endswith("/chat/completions"):
            body = request.content
            if b'"stream":true' in body or b'"stream": true' in body:
                return http.Response(200, headers=sse_type, content=CHAT_SSE)
            return http.Response(200, headers=json_type, content=CHAT)
        if path.endswith("/messages"):
            return http.Response(200, headers=json_type, content=MESSAGES_JSON)
        if path.endswith(":generateContent"):
            return http.Response(200, headers=json_type, content=GEMINI)
        return http.Response(404, headers=json_type, content=b"{}")

    return http.MockTransport(answer)


def clients() -> dict[str, Any]:
    """One client per library, bare, talking to :func:`provider`. anthropic 2.x opens
    OpenTelemetry spans of its own once a global provider is installed (watchkeeper and
    langfuse both install one): off for every anthropic client, so each mode measures only
    the library under test (``instrument`` turns them off anyway)."""
    import anthropic
    import httpx
    import httpx2
    import openai
    from google import genai

    made = {
        "openai": openai.OpenAI(
            api_key="sk-bench", http_client=httpx.Client(transport=provider(httpx))
        ),
        "anthropic": anthropic.Anthropic(
            api_key="sk-ant-bench",
            open_telemetry=False,
            http_client=httpx2.Client(transport=provider(httpx2)),
        ),
        "gemini": genai.Client(
            api_key="gm-bench",
            http_options={"httpx_client": httpx.Client(transport=provider(httpx))},
        ),
    }
    _ALIVE.append(made)  # a genai.Client closes its HTTP client when collected
    return made


_ALIVE: list[dict[str, Any]] = []


# -- the app's calls -------------------------------------------------------------------------


def _no_update(**fields: Any) -> None:
    """Stands for langfuse's ``update_current_generation`` in the other modes."""


def app_calls(made: dict[str, Any], update: Callable[..., None] = _no_update) -> dict[str, Any]:
    """Per kind of call, a function ``f(messages) -> text`` making it the way an app does
    (read the answer and the usage), on the clients ``made``; ``update`` gets model and usage."""
    chat = made["openai"].chat.completions.create
    create = made["anthropic"].messages.create
    generate = made["gemini"].models.generate_content

    def openai_chat(messages: list[dict[str, str]]) -> str:
        response = chat(model="gpt-4o-mini", messages=messages)
        usage = response.usage
        update(
            model=response.model,
            usage_details={"input": usage.prompt_tokens, "output": usage.completion_tokens},
        )
        return str(response.choices[0].message.content)

    def openai_stream(messages: list[dict[str, str]]) -> str:
        texts, usage = [], None
        stream = chat(
            model="gpt-4o-mini",
            messages=messages,
            stream=True,
            stream_options={"include_usage": True},
        )
        for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                texts.append(chunk.choices[0].delta.content)
            if chunk.usage is not None:
                usage = chunk.usage
        assert usage is not None
        update(
            model="gpt-4o-mini",
            usage_details={"input": usage.prompt_tokens, "output": usage.completion_tokens},
        )
        return "".join(texts)

    def anthropic_messages(messages: list[dict[str, str]]) -> str:
        response = create(model="claude-haiku-4-5", max_tokens=256, messages=messages)
        usage = response.usage
        update(
            model=response.model,
            usage_details={"input": usage.input_tokens, "output": usage.output_tokens},
        )
        return str(response.content[0].text)

    def gemini_generate(messages: list[dict[str, str]]) -> str:
        response = generate(model="gemini-2.0-flash", contents=messages[0]["content"])
        usage = response.usage_metadata
        update(
            model="gemini-2.0-flash",
            usage_details={
                "input": usage.prompt_token_count,
                "output": usage.candidates_token_count,
            },
        )
        return str(response.text)

    return dict(
        zip(CALLS, (openai_chat, openai_stream, anthropic_messages, gemini_generate), strict=True)
    )


class GcMeter:
    """The app's thread's CPU inside the garbage collector, and its collections per generation
    (``gc.callbacks``). The median of the repeats leaves out most full collections, which are
    rare and long (≈0.1 s over this heap): this is their cost, spread over the calls."""

    def __init__(self) -> None:
        self.ns, self.collections, self._t0 = 0, [0, 0, 0], 0
        self._thread = threading.get_ident()
        gc.callbacks.append(self._seen)

    def _seen(self, phase: str, info: dict[str, int]) -> None:
        if threading.get_ident() != self._thread:
            return  # the batcher's or the exporter's thread
        if phase == "start":
            self._t0 = time.thread_time_ns()
        else:
            self.ns += time.thread_time_ns() - self._t0
            self.collections[info["generation"]] += 1


def take_turns(
    modes: dict[str, dict[str, Any]], flush: Callable[[], object] | None, rounds: int = ROUNDS
) -> list[dict[str, Any]]:
    """Time every call of every mode (``modes[mode][call]`` a function), the modes taking turns
    in a rotating order, ``rounds`` times; ``flush`` runs untimed after each repeat."""
    names, rows, meter = list(modes), [], GcMeter()
    for round_ in range(rounds):
        shift = round_ % len(names)
        for mode in names[shift:] + names[:shift]:
            for name, call in modes[mode].items():
                scope = {"call": call, "messages": MESSAGES}
                ns, collections = meter.ns, list(meter.collections)
                timing = time_statement(
                    name, STATEMENT, scope, n=N, repeats=REPEATS, after_repeat=flush
                )
                rows.append(
                    timing.as_dict()
                    | {
                        "mode": mode,
                        "round": round_,
                        "calls": min(N, 100) + N * REPEATS,
                        "gc_ns": meter.ns - ns,
                        "gc_collections": [
                            a - b for a, b in zip(meter.collections, collections, strict=True)
                        ],
                    }
                )
    return rows


def count_exports(langfuse: Any) -> dict[str, int]:
    """Count the spans langfuse's exporter is handed and how many exports failed (on its
    thread), by wrapping the exporter of its batch processor (private: -1 when not found)."""
    counts = {"exported": -1, "failed_exports": -1}
    try:
        processor = langfuse._resources.tracer_provider._active_span_processor._span_processors[0]
        exporter = processor._batch_processor._exporter
    except (AttributeError, IndexError):
        return counts
    export, counts["exported"], counts["failed_exports"] = exporter.export, 0, 0

    def counted(spans: Any) -> Any:
        outcome = export(spans)
        counts["exported"] += len(spans)
        counts["failed_exports"] += outcome.name != "SUCCESS"
        return outcome

    exporter.export = counted
    return counts


def made_per_mode(calls: int) -> int:
    """The calls :func:`take_turns` makes per mode, warm-ups included, for ``calls`` kinds."""
    return ROUNDS * calls * (min(N, 100) + N * REPEATS)


def _loads() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


# -- sections (each in a fresh interpreter) --------------------------------------------------


def section_watchkeeper(sink: str) -> list[dict[str, Any]]:
    import watchkeeper

    load = _loads()
    watchkeeper.init(endpoint=sink, key="bench", service="bench", spool_dir=tempfile.mkdtemp())
    bare, plain, content = clients(), clients(), clients()
    for made in plain.values():
        watchkeeper.instrument(made)
    for made in content.values():
        watchkeeper.instrument(made, capture_content=True)
    modes = {
        "bare": app_calls(bare),
        "watchkeeper": app_calls(plain),
        "watchkeeper+content": app_calls(content),
    }
    rows = take_turns(modes, lambda: watchkeeper.flush(30))
    flushed = watchkeeper.flush(30)
    stats = watchkeeper.stats()
    watchkeeper.shutdown()
    return [{"rows": rows, "stats": stats, "flushed": flushed, "load": [load, _loads()]}]


def section_langfuse(sink: str) -> list[dict[str, Any]]:
    load = _loads()
    os.environ |= {
        "LANGFUSE_PUBLIC_KEY": "pk-lf-bench",
        "LANGFUSE_SECRET_KEY": "sk-lf-bench",
        "LANGFUSE_BASE_URL": sink,
    }
    from langfuse import get_client, observe

    langfuse = get_client()
    bare = clients()
    observed = {
        name: observe(as_type="generation", name=name)(call)
        for name, call in app_calls(bare, langfuse.update_current_generation).items()
    }
    exports = count_exports(langfuse)
    rows = take_turns({"bare": app_calls(bare), "langfuse @observe": observed}, langfuse.flush)
    langfuse.shutdown()
    exports["made"] = made_per_mode(len(CALLS))
    return [{"rows": rows, "load": [load, _loads()], "exports": exports}]


def section_langfuse_openai(sink: str) -> list[dict[str, Any]]:
    """langfuse's drop-in patches openai's classes when imported: the bare calls go through
    methods bound before that (its stream hook, installed on ``openai.Stream``, still runs in
    them, which if anything makes the drop-in look cheaper)."""
    load = _loads()
    os.environ |= {
        "LANGFUSE_PUBLIC_KEY": "pk-lf-bench",
        "LANGFUSE_SECRET_KEY": "sk-lf-bench",
        "LANGFUSE_BASE_URL": sink,
    }
    bare_calls = app_calls(clients())
    import langfuse.openai  # patches the openai module
    from langfuse import get_client

    dropin_calls = app_calls(clients())
    names = CALLS[:2]
    modes = {
        "bare": {name: bare_calls[name] for name in names},
        "langfuse.openai": {name: dropin_calls[name] for name in names},
    }
    langfuse = get_client()
    exports = count_exports(langfuse)
    rows = take_turns(modes, langfuse.flush)
    langfuse.shutdown()
    exports["made"] = made_per_mode(len(names))
    return [{"rows": rows, "load": [load, _loads()], "exports": exports}]


def section_parts(sink: str) -> list[dict[str, Any]]:
    """Where watchkeeper's overhead on an openai chat call comes from: its wrapper around a
    stub client that returns a real response, in a tight loop (warm caches), and the same
    wrapper run after each real call (caches as cold as in the app); the rest of the overhead
    is the real call made inside the wrapper (its attempt hook, the span's context)."""
    import watchkeeper
    from watchkeeper.sdk.integrations import llm
    from watchkeeper.sdk.integrations import openai as integration

    load = _loads()
    watchkeeper.init(endpoint=sink, key="bench", service="bench", spool_dir=tempfile.mkdtemp())
    bare = clients()["openai"].chat.completions.create
    instrumented = watchkeeper.instrument(clients()["openai"])
    response = bare(model="gpt-4o-mini", messages=MESSAGES)
    stub = llm.wrap(
        lambda **kwargs: response, integration.CHAT, llm.Settings(), lambda args: instrumented
    )
    create = instrumented.chat.completions.create
    kwargs = {"model": "gpt-4o-mini"}
    modes = {
        "bare": {"openai chat": lambda m: bare(messages=m, **kwargs)},
        "watchkeeper": {"openai chat": lambda m: create(messages=m, **kwargs)},
        "wrapper alone": {"openai chat": lambda m: stub(messages=m, **kwargs)},
        "bare, then wrapper": {
            "openai chat": lambda m: (bare(messages=m, **kwargs), stub(messages=m, **kwargs))
        },
    }
    # A split of one noisy difference: twice the rounds.
    rows = take_turns(modes, lambda: watchkeeper.flush(30), rounds=2 * ROUNDS)
    watchkeeper.shutdown()
    return [{"rows": rows, "load": [load, _loads()]}]


def section_e2e(server: str, key: str) -> list[dict[str, Any]]:
    """``E2E_CALLS`` instrumented calls of each kind, sent to a real ``watchkeeper serve``."""
    import watchkeeper

    watchkeeper.init(endpoint=server, key=key, service="bench", spool_dir=tempfile.mkdtemp())
    made = clients()
    for client in made.values():
        watchkeeper.instrument(client)
    calls = app_calls(made)
    for call in calls.values():
        for _ in range(E2E_CALLS):
            call(MESSAGES)
    flushed = watchkeeper.flush(60)
    stats = watchkeeper.stats()
    watchkeeper.shutdown()
    return [{"calls": E2E_CALLS * len(calls), "flushed": flushed, "stats": stats}]


def profile(calls: int = 3000) -> None:
    """``--profile``: how many GC-tracked objects each queued call keeps alive until the
    batcher takes it, per kind of call; then watchkeeper's functions by own time over
    ``calls`` instrumented openai chat calls (cProfile inflates small functions; the ranking
    is what it tells)."""
    import cProfile
    import pstats

    import watchkeeper

    with counting_sink() as sink:
        spool = tempfile.mkdtemp()
        # The batcher waits (no batch fills, no interval passes) while the objects are counted.
        watchkeeper.init(endpoint=sink, key="bench", service="bench", spool_dir=spool,
                         batch_size=10**6, flush_interval=3600, queue_size=10**6)  # fmt: skip
        made = clients()
        for client in made.values():
            watchkeeper.instrument(client)
        for name, call in app_calls(made).items():
            call(MESSAGES)
            watchkeeper.flush(30)
            gc.collect()
            before = len(gc.get_objects())
            for _ in range(1000):
                call(MESSAGES)
            gc.collect()
            held = len(gc.get_objects()) - before
            watchkeeper.flush(30)
            print(f"{name}: {held / 1000:.1f} GC-tracked objects held per queued call")
        watchkeeper.shutdown()

        watchkeeper.init(endpoint=sink, key="bench", service="bench", spool_dir=spool)
        made = clients()
        watchkeeper.instrument(made["openai"])
        call = app_calls(made)["openai chat"]
        for _ in range(200):
            call(MESSAGES)
        profiler = cProfile.Profile()
        profiler.runcall(lambda: [call(MESSAGES) for _ in range(calls)])
        watchkeeper.shutdown()
    stats = pstats.Stats(profiler)
    stats.sort_stats("tottime").print_stats(r"watchkeeper|contextvars|getrandbits", 25)


# -- figures ---------------------------------------------------------------------------------


def summarise(rows: list[dict[str, Any]]) -> dict[str, dict[str, dict[str, Any]]]:
    """Per call and mode: medians over the rounds of wall, caller-thread CPU and process CPU
    per call, and of the difference to ``bare`` in the same round (the overhead), in ns."""
    by_key = {(r["name"], r["mode"], r["round"]): r for r in rows}
    figures: dict[str, dict[str, dict[str, Any]]] = {}
    for name, mode, round_ in by_key:
        if round_ or (name, mode) in figures.get(name, {}):
            continue
        mine = [r for (n, m, _), r in by_key.items() if n == name and m == mode]
        entry: dict[str, Any] = {
            "wall_ns": round(statistics.median(r["median_ns"] for r in mine)),
            "cpu_ns": round(statistics.median(r["thread_cpu_ns"] for r in mine)),
            "process_cpu_ns": round(statistics.median(r["process_cpu_ns"] for r in mine)),
            "gc_ns_per_call": round(sum(r["gc_ns"] for r in mine) / sum(r["calls"] for r in mine)),
            "gc_collections": [sum(r["gc_collections"][g] for r in mine) for g in range(3)],
        }
        if mode != "bare":
            pairs = [(r, by_key[(name, "bare", r["round"])]) for r in mine]
            cpu = sorted(r["thread_cpu_ns"] - b["thread_cpu_ns"] for r, b in pairs)
            wall = [r["median_ns"] - b["median_ns"] for r, b in pairs]
            entry |= {
                "overhead_cpu_ns": round(statistics.median(cpu)),
                "overhead_wall_ns": round(statistics.median(wall)),
                "overhead_cpu_quartiles_ns": [round(q) for q in statistics.quantiles(cpu, n=4)],
            }
        figures.setdefault(name, {})[mode] = entry
    return figures


def extra_gc(raw: dict[str, dict[str, Any]]) -> dict[str, int]:
    """Per mode, the app's thread's GC CPU per call beyond its section's bare calls, over all
    kinds of call together (a full collection lands on whichever kind crosses the threshold)."""
    extra = {}
    for section in ("watchkeeper", "langfuse", "langfuse_openai"):
        spent: dict[str, list[int]] = {}
        for row in raw[section]["rows"]:
            total = spent.setdefault(row["mode"], [0, 0])
            total[0] += row["gc_ns"]
            total[1] += row["calls"]
        bare = spent.pop("bare")
        for mode, (ns, calls) in spent.items():
            extra[mode] = round(ns / calls - bare[0] / bare[1])
    return extra


def ratio(theirs: int, ours: int) -> float | None:
    return round(theirs / ours, 1) if ours > 0 else None


def main() -> dict[str, Any]:
    with counting_sink() as sink, tempfile.TemporaryDirectory() as data:
        raw = {
            section: child(__file__, section, sink)[0]
            for section in ("watchkeeper", "langfuse", "langfuse_openai", "parts")
        }
        server = WatchkeeperServer(Path(data))
        try:
            e2e = child(__file__, "e2e", server.url, server.ingest_key)[0]
            e2e["stored"] = server.count("span")
        finally:
            server.stop()
    figures = {section: summarise(found["rows"]) for section, found in raw.items()}
    ours, theirs = figures["watchkeeper"], figures["langfuse"]
    headline = {}
    for name in CALLS:
        wk, lf = ours[name]["watchkeeper"], theirs[name]["langfuse @observe"]
        headline[name] = {
            "bare_ns": ours[name]["bare"]["wall_ns"],
            "bare_cpu_ns": ours[name]["bare"]["cpu_ns"],
            "watchkeeper_cpu_ns": wk["overhead_cpu_ns"],
            "watchkeeper_wall_ns": wk["overhead_wall_ns"],
            "watchkeeper_content_cpu_ns": ours[name]["watchkeeper+content"]["overhead_cpu_ns"],
            "langfuse_observe_cpu_ns": lf["overhead_cpu_ns"],
            "langfuse_observe_wall_ns": lf["overhead_wall_ns"],
            "ratio_cpu": ratio(lf["overhead_cpu_ns"], wk["overhead_cpu_ns"]),
            "ratio_wall": ratio(lf["overhead_wall_ns"], wk["overhead_wall_ns"]),
            "ratio_cpu_both_capturing_content": ratio(
                lf["overhead_cpu_ns"], ours[name]["watchkeeper+content"]["overhead_cpu_ns"]
            ),
            "within_target": wk["overhead_cpu_ns"] <= TARGET_NS
            and wk["overhead_wall_ns"] <= TARGET_NS,
        }
        dropin = figures["langfuse_openai"].get(name)
        if dropin:
            headline[name]["langfuse_openai_cpu_ns"] = dropin["langfuse.openai"]["overhead_cpu_ns"]
            headline[name]["langfuse_openai_wall_ns"] = dropin["langfuse.openai"][
                "overhead_wall_ns"
            ]
    parts = figures["parts"]["openai chat"]
    result = {
        "benchmark": "llm",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "versions": versions(
            "watchkeeper",
            "openai",
            "anthropic",
            "google-genai",
            "langfuse",
            "opentelemetry-sdk",
            "httpx",
            "httpx2",
        ),
        "method": (
            f"real clients answering from an in-process mock transport (no network); each mode "
            f"{N} calls x {REPEATS} repeats (median repeat) per round, {ROUNDS} rounds with the "
            "modes taking turns in one fresh interpreter per section, untimed flush after each "
            "repeat; overhead = median over the rounds of (mode - bare) in the same round, "
            "caller-thread CPU and wall ns per call"
        ),
        "target_ns": TARGET_NS,
        "headline": headline,
        "parts_openai_chat_cpu_ns": {
            "instrumented - bare": parts["watchkeeper"]["overhead_cpu_ns"],
            "the wrapper alone, in a warm loop around a stub client": parts["wrapper alone"][
                "cpu_ns"
            ],
            "the same wrapper run after each real call": parts["bare, then wrapper"][
                "overhead_cpu_ns"
            ],
        },
        "parts_quartiles_cpu_ns": {
            mode: parts[mode]["overhead_cpu_quartiles_ns"]
            for mode in ("watchkeeper", "bare, then wrapper")
        },
        "extra_gc_ns_per_call": extra_gc(raw),
        "figures": figures,
        "load_average_1_5_15_min": {s: found["load"] for s, found in raw.items()},
        "watchkeeper_stats": raw["watchkeeper"]["stats"]
        | {"llm_calls_made": made_per_mode(len(CALLS)) * 2},
        "langfuse_exports": {s: raw[s]["exports"] for s in ("langfuse", "langfuse_openai")},
        "end_to_end": e2e,
        "rows": {section: found["rows"] for section, found in raw.items()},
    }
    write_result("llm", result)
    return result


def quick() -> None:
    """``--quick``: only the watchkeeper section (about a minute), its overhead per call printed
    and nothing written; for measuring a change to the integrations before and after it."""
    with counting_sink() as sink:
        found = child(__file__, "watchkeeper", sink)[0]
    figures = summarise(found["rows"])
    print(f"load average at start, end: {found['load'][0]}, {found['load'][1]}")
    print("call | mode | overhead CPU µs (quartiles) | overhead wall µs | GC µs/call")
    for name, modes in figures.items():
        gc_bare = modes["bare"]["gc_ns_per_call"]
        for mode, entry in modes.items():
            if mode == "bare":
                continue
            low, _, high = entry["overhead_cpu_quartiles_ns"]
            print(
                f"{name} | {mode} | {_us(entry['overhead_cpu_ns'])} ({_us(low)}-{_us(high)}) | "
                f"{_us(entry['overhead_wall_ns'])} | {_us(entry['gc_ns_per_call'] - gc_bare)}"
            )
    extra = extra_gc({section: found for section in ("watchkeeper", "langfuse", "langfuse_openai")})
    print("GC µs per call beyond bare, all calls: " + ", ".join(
        f"{mode} {_us(ns)}" for mode, ns in extra.items() if mode.startswith("watchkeeper")
    ))  # fmt: skip


def _us(ns: float) -> str:
    return f"{ns / 1000:,.1f}"


def summary(result: dict[str, Any]) -> str:
    """Markdown lines for bench/results/README.md."""
    lines = [
        "## LLM calls on the app's thread (`bench/llm.py`)",
        "",
        f"{result['method']}. Overhead over the bare client in µs per call: caller-thread CPU "
        "(wall in brackets).",
        "",
        "| call | bare client | `watchkeeper.instrument` | with content | langfuse "
        f'{result["versions"]["langfuse"]} `@observe(as_type="generation")` | ratio CPU (wall) '
        "| `langfuse.openai` drop-in | target ≤ 10 µs |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for name, h in result["headline"].items():
        dropin = (
            f"{_us(h['langfuse_openai_cpu_ns'])} ({_us(h['langfuse_openai_wall_ns'])})"
            if "langfuse_openai_cpu_ns" in h
            else ""
        )
        lines.append(
            f"| {name} | {_us(h['bare_ns'])} | {_us(h['watchkeeper_cpu_ns'])} "
            f"({_us(h['watchkeeper_wall_ns'])}) | {_us(h['watchkeeper_content_cpu_ns'])} | "
            f"{_us(h['langfuse_observe_cpu_ns'])} ({_us(h['langfuse_observe_wall_ns'])}) | "
            f"{h['ratio_cpu']}× ({h['ratio_wall']}×) | {dropin} | "
            f"{'met' if h['within_target'] else 'missed'} |"
        )
    parts = result["parts_openai_chat_cpu_ns"]
    e2e = result["end_to_end"]
    lost = e2e["calls"] - e2e["stored"]
    lines += [
        "",
        "Garbage collection, which the medians mostly leave out (a full collection is rare and "
        "long): the app's thread's CPU in the collector per call beyond the bare client's, over "
        "all calls of a section (µs): "
        + ", ".join(f"{mode} {_us(ns)}" for mode, ns in result["extra_gc_ns_per_call"].items())
        + ".",
        "",
        "Where watchkeeper's CPU on an openai chat call goes (µs): "
        + "; ".join(f"{what} {_us(ns)}" for what, ns in parts.items())
        + ". Load average (1 min) at the sections' starts: "
        + ", ".join(f"{s} {load[0][0]}" for s, load in result["load_average_1_5_15_min"].items())
        + ".",
        "",
        f"End to end: {e2e['calls']:,} instrumented calls sent to a real `watchkeeper serve`, "
        f"which stored {e2e['stored']:,} spans ({lost} lost; SDK dropped "
        f"{e2e['stats']['dropped']}).",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sections = {
        "watchkeeper": section_watchkeeper,
        "langfuse": section_langfuse,
        "langfuse_openai": section_langfuse_openai,
        "parts": section_parts,
        "e2e": section_e2e,
    }
    if "--profile" in sys.argv:
        profile()
    elif "--quick" in sys.argv:
        quick()
    elif not run_section(sections):
        outcome = main()
        print(summary(outcome))
        print(json.dumps(outcome["headline"]))
