"""The dashboard in headless Chromium: log in through the form, see every page's charts drawn,
click from a log line to its trace's waterfall and back, follow the live tail."""

from __future__ import annotations

import random
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn
from playwright.sync_api import Browser, Page, sync_playwright

from watchkeeper.alerts.engine import Engine, Source
from watchkeeper.alerts.rules import parse_rule
from watchkeeper.meta.alerts import AlertStore
from watchkeeper.records import Event, Log, Metric, Record, Span
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
    return records + requests(rng, now)


ROUTES = [("POST", "/chat", 700.0), ("GET", "/history", 25.0), ("GET", "/health", 1.0)]


def requests(rng: random.Random, now: int) -> list[Record]:
    """An hour of HTTP requests as traces (server span, database and LLM children), their log
    lines, and the metric samples an SDK would push every 30 s."""
    records: list[Record] = []
    for i in range(300):
        start = now - int(rng.uniform(5, 3600) * SECOND)
        method, route, median_ms = rng.choices(ROUTES, [6, 3, 1])[0]
        failed = route == "/chat" and rng.random() < 0.08
        total = int(rng.lognormvariate(0, 0.5) * median_ms * 1e6) + 2_000_000
        trace_id, root_id = f"{0xC0FFEE + i:032x}", f"{0xA000 + i:016x}"
        http = {"http.request.method": method, "http.route": route,
                "http.response.status_code": 500 if failed else 200}  # fmt: skip
        common = {"trace_id": trace_id, "service": "chat-api"}
        records.append(Span(id=f"r{i}", ts=start, name=f"{method} {route}", span_id=root_id,
                            duration_ns=total, span_kind="server", status="error" if failed else "ok",
                            status_message="provider returned 503" if failed else "",
                            attributes=http, **common))  # type: ignore[arg-type]  # fmt: skip
        db_id = f"{0xB000 + i:016x}"
        records.append(Span(id=f"r{i}-db", ts=start + total // 20, name="db.query", span_id=db_id,
                            parent_span_id=root_id, duration_ns=total // 10, span_kind="client",
                            attributes={"db.statement": "SELECT * FROM messages WHERE chat = ?"},
                            **common))  # type: ignore[arg-type]  # fmt: skip
        records.append(Log(id=f"l{i}-a", ts=start + 1000, body=f"{method} {route} started",
                           logger="chat.http", span_id=root_id, attributes={"route": route},
                           **common))  # type: ignore[arg-type]  # fmt: skip
        if route == "/chat":
            llm_id = f"{0xD000 + i:016x}"
            records.append(Span(id=f"r{i}-llm", ts=start + total // 5, name="llm.chat",
                                span_id=llm_id, parent_span_id=root_id,
                                duration_ns=total * 7 // 10, span_kind="client",
                                status="error" if failed else "ok",
                                attributes={"gen_ai.request.model": "gpt-4o-mini"},
                                **common))  # type: ignore[arg-type]  # fmt: skip
            records.append(Span(id=f"r{i}-tok", ts=start + total // 4, name="tokenize",
                                span_id=f"{0xE000 + i:016x}", parent_span_id=llm_id,
                                duration_ns=total // 50, **common))  # type: ignore[arg-type]  # fmt: skip
            level, number, body = (("ERROR", 17, "llm call failed: provider returned 503") if failed
                                   else ("INFO", 9, "llm answered in time"))  # fmt: skip
            records.append(Log(id=f"l{i}-b", ts=start + total * 9 // 10, body=body, logger="chat.llm",
                               severity_text=level, severity_number=number, span_id=llm_id,
                               **common))  # type: ignore[arg-type]  # fmt: skip
        if rng.random() < 0.2:
            records.append(Log(id=f"l{i}-c", ts=start + 500, body="cache miss", logger="chat.cache",
                               severity_text="DEBUG", severity_number=5,
                               service="chat-api"))  # fmt: skip
        if rng.random() < 0.05:
            records.append(Log(id=f"l{i}-d", ts=start + 900, body="slow database; retrying",
                               logger="chat.db", severity_text="WARN", severity_number=13,
                               service="chat-worker"))  # fmt: skip
    served = {route: 0 for _, route, _ in ROUTES}
    for step in range(120):
        ts = now - (120 - step) * 30 * SECOND
        for _, route, _ in ROUTES:
            served[route] += rng.randrange(1, 12)
            records.append(Metric(id=f"m{step}-{route}", ts=ts, name="http_requests_total", type="counter",
                                  value=served[route], attributes={"route": route},
                                  service="chat-api"))  # fmt: skip
        records.append(Metric(id=f"q{step}", ts=ts, name="queue_depth", type="gauge",
                              value=rng.randrange(0, 30), service="chat-worker"))  # fmt: skip
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


def open_page(browser: Browser, served: Served, path: str) -> tuple[Page, list[str]]:
    """A logged-in page at ``path``, collecting console errors and page errors."""
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    log_in(page, served)
    page.goto(f"{served.url}{path}")
    return page, problems


def assert_charts_drawn(page: Page, count: int) -> list[dict[str, int]]:
    """``count`` charts, each one uPlot canvas with many painted pixels and its legend."""
    page.wait_for_selector("[data-chart] .uplot canvas")
    charts = chart_state(page)
    assert len(charts) == count
    for chart in charts:
        assert chart["plots"] == 1 and chart["width"] > 300 and chart["height"] > 100
        assert chart["legend"] == chart["series"] + 1
    for painted in page.eval_on_selector_all(".uplot canvas", f"cs => cs.map({PAINTED})"):
        assert painted > 500
    return charts


def test_requests_page_draws_its_three_charts(
    served: Served, browser: Browser, tmp_path: Path
) -> None:
    """Request rate, error rate and latency are drawn; the route tables list the routes."""
    page, problems = open_page(browser, served, "/requests?range=1h")
    charts = assert_charts_drawn(page, 3)
    assert [c["series"] for c in charts] == [1, 1, 3]
    routes = page.locator("table[data-table=routes] tbody tr td:nth-child(2)").all_inner_texts()
    assert routes == ["/chat", "/history", "/health"]
    page.screenshot(path=str(tmp_path / "requests.png"), full_page=True)
    page.click("table[data-table=routes] >> text=/history")  # narrows the charts to one route
    page.wait_for_url("**route=%2Fhistory**")
    assert_charts_drawn(page, 3)
    assert "show all routes" in page.inner_text(".summary")
    assert problems == []


def test_traces_list_opens_a_waterfall(served: Served, browser: Browser, tmp_path: Path) -> None:
    """A trace from the list opens as a nested waterfall; a span expands to its attributes."""
    page, problems = open_page(browser, served, "/traces?range=1h&errors=on")
    page.locator("table[data-table=traces] a", has_text="POST /chat").first.click()
    page.wait_for_selector(".waterfall")
    depths = page.eval_on_selector_all(".wf-span", "spans => spans.map(s => +s.dataset.depth)")
    assert depths == [0, 1, 1, 2]  # POST /chat > db.query, llm.chat > tokenize
    bars = page.eval_on_selector_all(
        ".wf-span .wf-bar", "rects => rects.map(r => r.getBoundingClientRect().width)"
    )
    track = page.eval_on_selector(".wf-span .wf-track", "t => t.getBoundingClientRect().width")
    assert abs(bars[0] - track) < 2 and all(0 < width < bars[0] for width in bars[1:])
    assert page.locator(".wf-span.failed").count() >= 1
    llm = page.locator(".wf-span", has_text="llm.chat")
    assert not llm.evaluate("d => d.open")
    llm.locator("summary").click()
    assert llm.evaluate("d => d.open")
    assert "gen_ai.request.model" in llm.locator(".wf-detail").inner_text()
    assert page.locator("table[data-table=logs] tbody tr").count() >= 2
    page.screenshot(path=str(tmp_path / "trace.png"), full_page=True)
    assert problems == []


def test_log_line_to_its_trace_and_back(served: Served, browser: Browser, tmp_path: Path) -> None:
    """The Logs page draws its volume; an error line links to its trace's span and back."""
    page, problems = open_page(browser, served, "/logs?range=1h&level=17")
    (volume,) = assert_charts_drawn(page, 1)
    assert volume["series"] == 1  # errors only
    page.goto(f"{served.url}/logs?range=1h")
    (volume,) = assert_charts_drawn(page, 1)
    assert volume["series"] == 4  # DEBUG, INFO, WARN, ERROR stacked
    line = page.locator("tr.level-error").first
    line.locator("summary").click()
    assert line.locator("details").evaluate("d => d.open")
    page.screenshot(path=str(tmp_path / "logs.png"), full_page=True)
    line.locator("a.trace-link").click()
    page.wait_for_selector(".waterfall")
    assert "/traces/" in page.url and "#span-" in page.url
    target = page.locator(".wf-span:target")
    assert target.evaluate("d => d.open") and "llm.chat" in target.locator("summary").inner_text()
    page.screenshot(path=str(tmp_path / "trace-from-log.png"), full_page=True)
    page.click("text=Its logs on the Logs page")
    page.wait_for_url("**/logs?**trace_id=**")
    assert page.locator("#log-lines tr").count() == 2
    assert problems == []


def test_live_tail_shows_new_lines_on_top(served: Served, browser: Browser) -> None:
    """With live tail on, a line written after the page loaded appears at the top, filtered."""
    page, problems = open_page(browser, served, "/logs?range=1h&service=chat-worker&tail=on")
    page.wait_for_selector("#log-lines[data-tail]")
    before = page.locator("#log-lines tr").count()
    project = served.services.meta.project_by_slug("chat")
    assert project is not None
    now = time.time_ns()
    served.services.store.write([(project.id, [
        Log(id="tail-1", ts=now, body="worker picked up job 42", service="chat-worker"),
        Log(id="tail-2", ts=now, body="api line, filtered out", service="chat-api"),
    ])])  # fmt: skip
    page.wait_for_selector("#log-lines tr.new", timeout=10_000)
    assert page.locator("#log-lines tr").count() == before + 1
    assert "worker picked up job 42" in page.locator("#log-lines tr").first.inner_text()
    assert "/logs?" in page.url and "service=chat-worker" in page.url
    assert problems == []


def test_metrics_page_charts_a_counter(served: Served, browser: Browser, tmp_path: Path) -> None:
    """Choosing a metric draws one line per label set."""
    page, problems = open_page(browser, served, "/app-metrics?range=1h")
    page.click("table[data-table=metrics] >> text=http_requests_total")
    (chart,) = assert_charts_drawn(page, 1)
    assert chart["series"] == 3  # one per route
    page.screenshot(path=str(tmp_path / "metrics.png"), full_page=True)
    assert problems == []


def send_errors(served: Served) -> None:
    """Errors of two kinds through the real ingest path, so the pipeline groups them."""
    meta = served.services.meta
    project = meta.user_projects(meta.authenticate(EMAIL, PASSWORD).id)[0][0]  # type: ignore[union-attr]
    key = meta.create_key(project.id, "ingest")
    now = time.time_ns()
    frames = [
        {"module": "starlette.routing", "function": "handle", "filename": "starlette/routing.py",
         "lineno": 73, "context_line": "    await self.app(scope)"},
        {"module": "chat.views", "function": "answer", "filename": "chat/views.py", "lineno": 12,
         "in_app": True, "pre_context": ["def answer(request):", "    model = pick()"],
         "context_line": "    return model.reply(request.text)", "post_context": [""]},
    ]  # fmt: skip
    records = [
        {"kind": "error", "id": f"err{i}", "ts": now - (i * 97 % 3000) * SECOND,
         "type": "TimeoutError" if i % 3 else "KeyError", "message": f"model timed out ({i})",
         "frames": frames, "trace_id": f"{i:032x}", "user_id": f"u{i % 5}",
         "breadcrumbs": [{"ts": now - (i * 97 % 3000 + 1) * SECOND, "category": "http",
                          "message": "POST /v1/chat"}]}
        for i in range(40)
    ]  # fmt: skip
    response = httpx.post(
        f"{served.url}/api/v1/ingest", json={"records": records},
        headers={"Authorization": f"Bearer {key}"},
    )  # fmt: skip
    assert response.status_code == 200, response.text


def test_issues_list_opens_an_issue(served: Served, browser: Browser, tmp_path: Path) -> None:
    """The Issues list draws its chart; an issue shows its chart, stack trace and breadcrumbs."""
    send_errors(served)
    page, problems = open_page(browser, served, "/issues?range=1h")
    assert_charts_drawn(page, 1)
    assert page.locator("table[data-table=issues] tbody tr").count() == 2
    page.screenshot(path=str(tmp_path / "issues.png"), full_page=True)
    page.locator("table[data-table=issues] a", has_text="TimeoutError").click()
    page.wait_for_selector(".stacktrace")
    assert_charts_drawn(page, 1)
    crashed = page.locator(".frame.crashed")
    assert crashed.evaluate("d => d.open")
    assert "return model.reply(request.text)" in crashed.locator("li.current").inner_text()
    library = page.locator(".library-run")
    assert not library.evaluate("d => d.open")
    library.locator("> summary").click()
    assert "starlette/routing.py" in library.inner_text()
    assert "POST /v1/chat" in page.inner_text("table[data-table=breadcrumbs]")
    page.screenshot(path=str(tmp_path / "issue.png"), full_page=True)
    assert problems == []


def llm_calls(now: int, rng: random.Random) -> list[Record]:
    """An hour of LLM calls: OpenAI healthy, Gemini failing in the last ten minutes."""
    records: list[Record] = []
    for i in range(300):
        ago = rng.uniform(0, 3600)
        provider, model = rng.choice([("openai", "gpt-4o"), ("gcp.gemini", "gemini-2.5-flash")])
        failed = provider == "gcp.gemini" and ago < 600
        attributes: dict[str, object] = {
            "gen_ai.operation.name": "chat", "gen_ai.provider.name": provider,
            "gen_ai.request.model": model, "feature": rng.choice(["support", "search"]),
        }  # fmt: skip
        attributes |= {"error.type": "rate_limit"} if failed else {
            "gen_ai.usage.input_tokens": 900, "gen_ai.usage.output_tokens": 200,
            "gen_ai.usage.cost": 0.004, "gen_ai.response.time_to_first_chunk": 0.4,
        }  # fmt: skip
        records.append(Span(id=f"llm{i}", ts=now - int(ago * SECOND), name=f"chat {model}",
                            trace_id=f"{10**6 + i:032x}", span_id=f"{i + 1:016x}",
                            duration_ns=int(rng.lognormvariate(0, 0.5) * 8e8), span_kind="client",
                            status="error" if failed else "ok", user_id=f"u{rng.randrange(9)}",
                            attributes=attributes))  # fmt: skip
    return records


def test_llm_page_draws_its_charts(served: Served, browser: Browser, tmp_path: Path) -> None:
    """The LLM page draws provider health, calls, latency, tokens, cost per day and the month's
    spend; Gemini shows as failing now."""
    project = served.services.meta.ensure_project("chat")
    served.services.store.write([(project.id, llm_calls(time.time_ns(), random.Random(5)))])
    page, problems = open_page(browser, served, "/llm?range=1h")
    charts = assert_charts_drawn(page, 6)
    assert [c["series"] for c in charts] == [2, 2, 4, 2, 1, 2]  # the month: spent, projected
    health = page.locator("table[data-table=providers] tr.health-failing td").first
    assert health.inner_text() == "gcp.gemini"
    page.screenshot(path=str(tmp_path / "llm.png"), full_page=True)
    assert problems == []


def test_alerts_page_silences_a_firing_alert(
    served: Served, browser: Browser, tmp_path: Path
) -> None:
    """A rule made in the UI fires over the hour's requests; Silence… opens the form prefilled
    with its labels, and submitting it (a CSRF-protected form) marks the alert silenced."""
    alerts = AlertStore(served.services.meta)
    project = served.services.meta.project_by_slug("chat")
    assert project is not None
    rule = {"name": "Traffic", "query": "signals.requests", "value": "count", "by": ["service"],
            "threshold": 0, "window": "1h"}  # fmt: skip
    alerts.create_rule(project.id, parse_rule(rule))
    cycle = Engine().evaluate(alerts.enabled_rules(), time.time_ns(),
                              Source(served.services.store, alerts))  # fmt: skip
    alerts.save_cycle(cycle)
    page, problems = open_page(browser, served, "/alerts?range=1h")
    row = page.locator("table[data-table=alerts] tbody tr").first
    assert "Traffic" in row.inner_text() and "service=chat-api" in row.inner_text()
    assert "firing" in row.locator(".state").inner_text()
    row.locator("a.silence-link").click()
    page.wait_for_selector("#silence textarea")
    assert page.input_value("#silence textarea") == 'alertname="Traffic", service="chat-api"'
    page.select_option("#silence select[name=duration]", "1h")
    page.fill("#silence input[name=comment]", "load test")
    page.click("#silence button[type=submit]")
    page.wait_for_selector("table[data-table=alerts] .badge-silenced")
    assert "active" in page.locator("table[data-table=silences] tbody tr").first.inner_text()
    page.screenshot(path=str(tmp_path / "alerts.png"), full_page=True)
    page.click("table[data-table=alerts] a:text('Traffic')")
    page.wait_for_selector("textarea[name=definition]")
    assert "query: signals.requests" in page.input_value("textarea[name=definition]")
    page.screenshot(path=str(tmp_path / "alert-rule.png"), full_page=True)
    assert problems == []
