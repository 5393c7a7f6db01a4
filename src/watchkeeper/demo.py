"""The synthetic LLM chat app behind ``watchkeeper demo``: users chatting with an assistant.

It is an ordinary user of the SDK: :func:`start` calls ``watchkeeper.init()`` and simulated
requests run on worker threads, opening real spans (``with watchkeeper.span(...)``) and sleeping
for as long as each step "takes", so durations, nesting and context propagation are the SDK's own.
Requests arrive as a Poisson process whose rate drifts between quieter and busier periods (about
5 to 45 per second); users come from a Zipf-like pool, so a few are very active. Each request is a
server span ``POST /chat`` with a database read, a retrieval step (an embeddings call and a vector
search), one or two LLM calls carrying GenAI semantic-convention attributes (a tool call between
them), and a database write; latencies are lognormal with rare slow outliers, and about 3 % fail
(provider rate limits, timeouts and 5xx, database errors).

>>> app = ChatApp(seed=1, speed=1000)  # 1000x faster: a request takes milliseconds
>>> app.request()  # emits through the default client, if any
"""

from __future__ import annotations

import logging
import math
import random
import secrets
import threading
import zlib
from collections import deque
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from time import perf_counter, time
from typing import Final

import watchkeeper
from watchkeeper import Client
from watchkeeper.records import SpanKind
from watchkeeper.sdk import metrics
from watchkeeper.sdk.traces import SpanScope

logger = logging.getLogger(__name__)
app_log = logging.getLogger("chat_api")
"""The simulated app's own log, shipped to the server (not printed) once the demo starts."""
MESSAGES = metrics.counter("chat_messages_total", "Chat messages answered, by model.", ("model",))
SLOW_REQUEST_S = 8.0

SERVICE: Final = "demo-chat-api"
ENVIRONMENT: Final = "demo"
RELEASE: Final = "1.4.2"

BASE_RATE: Final = 14.0
"""Mean requests per second before the slow waves and bursts of :func:`rate`."""

MAX_CONCURRENT: Final = 256
"""Requests in flight at most (worker threads); more wait for a free worker."""

USERS: Final = 600


@dataclass(frozen=True)
class Model:
    provider: str
    name: str
    response_name: str
    server: str
    first_token_s: float
    """Median time to the first token."""
    per_token_s: float
    """Time per output token once streaming."""


MODELS: Final = (
    Model("openai", "gpt-4o-mini", "gpt-4o-mini-2024-07-18", "api.openai.com", 0.35, 0.007),
    Model("openai", "gpt-4o", "gpt-4o-2024-08-06", "api.openai.com", 0.45, 0.012),
    Model(
        "anthropic",
        "claude-3-5-haiku-20241022",
        "claude-3-5-haiku-20241022",
        "api.anthropic.com",
        0.5,
        0.008,
    ),
    Model(
        "anthropic",
        "claude-sonnet-4-20250514",
        "claude-sonnet-4-20250514",
        "api.anthropic.com",
        0.8,
        0.015,
    ),
    Model(
        "gcp.gemini",
        "gemini-2.0-flash",
        "gemini-2.0-flash",
        "generativelanguage.googleapis.com",
        0.3,
        0.004,
    ),
)
# Free users get the small models more often; paying ones the large ones.
_MODEL_WEIGHTS: Final = {
    "free": (50, 5, 25, 2, 18),
    "pro": (25, 30, 10, 25, 10),
    "team": (15, 35, 5, 40, 5),
}
EMBEDDING_MODEL: Final = Model(
    "openai", "text-embedding-3-small", "text-embedding-3-small", "api.openai.com", 0.06, 0.0
)


class SimulatedError(Exception):
    """A failure the simulated app meets; ``status`` is what it answers the user."""

    status = 500


class RateLimitError(SimulatedError):
    """The provider answered 429."""

    status = 503


class InternalServerError(SimulatedError):
    """The provider answered 5xx."""

    status = 502


class APITimeoutError(SimulatedError):
    """The provider did not answer in time."""

    status = 504


class OperationalError(SimulatedError):
    """The database failed the statement."""


