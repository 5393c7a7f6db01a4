"""The ``watchkeeper`` command: init, keys create, settings errors, and serve/demo as processes."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from watchkeeper import demo as demo_app
from watchkeeper.cli import app
from watchkeeper.meta.alerts import AlertStore
from watchkeeper.meta.store import MetaStore
from watchkeeper.query.sql import Statement
from watchkeeper.store.duckdb import DuckDBStore

INGEST_KEY = re.compile(r"wki_[A-Za-z0-9_-]{32}")
READ_TOKEN = re.compile(r"wkr_[A-Za-z0-9_-]{32}")


@pytest.fixture
def runner() -> CliRunner:
    # No WATCHKEEPER_* from the developer's shell leaks into these runs.
    return CliRunner(env={name: None for name in os.environ if name.startswith("WATCHKEEPER_")})


@contextmanager
def meta_of(data_dir: Path) -> Iterator[MetaStore]:
    meta = MetaStore(f"sqlite:///{data_dir / 'meta.sqlite3'}")
    try:
        yield meta
    finally:
        meta.close()


def test_init_sets_up_stores_admin_and_keys(runner: CliRunner, tmp_path: Path) -> None:
    """init creates both stores, the default project, an admin with a printed password, and
    prints a working ingest key and read token."""
    data_dir = tmp_path / "data"
    result = runner.invoke(app, ["init", "--data-dir", str(data_dir)])
    assert result.exit_code == 0, result.output
    assert (data_dir / "telemetry.duckdb").is_file()
    assert "admin@example.com created" in result.output
    password = re.search(r"password\s+(\S+)\s+\(generated", result.output)
    assert password is not None
    ingest, read = INGEST_KEY.search(result.output), READ_TOKEN.search(result.output)
    assert ingest is not None
    assert read is not None
    with meta_of(data_dir) as meta:
        project = meta.project_by_slug("default")
        assert project is not None
        admin = meta.authenticate("admin@example.com", password[1])
        assert admin is not None
        assert admin.is_admin
        assert meta.role(admin.id, project.id) == "admin"
        assert meta.resolve_key(ingest[0], "ingest") == project.id
        assert meta.resolve_key(read[0], "read") == project.id


def test_init_twice_keeps_the_admin(runner: CliRunner, tmp_path: Path) -> None:
    """A second init says the admin exists, keeps its password, and prints new keys."""
    args = ["init", "--data-dir", str(tmp_path), "--admin-email", "ops@example.com"]
    first = runner.invoke(app, [*args, "--admin-password", "first password"])
    assert first.exit_code == 0, first.output
    assert "created with the password given" in first.output
    assert "first password" not in first.output
    second = runner.invoke(app, [*args, "--admin-password", "second password"])
    assert second.exit_code == 0, second.output
    assert "ops@example.com exists already; its password is unchanged" in second.output
    assert INGEST_KEY.search(second.output)
    with meta_of(tmp_path) as meta:
        assert meta.authenticate("ops@example.com", "first password") is not None
        assert meta.authenticate("ops@example.com", "second password") is None
        assert [p.slug for p in meta.projects()] == ["default"]
        assert len(meta.keys(meta.projects()[0].id)) == 4


def test_init_refuses_a_short_password(runner: CliRunner, tmp_path: Path) -> None:
    """init stops with a clear message when the admin password given is too short."""
    result = runner.invoke(app, ["init", "--data-dir", str(tmp_path), "--admin-password", "abc"])
    assert result.exit_code == 1
    assert "password too short" in result.output


def test_keys_create_quiet_prints_the_key_alone(runner: CliRunner, tmp_path: Path) -> None:
    """keys create --quiet prints only the new key, which resolves to the project."""
    assert runner.invoke(app, ["init", "--data-dir", str(tmp_path)]).exit_code == 0
    for kind, pattern in (("ingest", INGEST_KEY), ("read", READ_TOKEN)):
        result = runner.invoke(app, keys_create(tmp_path, "default", kind, "--quiet"))
        assert result.exit_code == 0, result.output
        assert pattern.fullmatch(result.output.strip())
        with meta_of(tmp_path) as meta:
            assert meta.resolve_key(result.output.strip(), kind) is not None


def test_keys_create_unknown_project(runner: CliRunner, tmp_path: Path) -> None:
    """keys create for a project that does not exist exits 1 naming it and the known ones."""
    assert runner.invoke(app, ["init", "--data-dir", str(tmp_path)]).exit_code == 0
    result = runner.invoke(app, keys_create(tmp_path, "shop", "ingest"))
    assert result.exit_code == 1
    assert "no project 'shop'" in result.output
    assert "projects: default" in result.output


def test_keys_create_before_init(runner: CliRunner, tmp_path: Path) -> None:
    """keys create on a data directory that does not exist says to run init first."""
    result = runner.invoke(app, keys_create(tmp_path / "none", "default", "ingest"))
    assert result.exit_code == 1
    assert "run `watchkeeper init` first" in result.output


def test_bad_setting_from_the_environment(runner: CliRunner, tmp_path: Path) -> None:
    """A bad setting stops the command with exit 2 and one line naming the setting and source."""
    result = runner.invoke(
        app, ["serve", "--data-dir", str(tmp_path)], env={"WATCHKEEPER_PORT": "many"}
    )
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        "watchkeeper: setting port='many' from $WATCHKEEPER_PORT: invalid literal for int() "
        "with base 10: 'many'"
    ]


def test_bad_setting_in_the_config_file(runner: CliRunner, tmp_path: Path) -> None:
    """An unknown setting in watchkeeper.toml stops init with exit 2, naming the file."""
    (tmp_path / "watchkeeper.toml").write_text("prot = 80\n")
    result = runner.invoke(app, ["init", "--data-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert "watchkeeper.toml: unknown setting(s): prot" in result.output


def test_bad_port_option(runner: CliRunner, tmp_path: Path) -> None:
    """A port out of range on the command line exits 2 naming the setting."""
    result = runner.invoke(app, ["serve", "--data-dir", str(tmp_path), "--port", "70000"])
    assert result.exit_code == 2
    assert "setting port=70000 from the command line" in result.output


def test_init_while_serving_says_the_directory_is_in_use(tmp_path: Path) -> None:
    """init against the data directory of a running server exits 1 with a clear message,
    while keys create works; the server stops cleanly on Ctrl-C."""
    with running("serve", tmp_path) as url:
        assert url.startswith("http://127.0.0.1:")
        init = watchkeeper("init", "--data-dir", str(tmp_path))
        assert init.returncode == 1
        assert init.stderr.strip() == (
            f"watchkeeper: the data directory {tmp_path} is in use by a running watchkeeper "
            "server; stop it first or use `watchkeeper keys create`, which works while it runs"
        )
        keys = watchkeeper(*keys_create(tmp_path, "default", "ingest", "-q"))
        assert keys.returncode == 0, keys.stderr
        assert INGEST_KEY.fullmatch(keys.stdout.strip())


def test_serve_refuses_a_data_directory_in_use(tmp_path: Path) -> None:
    """A second server on the same data directory exits 1 saying the store is in use."""
    with running("serve", tmp_path):
        second = watchkeeper("serve", "--data-dir", str(tmp_path), "--port", "0")
        assert second.returncode == 1
        assert "is in use by another process" in second.stderr


def test_demo_sends_live_data_through_the_sdk(tmp_path: Path) -> None:
    """demo serves, prints the URL and login, and its app's spans and events reach the store,
    its LLM calls priced; it writes its alert rules and sets a budget, once."""
    with running("demo", tmp_path) as url:
        assert url.startswith("http://")
        time.sleep(1)  # stopping flushes what the app captured
    store = DuckDBStore(tmp_path / "telemetry.duckdb")
    try:
        spans = store.query(
            Statement(
                "SELECT count(*) AS n, count(gen_ai_cost_usd) AS priced FROM spans"
                " WHERE service = 'demo-chat-api' AND gen_ai_provider IS NOT NULL"
            )
        )
        events = store.query(Statement("SELECT count(*) AS n FROM events"))
    finally:
        store.close()
    assert spans[0]["n"] > 0
    assert spans[0]["priced"] > 0
    assert events[0]["n"] > 0
    assert (tmp_path / "alerts.yml").read_text() == demo_app.RULES
    meta = MetaStore(f"sqlite:///{tmp_path / 'meta.sqlite3'}")
    try:
        assert meta.budget(meta.ensure_project("default").id) == demo_app.BUDGET_USD
        assert {rule.name for rule in AlertStore(meta).rules()} >= {"ChatErrorRate", "NewIssue"}
    finally:
        meta.close()


def keys_create(data_dir: Path, project: str, kind: str, *more: str) -> list[str]:
    """The arguments of ``watchkeeper keys create``."""
    return [
        "keys",
        "create",
        "--data-dir",
        str(data_dir),
        "--project",
        project,
        "--kind",
        kind,
        *more,
    ]


def watchkeeper(*args: str) -> subprocess.CompletedProcess[str]:
    """Run ``python -m watchkeeper`` to completion."""
    return subprocess.run(
        [sys.executable, "-m", "watchkeeper", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=_environment(),
        check=False,
    )


@contextmanager
def running(command: str, data_dir: Path) -> Iterator[str]:
    """Start ``watchkeeper <command>`` (serve or demo) on a free port, yield its URL once it
    listens, then stop it with SIGINT and check it exits 0."""
    if command == "serve":
        assert watchkeeper("init", "--data-dir", str(data_dir)).returncode == 0
    process = subprocess.Popen(
        [sys.executable, "-m", "watchkeeper", command, "--data-dir", str(data_dir), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_environment(),
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        match = re.search(r"running at (http://\S+)", line)
        if match is None:
            process.kill()
            stdout, stderr = process.communicate()
            pytest.fail(f"{command} did not start:\n{line}{stdout}{stderr}")
        yield match[1]
        process.send_signal(signal.SIGINT)
        _stdout, stderr = process.communicate(timeout=30)
        assert process.returncode == 0, stderr
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


def _environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WATCHKEEPER_")}
    env["COLUMNS"] = "200"
    return env


def test_keys_create_dsn(runner: CliRunner, tmp_path: Path) -> None:
    """--format dsn prints a Sentry DSN of a new ingest key and the numeric project id; it is
    refused for read tokens and for an endpoint that is not http(s)."""
    assert runner.invoke(app, ["init", "--data-dir", str(tmp_path)]).exit_code == 0
    args = ["--format", "dsn", "--endpoint", "https://wk.example.com/sub/", "--quiet"]
    result = runner.invoke(app, keys_create(tmp_path, "default", "ingest", *args))
    assert result.exit_code == 0, result.output
    found = re.fullmatch(
        r"https://(wki_[A-Za-z0-9_-]{32})@wk\.example\.com/sub/(\d+)", result.output.strip()
    )
    assert found is not None, result.output
    with meta_of(tmp_path) as meta:
        assert meta.resolve_key(found[1], "ingest") == int(found[2])
    result = runner.invoke(app, keys_create(tmp_path, "default", "read", "--format", "dsn"))
    assert result.exit_code == 1 and "--kind ingest" in result.output
    bad = ["--format", "dsn", "--endpoint", "ftp://x"]
    assert runner.invoke(app, keys_create(tmp_path, "default", "ingest", *bad)).exit_code == 1


def _llm_call(model: str) -> object:
    """An OpenLLMetry-style chat span of 1M input and 1M output tokens."""
    from tests.conftest import make_span

    return make_span("chat", attributes={
        "llm.request.type": "chat", "gen_ai.system": "openai", "gen_ai.request.model": model,
        "gen_ai.usage.prompt_tokens": 1_000_000, "gen_ai.usage.completion_tokens": 1_000_000})  # fmt: skip


def test_llm_reprice_applies_a_new_prices_file(runner: CliRunner, tmp_path: Path) -> None:
    """llm reprice lists models without a price; after a rule for one is added to the prices
    file, it prices their stored calls; bad options are refused."""
    from watchkeeper.llm.prices import PriceBook
    from watchkeeper.server.pipeline import Pipeline

    assert runner.invoke(app, ["init", "--data-dir", str(tmp_path)]).exit_code == 0
    calls = [_llm_call("acme-large"), _llm_call("acme-large"), _llm_call("gpt-4o")]
    Pipeline(meta=None, prices=PriceBook()).price_calls(calls)  # type: ignore[arg-type]
    store = DuckDBStore(tmp_path / "telemetry.duckdb")
    store.write([(1, calls)])  # type: ignore[list-item]
    store.close()
    reprice = ["llm", "reprice", "--data-dir", str(tmp_path), "--since", "1d"]

    before = runner.invoke(app, reprice)
    assert before.exit_code == 0, before.output
    text = " ".join(before.output.split())
    assert "Repriced 0 of 3 LLM calls whose cost was not reported; 2 have no price." in text
    assert "openai acme-large" in text

    (tmp_path / "prices.yaml").write_text("- match: {starts_with: acme-}\n  input_mtok: 1\n  output_mtok: 3\n")  # fmt: skip
    (tmp_path / "watchkeeper.toml").write_text(f'prices_file = "{tmp_path / "prices.yaml"}"\n')
    after = runner.invoke(app, [*reprice, "--project", "default"])
    assert after.exit_code == 0, after.output
    assert "Repriced 2 of 3 LLM calls whose cost was not reported; 0 have no price." in " ".join(after.output.split())  # fmt: skip
    store = DuckDBStore(tmp_path / "telemetry.duckdb")
    costs = store.query(Statement("SELECT gen_ai_cost_usd AS usd FROM spans WHERE gen_ai_request_model = 'acme-large'"))  # fmt: skip
    store.close()
    assert [row["usd"] for row in costs] == [4.0, 4.0]

    unknown = runner.invoke(app, [*reprice, "--project", "nope"])
    assert unknown.exit_code == 1 and "no project 'nope'" in unknown.output
    bad = runner.invoke(app, ["llm", "reprice", "--data-dir", str(tmp_path), "--since", "lately"])
    assert bad.exit_code == 2 and "--since 'lately'" in bad.output


def test_llm_reprice_while_serving_points_to_the_button(tmp_path: Path) -> None:
    """llm reprice against a running server's data exits 1 telling to stop it or use the LLM
    page's Recompute costs button."""
    with running("serve", tmp_path):
        done = watchkeeper("llm", "reprice", "--data-dir", str(tmp_path))
    assert done.returncode == 1
    assert "stop it and run this again" in done.stderr
    assert '"Recompute costs" button on its LLM page' in done.stderr


