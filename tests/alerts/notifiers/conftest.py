"""A real HTTP receiver on 127.0.0.1 (uvicorn) that records what the channels post, and alerts
and notifications to send."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import anyio
import pytest
import uvicorn

from watchkeeper.alerts.model import Alert, Notification, Status

NOW = time.time_ns()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def make_alert(
    rule: str = "HighErrorRate",
    *,
    labels: Mapping[str, str] | None = None,
    annotations: Mapping[str, str] | None = None,
    value: float | None = 0.12,
    starts_at: int = NOW - 600 * 10**9,
    ends_at: int = 0,
    generator_url: str = "http://127.0.0.1:8000/alerts/rules/high-error-rate",
) -> Alert:
    """A firing alert (resolved when ``ends_at`` is set) of ``rule``."""
    labels = {"alertname": rule, "service": "api", "env": "prod", **(labels or {})}
    return Alert(
        project=1,
        rule=rule,
        fingerprint=f"fp-{rule}-{sorted(labels.items())}",
        labels=labels,
        annotations={"summary": f"{rule} on api", **(annotations or {})},
        state="inactive" if ends_at else "firing",
        value=value,
        starts_at=starts_at,
        ends_at=ends_at,
        generator_url=generator_url,
    )


def make_notification(*alerts: Alert, channel: str = "ops", escalation: int = 0) -> Notification:
    """A notification grouped by alertname, with the labels all its alerts share."""
    alerts = alerts or (make_alert(),)
    common = dict(alerts[0].labels)
    for alert in alerts[1:]:
        common = {k: v for k, v in common.items() if alert.labels.get(k) == v}
    status: Status = "firing" if any(not a.ends_at for a in alerts) else "resolved"
    return Notification(
        channel=channel,
        group_key=f'{{}}:{{alertname="{alerts[0].rule}"}}',
        status=status,
        alerts=alerts,
        group_labels={"alertname": alerts[0].rule},
        common_labels=common,
        common_annotations={"summary": alerts[0].annotations["summary"]}
        if len(alerts) == 1
        else {},
        external_url="http://127.0.0.1:8000",
        escalation=escalation,
    )


@dataclass
class Captured:
    """One request the receiver got."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Reply:
    status: int = 200
    body: bytes = b"ok"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


class Receiver:
    """An ASGI app that records every request and answers with the queued replies (200 ``ok``
    when none is queued)."""

    def __init__(self) -> None:
        self.url = ""
        self.requests: list[Captured] = []
        self._replies: deque[Reply] = deque()
        self._changed = threading.Condition()

    def reply(
        self,
        status: int,
        body: bytes = b"",
        headers: dict[str, str] | None = None,
        delay: float = 0.0,
    ) -> None:
        """Answer the next request with this."""
        self._replies.append(Reply(status, body, headers or {}, delay))

    def reset(self) -> None:
        with self._changed:
            self.requests.clear()
            self._replies.clear()

    def wait(self, count: int, timeout: float = 10.0, path: str | None = None) -> list[Captured]:
        """The first ``count`` requests (to ``path``), waiting up to ``timeout`` s for them."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                got = [r for r in self.requests if path is None or r.path == path]
                if len(got) >= count or time.monotonic() > deadline:
                    return got
                self._changed.wait(0.05)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        reply = self._replies.popleft() if self._replies else Reply()
        with self._changed:
            self.requests.append(Captured(scope["method"], scope["path"], headers, body))
            self._changed.notify_all()
        if reply.delay:
            await anyio.sleep(reply.delay)
        raw_headers = [(k.lower().encode(), v.encode()) for k, v in reply.headers.items()]
        await send({"type": "http.response.start", "status": reply.status, "headers": raw_headers})
        await send({"type": "http.response.body", "body": reply.body})


@pytest.fixture(scope="module")
def receiver_server() -> Iterator[Receiver]:
    """A Receiver served by uvicorn on a free port of 127.0.0.1 for the test module."""
    app = Receiver()
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started, "the test receiver did not start"
    app.url = f"http://127.0.0.1:{port}"
    yield app
    server.should_exit = True
    thread.join(10)


@pytest.fixture
def receiver(receiver_server: Receiver) -> Receiver:
    """The module's receiver, emptied for this test."""
    receiver_server.reset()
    return receiver_server
