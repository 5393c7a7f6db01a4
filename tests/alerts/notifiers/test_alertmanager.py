"""The Alertmanager notifier against Debian's real Alertmanager on 127.0.0.1, routing everything
to a test webhook receiver: our alerts come back as Alertmanager's webhook payload."""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.alerts.notifiers.conftest import NOW, Receiver, free_port, make_alert, make_notification

from watchkeeper.alerts.model import DeliveryError
from watchkeeper.alerts.notifiers.alertmanager import AlertmanagerNotifier
from watchkeeper.alerts.notifiers.webhook import WebhookNotifier

BINARY = "/usr/bin/prometheus-alertmanager"

CONFIG = """
route:
  receiver: hook
  group_by: [alertname]
  group_wait: 100ms
  group_interval: 500ms
  repeat_interval: 1h
receivers:
  - name: hook
    webhook_configs:
      - url: {url}
        send_resolved: true
"""


@pytest.fixture(scope="module")
def alertmanager(
    receiver_server: Receiver, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A real Alertmanager on a free port (no cluster gossip) whose only receiver is the test
    receiver's /am; its base URL."""
    if not Path(BINARY).exists():
        pytest.skip("needs Debian's prometheus-alertmanager package (make system-deps)")
    folder = tmp_path_factory.mktemp("alertmanager")
    (folder / "am.yml").write_text(CONFIG.format(url=receiver_server.url + "/am"))
    port = free_port()
    log = (folder / "am.log").open("wb")
    process = subprocess.Popen(
        [
            BINARY,
            f"--config.file={folder / 'am.yml'}",
            f"--storage.path={folder / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 15
    while True:
        try:
            with urllib.request.urlopen(url + "/-/ready", timeout=1) as response:
                if response.status == 200:
                    break
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail("Alertmanager did not start:\n" + (folder / "am.log").read_text()[-2000:])
        time.sleep(0.05)
    yield url
    process.terminate()
    process.wait(10)
    log.close()


def hooks(
    receiver: Receiver, alertname: str, count: int, timeout: float = 10.0
) -> list[dict[str, Any]]:
    """The webhook payloads Alertmanager has sent to /am for the group of ``alertname`` (waits
    for ``count`` of them)."""
    deadline = time.monotonic() + timeout
    while True:
        got = [r.json() for r in receiver.wait(0, path="/am")]
        got = [p for p in got if p["groupLabels"] == {"alertname": alertname}]
        if len(got) >= count or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert len(got) >= count, (
        f"Alertmanager sent {len(got)} webhooks for {alertname}, expected {count}"
    )
    return got


def am_alerts(url: str) -> list[dict[str, Any]]:
    with urllib.request.urlopen(url + "/api/v2/alerts", timeout=5) as response:
        return list(json.load(response))


def test_firing_then_resolved(alertmanager: str, receiver: Receiver) -> None:
    """A firing alert posted through the notifier comes back from Alertmanager as a version 4
    webhook with our labels and annotations; posting it resolved sends the resolved webhook."""
    manager = AlertmanagerNotifier(name="am", urls=(alertmanager,))
    alert = make_alert(
        "LLMFailureRate", labels={"gen_ai.system": "openai"}, starts_at=NOW - 60 * 10**9
    )
    asyncio.run(manager.send(make_notification(alert)))

    [firing] = hooks(receiver, "LLMFailureRate", 1)
    assert firing["version"] == "4"
    assert firing["status"] == "firing"
    assert firing["receiver"] == "hook"
    assert firing["groupLabels"] == {"alertname": "LLMFailureRate"}
    [item] = firing["alerts"]
    assert item["labels"] == {
        "alertname": "LLMFailureRate",
        "service": "api",
        "env": "prod",
        "gen_ai_system": "openai",
    }
    assert item["annotations"] == {"summary": "LLMFailureRate on api"}
    assert item["generatorURL"] == "http://127.0.0.1:8000/alerts/rules/high-error-rate"
    assert item["endsAt"] == "0001-01-01T00:00:00Z"
    [stored] = am_alerts(alertmanager)
    assert stored["status"]["state"] == "active"

    resolved = make_alert(
        "LLMFailureRate",
        labels={"gen_ai.system": "openai"},
        starts_at=NOW - 60 * 10**9,
        ends_at=time.time_ns(),
    )
    asyncio.run(manager.send(make_notification(resolved)))
    payloads = hooks(receiver, "LLMFailureRate", 2)
    assert payloads[1]["status"] == "resolved"
    assert payloads[1]["alerts"][0]["status"] == "resolved"
    assert payloads[1]["alerts"][0]["endsAt"] != "0001-01-01T00:00:00Z"


def test_our_webhook_has_alertmanagers_shape(alertmanager: str, receiver: Receiver) -> None:
    """Our generic webhook's payload has every field (top level and per alert) of the payload
    the real Alertmanager sends for the same alert, with the same types."""
    alert = make_alert("CostBudget")
    asyncio.run(
        AlertmanagerNotifier(name="am", urls=(alertmanager,)).send(make_notification(alert))
    )
    [theirs] = hooks(receiver, "CostBudget", 1)
    asyncio.run(
        WebhookNotifier(name="hook", url=receiver.url + "/ours").send(make_notification(alert))
    )
    [ours] = [r.json() for r in receiver.wait(1, path="/ours")]

    def shape(payload: dict[str, Any]) -> dict[str, str]:
        return {key: type(value).__name__ for key, value in payload.items()}

    assert shape(theirs).items() <= shape(ours).items()
    assert shape(theirs["alerts"][0]).items() <= shape(ours["alerts"][0]).items()
    assert ours["alerts"][0]["labels"] == theirs["alerts"][0]["labels"]
    assert ours["groupKey"] == theirs["groupKey"] == '{}:{alertname="CostBudget"}'


def test_one_alertmanager_down_is_still_delivered(alertmanager: str, receiver: Receiver) -> None:
    """With several Alertmanagers, delivery succeeds when one of them takes the alerts."""
    down = f"http://127.0.0.1:{free_port()}"
    manager = AlertmanagerNotifier(name="am", urls=(down, alertmanager))
    asyncio.run(manager.send(make_notification(make_alert("HalfDown"))))
    [payload] = hooks(receiver, "HalfDown", 1)
    assert payload["alerts"][0]["labels"]["alertname"] == "HalfDown"


def test_all_alertmanagers_failing(receiver: Receiver) -> None:
    """When every Alertmanager fails, DeliveryError names each failure and keeps Retry-After."""
    receiver.reply(429, b"busy", {"Retry-After": "3"})
    down = f"http://127.0.0.1:{free_port()}"
    manager = AlertmanagerNotifier(name="am", urls=(receiver.url, down))
    with pytest.raises(DeliveryError) as caught:
        asyncio.run(manager.send(make_notification()))
    assert "HTTP 429: busy" in str(caught.value)
    assert f"{down}: ConnectError" in str(caught.value)
    assert caught.value.retry_after == 3.0
    [request] = receiver.requests
    assert request.path == "/api/v2/alerts"
    assert isinstance(request.json(), list)