def test_llm_prices_shows_the_price_and_its_source(runner: CliRunner, tmp_path: Path) -> None:
    """llm prices names where a model's price comes from: a rule of the prices file first, else
    genai-prices; an unknown model is an error."""
    (tmp_path / "prices.yaml").write_text("- match: {equals: acme-1}\n  input_mtok: 1.5\n  output_mtok: 3\n")  # fmt: skip
    (tmp_path / "watchkeeper.toml").write_text(f'prices_file = "{tmp_path / "prices.yaml"}"\n')
    rule = runner.invoke(app, ["llm", "prices", "ACME-1", "--data-dir", str(tmp_path)])
    assert rule.exit_code == 0, rule.output
    assert "$1.5/input MTok, $3/output MTok" in rule.output
    assert "prices file line 1 (equals 'acme-1')" in rule.output
    genai = runner.invoke(app, ["llm", "prices", "gpt-4o", "--provider", "openai", "--data-dir", str(tmp_path)])  # fmt: skip
    assert genai.exit_code == 0 and "genai-prices openai/gpt-4o" in genai.output
    missing = runner.invoke(app, ["llm", "prices", "llama3", "--provider", "ollama", "--data-dir", str(tmp_path)])  # fmt: skip
    assert missing.exit_code == 1 and "no price for 'llama3' of ollama" in missing.output


