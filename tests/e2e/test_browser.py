"""The dashboard in headless Chromium: log in through the form, see the Overview's charts drawn."""

from __future__ import annotations

import random
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn
from playwright.sync_api import Browser, Page, sync_playwright

from watchkeeper.records import Event, Record, Span
from watchkeeper.server.app import Services, create_app
from watchkeeper.server.settings import Settings

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
EMAIL = "grace@example.com"
PASSWORD = "correct-horse-battery"
SECOND = 1_000_000_000


@dataclass
class Served:
    url: str
    services: Services


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def traffic(seed: int = 7) -> list[Record]:
    """An hour of a chat app: events of a few names, LLM and database spans with a tail."""
    rng = random.Random(seed)
    now = time.time_ns()
    records: list[Record] = []
    for i in range(600):
        ago = int(rng.triangular(0, 3600, 600) * SECOND)
        name = rng.choices(["message_sent", "signup", "feedback_given", "export"], [60, 8, 5, 1])[0]
        records.append(Event(id=f"e{i}", ts=now - ago, name=name, user_id=f"u{rng.randrange(40)}"))
    for i in range(400):
        ago = int(rng.uniform(0, 3600) * SECOND)
        name, median_ms = rng.choice([("llm.chat", 900.0), ("db.query", 4.0), ("http.get", 60.0)])
        duration = rng.lognormvariate(0, 0.6) * median_ms
        status = "error" if rng.random() < 0.03 else "ok"
        span = Span(
            id=f"s{i}",
            ts=now - ago,
            name=name,
            trace_id=f"{i:032x}",
            span_id=f"{i + 1:016x}",
            duration_ns=int(duration * 1e6),
            status=status,
        )
        records.append(span)
    return records


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    """``create_app`` under a real uvicorn on 127.0.0.1, with a user and an hour of data."""
    app = create_app(Settings(data_dir=tmp_path / "data"))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "server did not start"
        time.sleep(0.05)
    services: Services = app.state.services
    project = services.meta.ensure_project("chat", "Chat app")
    user = services.meta.create_user(EMAIL, PASSWORD)
    services.meta.grant(user.id, project.id, "admin")
    services.store.write([(project.id, traffic())])
    yield Served(url=f"http://127.0.0.1:{port}", services=services)
    server.should_exit = True
    thread.join(30)


@pytest.fixture
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def log_in(page: Page, served: Served) -> None:
    page.goto(f"{served.url}/?range=1h")
    assert "/login?next=" in page.url
    page.fill("input[name=email]", EMAIL)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{served.url}/?range=1h")


# Counts the canvas's painted pixels: a chart that was drawn has many.
PAINTED = """canvas => {
    const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
    let painted = 0;
    for (let i = 3; i < data.length; i += 4) if (data[i] > 0) painted++;
    return painted;
}"""


def chart_state(page: Page) -> list[dict[str, int]]:
    """Each chart's canvas size, painted pixels, legend series and series in its data."""
    return page.eval_on_selector_all(
        "[data-chart]",
        """charts => charts.map(chart => {
            const canvas = chart.querySelector(".uplot canvas");
            const spec = JSON.parse(chart.dataset.chart);
            return {
                plots: chart.querySelectorAll(".uplot").length,
                width: canvas ? canvas.getBoundingClientRect().width : 0,
                height: canvas ? canvas.getBoundingClientRect().height : 0,
                legend: chart.querySelectorAll(".u-legend .u-series").length,
                series: spec.series.length,
            };
        })""",
    )


def test_login_and_overview_charts(served: Served, browser: Browser, tmp_path: Path) -> None:
    """A user logs in through the form and sees both Overview charts drawn by uPlot, CSP-clean."""
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    log_in(page, served)
    page.wait_for_selector("[data-chart] .uplot canvas")

    charts = chart_state(page)
    assert len(charts) == 2
    for chart in charts:
        assert chart["plots"] == 1 and chart["width"] > 300 and chart["height"] > 100
        assert chart["legend"] == chart["series"] + 1  # uPlot lists time too
    assert [c["series"] for c in charts] == [1, 3]  # events; p50, p95, p99
    for painted in page.eval_on_selector_all(".uplot canvas", f"cs => cs.map({PAINTED})"):
        assert painted > 1000
    top_events = page.locator("section.panel:has(h2:text('Top events')) tbody")
    assert top_events.locator("td").first.inner_text() == "message_sent"
    assert "llm.chat" in page.locator("section.panel:has(h2:text('Slowest spans'))").inner_text()
    page.screenshot(path=str(tmp_path / "overview.png"), full_page=True)

    page.set_viewport_size({"width": 800, "height": 1000})  # charts follow their panels
    narrow = "[...document.querySelectorAll('[data-chart] .uplot')].every(u => u.offsetWidth < 800)"
    page.wait_for_function(f"() => {narrow}")
    assert problems == []


def test_live_refresh_redraws_charts(served: Served, browser: Browser) -> None:
    """After htmx swaps the live part in, its charts are drawn again and the old ones are gone."""
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    log_in(page, served)
    page.goto(f"{served.url}/?range=1h&refresh=5s")
    page.wait_for_selector("[data-chart] .uplot canvas")
    assert page.get_attribute("#live", "hx-trigger") == "every 5s"
    page.evaluate("document.querySelector('#live').dataset.old = 'yes'")
    with page.expect_response(lambda r: "/partials/overview" in r.url and r.status == 200):
        pass  # the 5 s poll
    page.wait_for_function("() => !document.querySelector('#live').dataset.old")
    page.wait_for_selector("[data-chart] .uplot canvas")
    charts = chart_state(page)
    assert len(charts) == 2 and all(c["plots"] == 1 and c["width"] > 300 for c in charts)
    assert page.locator(".uplot").count() == 2


def test_logout_from_the_user_menu(served: Served, browser: Browser) -> None:
    """The user menu's Log out (a POST with the CSRF token) ends the session."""
    page = browser.new_page()
    log_in(page, served)
    page.click("summary[title=Account]")
    page.click("text=Log out")
    page.wait_for_url(f"{served.url}/login")
    page.goto(f"{served.url}/")
    assert "/login" in page.url