_LLM_ERRORS: Final = (
    # (error, share of LLM failures, how long the failing call takes, message)
    (RateLimitError, 50, (0.08, 0.3), "429 Too Many Requests: rate limit reached for requests"),
    (InternalServerError, 30, (0.4, 2.0), "500 Internal Server Error: the server had an error"),
    (APITimeoutError, 20, (10.0, 10.0), "request timed out after 10.0 s"),
)
LLM_ERROR_RATE: Final = 0.025
DB_ERROR_RATE: Final = 0.004


def rate(now: float) -> float:
    """Requests per second at Unix time ``now``: a 30-minute wave, a 5-minute ripple, and
    two-minute bursts (one window in five runs 1.8x busier). Deterministic in ``now``."""
    wave = 1 + 0.5 * math.sin(2 * math.pi * now / 1800)
    ripple = 1 + 0.25 * math.sin(2 * math.pi * now / 300 + 1.1)
    burst = 1.8 if random.Random(int(now // 120)).random() < 0.2 else 1.0  # noqa: S311
    return BASE_RATE * wave * ripple * burst


class ChatApp:
    """The simulated app. :meth:`request` serves one chat message through the SDK; :meth:`run`
    keeps requests arriving until stopped. ``speed`` divides every wait (tests use 1000);
    ``client`` is the SDK client to emit to (default: the process default)."""

    def __init__(
        self, *, seed: int | None = None, speed: float = 1.0, client: Client | None = None
    ) -> None:
        self.random = random.Random(seed)  # noqa: S311 (a simulation, not a secret)
        self.speed = speed
        self.client = client
        self.stopping = threading.Event()
        # Zipf-like activity: the user ranked r is picked with weight 1 / r**1.1.
        self.users = [f"u{n:04d}" for n in range(1, USERS + 1)]
        self.cumulative: list[float] = []
        total = 0.0
        for rank in range(1, USERS + 1):
            total += 1 / rank**1.1
            self.cumulative.append(total)
        self.recent: deque[str] = deque(maxlen=50)
        """Users who signed up lately: new users try the product right away."""
        self.conversations: dict[str, tuple[str, int]] = {}
        """Each user's open conversation: its id and the turns so far."""
        self._lock = threading.Lock()

    # The arrival process

    def run(self) -> None:
        """Start requests at :func:`rate` until :meth:`stop`; return once those in flight end."""
        with ThreadPoolExecutor(MAX_CONCURRENT, thread_name_prefix="demo-request") as workers:
            while not self.stopping.wait(self.random.expovariate(rate(time())) / self.speed):
                workers.submit(self._request_logged)
            workers.shutdown(wait=True, cancel_futures=True)

    def stop(self) -> None:
        """Stop starting requests and cut the waits of those in flight short."""
        self.stopping.set()

    def _request_logged(self) -> None:
        try:
            self.request()
        except Exception:
            # A worker's exception would otherwise vanish into its Future.
            logger.exception("demo request failed")

    # One request

    def request(self) -> None:
        """One user sends one chat message: events, and the trace of serving it."""
        user, plan = self._user()
        with watchkeeper.bind(user_id=user):  # the user reaches its spans, logs and errors
            self._request_as(user, plan)

    def _request_as(self, user: str, plan: str) -> None:
        rnd = self.random
        with self._lock:
            conversation, turn = self.conversations.get(user, ("", 0))
            new_chat = not conversation or turn >= rnd.randint(4, 14)
            if new_chat:
                conversation, turn = f"c_{secrets.token_hex(6)}", 0
            self.conversations[user] = (conversation, turn + 1)
        if rnd.random() < 0.05:
            self._track(
                "login", user, method=rnd.choice(("password", "google", "github")), plan=plan
            )
        if new_chat:
            source = rnd.choices(("sidebar", "shortcut", "shared_link"), (70, 25, 5))[0]
            self._track("chat_started", user, plan=plan, source=source)
        model = rnd.choices(MODELS, _MODEL_WEIGHTS[plan])[0]
        if conversation and turn > 0 and rnd.random() < 0.25:
            self._history(user, conversation)
        status = self._serve(user, plan, model, conversation, turn)
        if status == 200:
            if rnd.random() < 0.06:
                up = rnd.random() < 0.78
                self._track("feedback_given", user, rating="up" if up else "down", model=model.name)
            if rnd.random() < 0.015:
                self._track("export_clicked", user, format=rnd.choice(("markdown", "pdf", "docx")))
        elif rnd.random() < 0.3:
            self._track("retry_clicked", user, status=status)
        if plan == "free" and rnd.random() < 0.003:
            self._track("upgrade_clicked", user, placement=rnd.choice(("banner", "limit_dialog")))

    def _user(self) -> tuple[str, str]:
        rnd = self.random
        if rnd.random() < 0.004:
            user = f"u_{secrets.token_hex(4)}"
            self.recent.append(user)
            self._track(
                "signup", user, plan="free", referrer=rnd.choice(("google", "direct", "hn", "x"))
            )
            return user, "free"
        if self.recent and rnd.random() < 0.04:
            return rnd.choice(self.recent), "free"
        user = rnd.choices(self.users, cum_weights=self.cumulative)[0]
        return user, _plan(user)

    def _history(self, user: str, conversation: str) -> None:
        """``GET /conversations/{id}``: the app reloading a conversation; now and then a 404."""
        metrics.request_started("GET")
        started = perf_counter()
        root = self._span(
            "GET /conversations/{id}",
            {
                "http.request.method": "GET",
                "http.route": "/conversations/{id}",
                "url.path": f"/conversations/{conversation}",
                "user.id": user,
            },
            kind="server",
        )
        try:
            with root:
                self._wait(_lognormal(self.random, 0.001, 0.4))
                try:
                    self._db("SELECT", "messages", 0.006, rows=self.random.randint(2, 40))
                except SimulatedError as exc:
                    root.set_attribute("http.response.status_code", exc.status)
                    app_log.error("history failed for %s: %s", user, exc)
                    raise
                status = 404 if self.random.random() < 0.02 else 200
                root.set_attribute("http.response.status_code", status)
        except SimulatedError as exc:
            status = exc.status
        if status == 404:
            app_log.info("conversation %s not found", conversation)
        metrics.request_finished(
            "GET", "/conversations/{id}", status, perf_counter() - started, 0, 4_000
        )

    def _serve(self, user: str, plan: str, model: Model, conversation: str, turn: int) -> int:
        """The server side of ``POST /chat``; returns the HTTP status answered."""
        metrics.request_started("POST")
        started = perf_counter()
        status = 500
        try:
            status = self._serve_chat(user, plan, model, conversation, turn)
        finally:
            took = perf_counter() - started
            metrics.request_finished("POST", "/chat", status, took, 600, 2_400)
        if status == 200:
            MESSAGES.labels(model=model.name).inc()
            if took > SLOW_REQUEST_S:
                app_log.warning("slow chat answer: %.1f s with %s", took, model.name)
        return status

    def _serve_chat(self, user: str, plan: str, model: Model, conversation: str, turn: int) -> int:
        rnd = self.random
        root = self._span(
            "POST /chat",
            {
                "http.request.method": "POST",
                "http.route": "/chat",
                "url.path": "/chat",
                "user.id": user,
                "app.plan": plan,
                "gen_ai.conversation.id": conversation,
            },
            kind="server",
        )
        try:
            with root:
                self._wait(_lognormal(rnd, 0.002, 0.4))  # auth, parsing
                try:
                    self._db("SELECT", "messages", 0.004)
                    with self._span("retrieve_context", kind="internal") as retrieve:
                        self._embeddings()
                        documents = rnd.randint(3, 8)
                        self._db("SELECT", "documents", 0.018, rows=documents)
                        retrieve.set_attribute("retrieval.documents", documents)
                    self._track(
                        "message_sent",
                        user,
                        model=model.name,
                        plan=plan,
                        turn=turn + 1,
                        prompt_chars=int(_lognormal(rnd, 180, 0.9)),
                    )
                    if rnd.random() < 0.15:
                        self._chat(model, conversation, turn, "tool_calls", "web_search")
                        tool = {
                            "gen_ai.operation.name": "execute_tool",
                            "gen_ai.tool.name": "search_web",
                        }
                        with self._span("execute_tool search_web", tool, kind="internal"):
                            self._wait(_lognormal(rnd, 0.35, 0.5))
                    self._chat(model, conversation, turn, "stop", "chat")
                    self._db("INSERT", "messages", 0.003)
                    app_log.info("answered turn %d with %s", turn + 1, model.name)
                except SimulatedError as exc:
                    root.set_attribute("http.response.status_code", exc.status)
                    app_log.error("chat failed for %s: %s", user, exc, exc_info=True)
                    raise
                root.set_attribute("http.response.status_code", 200)
        except SimulatedError as exc:
            return exc.status  # the span above ended with status "error"
        return 200

    def _chat(self, model: Model, conversation: str, turn: int, finish: str, feature: str) -> None:
        rnd = self.random
        attributes: dict[str, object] = {
            "feature": feature,  # the app's own name for what the call is for (LLM page)
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": model.provider,
            "gen_ai.system": model.provider,  # the pre-1.37 name, still sent by many SDKs
            "gen_ai.request.model": model.name,
            "gen_ai.request.max_tokens": 1024,
            "gen_ai.request.temperature": 0.3,
            "gen_ai.request.stream": True,
            "gen_ai.conversation.id": conversation,
            "server.address": model.server,
        }
        with self._span(f"chat {model.name}", attributes) as span:
            if rnd.random() < LLM_ERROR_RATE:
                error, _share, (low, high), message = rnd.choices(
                    _LLM_ERRORS, [e[1] for e in _LLM_ERRORS]
                )[0]
                self._wait(rnd.uniform(low, high))
                span.set_attribute("error.type", error.__name__)
                raise error(f"{model.provider}: {message}")
            input_tokens = int(_lognormal(rnd, 900 + 350 * turn, 0.5))
            output_tokens = 40 if finish == "tool_calls" else int(_lognormal(rnd, 260, 0.7))
            output_tokens = min(output_tokens, 1024)
            first_token = _lognormal(rnd, model.first_token_s, 0.35)
            took = first_token + output_tokens * model.per_token_s * rnd.uniform(0.8, 1.25)
            if rnd.random() < 0.015:
                took *= rnd.uniform(3, 8)  # a provider having a bad minute
            self._wait(took)
            result: dict[str, object] = {
                "gen_ai.response.model": model.response_name,
                "gen_ai.response.id": f"resp_{secrets.token_hex(8)}",
                "gen_ai.response.finish_reasons": ["length" if output_tokens >= 1024 else finish],
                "gen_ai.response.time_to_first_chunk": round(first_token, 4),
                "gen_ai.usage.input_tokens": input_tokens,
                "gen_ai.usage.output_tokens": output_tokens,
            }
            if turn > 0 and model.provider != "gcp.gemini" and rnd.random() < 0.6:
                result["gen_ai.usage.cache_read.input_tokens"] = int(input_tokens * 0.6)
            span.set_attributes(result)

    def _embeddings(self) -> None:
        rnd = self.random
        with self._span(
            f"embeddings {EMBEDDING_MODEL.name}",
            {
                "gen_ai.operation.name": "embeddings",
                "gen_ai.provider.name": EMBEDDING_MODEL.provider,
                "feature": "retrieval",
                "gen_ai.request.model": EMBEDDING_MODEL.name,
                "server.address": EMBEDDING_MODEL.server,
            },
        ) as span:
            self._wait(_lognormal(rnd, EMBEDDING_MODEL.first_token_s, 0.4))
            span.set_attribute("gen_ai.usage.input_tokens", int(_lognormal(rnd, 60, 0.6)))

    def _db(self, operation: str, table: str, median: float, rows: int | None = None) -> None:
        rnd = self.random
        with self._span(
            f"{operation} {table}",
            {
                "db.system.name": "postgresql",
                "db.operation.name": operation,
                "db.collection.name": table,
            },
        ) as span:
            took = _lognormal(rnd, median, 0.5)
            if rnd.random() < 0.005:
                took *= rnd.uniform(10, 40)  # waiting on a lock
            self._wait(took)
            if rnd.random() < DB_ERROR_RATE:
                span.set_attribute("error.type", "OperationalError")
                raise OperationalError("could not serialize access due to concurrent update")
            if rows is not None:
                span.set_attribute("db.response.returned_rows", rows)

    def _span(
        self, name: str, attributes: Mapping[str, object] | None = None, kind: SpanKind = "client"
    ) -> SpanScope:
        scope = watchkeeper.span(name, span_kind=kind, client=self.client)
        if attributes:
            scope.set_attributes(attributes)
        return scope

    def _track(self, name: str, user: str, **properties: object) -> None:
        watchkeeper.track(name, user_id=user, properties=properties, client=self.client)

    def _wait(self, seconds: float) -> None:
        self.stopping.wait(seconds / self.speed)


def _plan(user: str) -> str:
    share = zlib.crc32(user.encode()) % 20
    return "team" if share == 0 else "pro" if share < 6 else "free"


def _lognormal(rnd: random.Random, median: float, sigma: float) -> float:
    # lognormvariate, unlike gauss, is safe to call from several threads at once.
    return median * rnd.lognormvariate(0, sigma)


class Simulation:
    """The demo app running in the background; :func:`start` makes one."""

    def __init__(self, app: ChatApp) -> None:
        self.app = app
        self.thread = threading.Thread(target=app.run, name="watchkeeper-demo", daemon=True)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the app, send what it captured, and shut the SDK down."""
        self.app.stop()
        self.thread.join(timeout)
        watchkeeper.flush(timeout)
        watchkeeper.shutdown(timeout)


def start(endpoint: str, key: str, *, seed: int | None = None) -> Simulation:
    """Point the SDK at ``endpoint`` with ingest ``key`` and start the app in the background.

    >>> simulation = start("http://127.0.0.1:7321", "wki_...")  # doctest: +SKIP
    >>> simulation.stop()  # doctest: +SKIP
    """
    watchkeeper.init(
        endpoint=endpoint,
        key=key,
        service=SERVICE,
        environment=ENVIRONMENT,
        release=RELEASE,
        # Synthetic data is not worth keeping on disk if the server goes away first.
        spool_max_bytes=0,
    )
    if not any(isinstance(h, watchkeeper.LoggingHandler) for h in app_log.handlers):
        app_log.addHandler(watchkeeper.LoggingHandler())
    app_log.setLevel(logging.INFO)
    app_log.propagate = False  # the server's console shows the server, not the synthetic app
    simulation = Simulation(ChatApp(seed=seed))
    simulation.thread.start()
    return simulation


RULES: Final = """\
# The demo's alert rules (watchkeeper demo writes this file once; edit it and the server reloads
# it). No channels: alerts show on the Alerts page only. docs/alerts.md has every option.
policy:
  group_wait: 30s
  group_interval: 5m
  repeat_interval: 4h
rules:
  - name: ChatErrorRate
    query: signals.requests
    params: {http_route: /chat}
    window: 5m
    value: error_pct
    threshold: 3
    for: 1m
    labels: {severity: page}
    annotations:
      summary: "{{ $value | printf \\"%.1f\\" }} % of chat requests fail"
  - name: LLMProviderFailing
    query: llm.by_provider
    window: 5m
    by: [provider]
    value: error_pct
    threshold: 5
    for: 2m
    annotations:
      summary: "{{ $labels.provider }}: {{ $value | printf \\"%.1f\\" }} % of calls fail"
  - name: SlowChat
    query: signals.requests
    params: {http_route: /chat}
    window: 5m
    value: p95_ms
    threshold: 8000
    for: 2m
  - name: LLMSpendToday
    query: llm.totals
    window: 1d
    value: cost_usd
    threshold: {budget: 0.8}
    no_data: OK
    annotations:
      summary: "LLM spend today is {{ $value | printf \\"%.2f\\" }} USD"
  - name: NewIssue
    kind: new_issue
    window: 1h
    severity: [critical, major]
"""
"""Alert rules for the demo's traffic: some of them fire now and then."""

BUDGET_USD: Final = 10_000.0
"""The demo project's monthly LLM budget, so the LLM page shows spend against one (the demo
spends about $20 an hour: LLMSpendToday fires after half a day or so)."""