ALERT_RULES = """\
channels:
  - {name: oncall, type: webhook, url: "http://127.0.0.1:9/hook"}
rules:
  - name: HighErrorRate
    query: signals.requests
    value: error_pct
    window: 5m
    threshold: 5
    for: 2m
"""


def test_alerts_check_accepts_a_good_file(runner: CliRunner, tmp_path: Path) -> None:
    """alerts check prints a one-line summary and exits 0 for a valid rules file."""
    (tmp_path / "alerts.yml").write_text(ALERT_RULES)
    result = runner.invoke(app, ["alerts", "check", str(tmp_path / "alerts.yml")])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "OK: 1 rules, 1 channels"


def test_alerts_check_prints_each_problem_with_its_line(runner: CliRunner, tmp_path: Path) -> None:
    """alerts check exits 1 and prints FILE:LINE: field: problem for each problem."""
    path = tmp_path / "alerts.yml"
    path.write_text(ALERT_RULES.replace("window: 5m", "window: 5 min").replace("for: 2m", "for: x"))
    result = runner.invoke(app, ["alerts", "check", str(path)])
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"{path}:7: rules[0].window: '5 min' is not a duration like 30s, 5m, 2h, 7d",
        f"{path}:9: rules[0].for: 'x' is not a duration like 30s, 5m, 2h, 7d",
    ]
    missing = runner.invoke(app, ["alerts", "check", str(tmp_path / "nope.yml")])
    assert missing.exit_code == 1
    assert "nope.yml: cannot read" in missing.stderr


