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
from pathlib import Path

import pytest
from typer.testing import CliRunner

from watchkeeper.cli import app
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
    """demo serves, prints the URL and login, and its app's spans and events reach the store."""
    with running("demo", tmp_path) as url:
        assert url.startswith("http://")
        time.sleep(1)  # stopping flushes what the app captured
    store = DuckDBStore(tmp_path / "telemetry.duckdb")
    try:
        spans = store.query(
            Statement(
                "SELECT count(*) AS n FROM spans WHERE service = 'demo-chat-api'"
                " AND attributes LIKE '%gen_ai.request.model%'"
            )
        )
        events = store.query(Statement("SELECT count(*) AS n FROM events"))
    finally:
        store.close()
    assert spans[0]["n"] > 0
    assert events[0]["n"] > 0


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