def _incident(data_dir: Path, start: int, end: int, until: int) -> None:
    """Server spans every 30 s up to ``until``; 10 % answer 500 between start and end."""
    from watchkeeper.records import Span

    spans = []
    for n, ts in enumerate(range(until - 3600 * 10**9, until, 30 * 10**9)):
        for k in range(10):
            status = 500 if start <= ts < end and k == 0 else 200
            spans.append(Span(id=f"s{n}-{k}", ts=ts + k, name="GET /", trace_id=f"{n:030x}{k:02x}",
                              span_id=f"{n:014x}{k:02x}", duration_ns=1000, span_kind="server",
                              attributes={"http.response.status_code": status}))  # fmt: skip
    store = DuckDBStore(data_dir / "telemetry.duckdb")
    try:
        store.write([(1, spans)])
    finally:
        store.close()


def test_alerts_test_replays_a_rule_over_stored_data(runner: CliRunner, tmp_path: Path) -> None:
    """alerts test replays the rule with the engine and prints when it would have fired and
    resolved: a 20-minute incident fires once (after `for`) and resolves once."""
    data_dir = tmp_path / "data"
    assert runner.invoke(app, ["init", "--data-dir", str(data_dir)]).exit_code == 0
    minute = 60 * 10**9
    left = minute - time.time_ns() % minute
    if left < 5 * 10**9:  # the command replays up to the current minute: stay in this one
        time.sleep(left / 1e9 + 0.05)
    until = time.time_ns() // minute * minute
    _incident(data_dir, until - 40 * minute, until - 20 * minute, until)
    (tmp_path / "alerts.yml").write_text(ALERT_RULES)
    result = runner.invoke(app, ["alerts", "test", "HighErrorRate", "--file", str(tmp_path / "alerts.yml"),
                                 "--since", "1h", "--step", "1m", "--data-dir", str(data_dir)])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert (
        "HighErrorRate would have fired 1 time and resolved 1 time in the last 1h" in result.output
    )
    assert "(61 evaluations, every 1m)" in result.output
    # The 5-minute window holds over 5 % errors from 3 minutes into the incident (6 of its 10
    # slots fail): pending then, firing 2 minutes later (for); resolved once under 5 % again.
    for at in (until - 37 * minute, until - 35 * minute, until - 17 * minute):
        assert datetime.fromtimestamp(at / 1e9, UTC).strftime("%H:%M:%S") in result.output
    unknown = runner.invoke(app, ["alerts", "test", "Nope", "--file", str(tmp_path / "alerts.yml"),
                                  "--data-dir", str(data_dir)])  # fmt: skip
    assert unknown.exit_code == 1 and "no rule named 'Nope'" in unknown.output


def test_alerts_test_finds_stored_rules(runner: CliRunner, tmp_path: Path) -> None:
    """Without --file the rule comes from the metadata store (UI rules included); a quiet
    rule says it would not have fired."""
    from watchkeeper.alerts.rules import parse_rule
    from watchkeeper.meta.alerts import AlertStore

    data_dir = tmp_path / "data"
    assert runner.invoke(app, ["init", "--data-dir", str(data_dir)]).exit_code == 0
    with meta_of(data_dir) as meta:
        rule = parse_rule({"name": "Quiet", "query": "signals.requests", "value": "count",
                           "threshold": 1, "no_data": "OK"})  # fmt: skip
        AlertStore(meta).create_rule(1, rule)
    result = runner.invoke(app, ["alerts", "test", "Quiet", "--since", "2h", "--step", "10m",
                                 "--data-dir", str(data_dir)])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "Quiet would not have fired in the last 2h (13 evaluations, every 10m)." in result.output
    bad = runner.invoke(
        app, ["alerts", "test", "Quiet", "--step", "often", "--data-dir", str(data_dir)]
    )
    assert bad.exit_code == 1 and "--since/--step" in bad.output
