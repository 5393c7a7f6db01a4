"""The ``watchkeeper`` command: serve, init, keys, demo.

Settings follow the server's precedence (settings.py): an option given here > ``WATCHKEEPER_*``
environment > ``watchkeeper.toml`` > default. A bad value stops with one line naming it (exit 2).
"""

from __future__ import annotations

import secrets
import signal
import socket
import threading
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from types import FrameType
from typing import Annotated, Any, Final, NoReturn
from urllib.parse import urlsplit

import typer
import uvicorn
from fastapi import FastAPI
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from watchkeeper import demo as demo_app
from watchkeeper.alerts.replay import Episode, replay
from watchkeeper.alerts.rules import Rule, RulesError, load_rules, parse_duration
from watchkeeper.llm.prices import PriceBook
from watchkeeper.llm.reprice import reprice
from watchkeeper.meta.alerts import AlertStore
from watchkeeper.meta.store import MetaStore
from watchkeeper.server.app import create_app
from watchkeeper.server.settings import Settings, SettingsError, load_settings
from watchkeeper.store.base import StoreBusyError
from watchkeeper.store.duckdb import DuckDBStore

DEFAULT_ADMIN_EMAIL: Final = "admin@example.com"
DEMO_PASSWORD: Final = "watchkeeper"  # noqa: S105 (the demo's published login, printed on start)
"""The demo's fixed login, printed when it starts; demo data lives in its own directory."""

DEFAULT_PROJECT: Final = "default"

app = typer.Typer(
    name="watchkeeper",
    help="Self-hosted monitoring and analytics for LLM-powered Python apps.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
keys_app = typer.Typer(help="Create API keys (works while a server runs).", no_args_is_help=True)
app.add_typer(keys_app, name="keys")

console = Console(highlight=False)
errors = Console(stderr=True, highlight=False)

DataDirOption = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        help="Directory holding the stores [default: $WATCHKEEPER_DATA_DIR, ./watchkeeper-data].",
        show_default=False,
    ),
]
PortOption = Annotated[
    int | None,
    typer.Option(
        "--port", help="TCP port; 0 picks a free one [default: 7321].", show_default=False
    ),
]


class KeyKind(StrEnum):
    ingest = "ingest"
    read = "read"


class KeyFormat(StrEnum):
    key = "key"
    dsn = "dsn"


def sentry_dsn(endpoint: str, key: str, project_id: int) -> str:
    """The Sentry DSN of an ingest key: ``http(s)://<key>@<host>[:port][/prefix]/<project id>``.

    >>> sentry_dsn("https://wk.example.com/", "wki_x", 3)
    'https://wki_x@wk.example.com/3'
    """
    parts = urlsplit(endpoint.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"--endpoint {endpoint!r}: expected http(s)://host[:port][/path]")
    netloc = parts.netloc.rpartition("@")[2]
    return f"{parts.scheme}://{key}@{netloc}{parts.path.rstrip('/')}/{project_id}"


def fail(message: str, code: int = 1) -> NoReturn:
    """Print ``watchkeeper: <message>`` on stderr and exit with ``code``."""
    errors.print(f"[bold red]watchkeeper:[/] {escape(message)}", soft_wrap=True)
    raise typer.Exit(code)


def settings_from(**options: Any) -> Settings:
    """The resolved settings, the options given on the command line first."""
    try:
        return load_settings(options)
    except SettingsError as exc:
        fail(str(exc), code=2)


# watchkeeper init


@dataclass(frozen=True)
class Setup:
    """What :func:`setup` did, for printing."""

    settings: Settings
    project_id: int
    admin_email: str
    admin_password: str | None
    """The password when the admin was created now; None when the admin existed."""
    ingest_key: str
    read_token: str


def setup(settings: Settings, admin_email: str, admin_password: str | None) -> Setup:
    """Create the data directory and both stores, project ``default``, the admin (unless they
    exist: their password is never changed) with the admin role there, a new ingest key and a new
    read token. Safe to run again."""
    data_dir = settings.data_dir
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        fail(f"cannot create the data directory {data_dir}: {exc.strerror or exc}")
    # The telemetry store first: if a server holds it, nothing else is changed.
    try:
        store = DuckDBStore(settings.telemetry_path)
    except StoreBusyError:
        fail(
            f"the data directory {data_dir} is in use by a running watchkeeper server; stop it "
            "first or use `watchkeeper keys create`, which works while it runs"
        )
    try:
        store.migrate()
    finally:
        store.close()
    meta = MetaStore(settings.meta_url)
    try:
        meta.migrate()
        project = meta.ensure_project(DEFAULT_PROJECT, "Default")
        password = admin_password or secrets.token_urlsafe(12)
        try:
            admin, created = meta.ensure_user(admin_email, password, is_admin=True)
        except ValueError as exc:
            fail(f"admin user: {exc}")
        if meta.role(admin.id, project.id) is None:
            meta.grant(admin.id, project.id, "admin")
        return Setup(
            settings=settings,
            project_id=project.id,
            admin_email=admin.email,
            admin_password=password if created else None,
            ingest_key=meta.create_key(project.id, "ingest"),
            read_token=meta.create_key(project.id, "read"),
        )
    finally:
        meta.close()


@app.command()
def init(
    data_dir: DataDirOption = None,
    admin_email: Annotated[
        str, typer.Option("--admin-email", help="Email of the admin user to create.")
    ] = DEFAULT_ADMIN_EMAIL,
    admin_password: Annotated[
        str | None,
        typer.Option(
            "--admin-password",
            envvar="WATCHKEEPER_ADMIN_PASSWORD",
            help="Password for a new admin user [default: generated and printed once].",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Create the data directory, the stores, the default project, the admin and keys."""
    settings = settings_from(data_dir=data_dir)
    done = setup(settings, admin_email, admin_password)
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    table.add_row("data directory", str(settings.data_dir.resolve()))
    table.add_row("project", f"{DEFAULT_PROJECT} (id {done.project_id})")
    if done.admin_password is None:
        table.add_row("admin", f"{done.admin_email} exists already; its password is unchanged")
    elif admin_password is None:
        table.add_row("admin", f"{done.admin_email} created")
        table.add_row("password", f"[bold yellow]{done.admin_password}[/]  (generated: save it)")
    else:
        table.add_row("admin", f"{done.admin_email} created with the password given")
    console.print("[bold]watchkeeper is set up[/]")
    console.print(table)
    # Secrets on lines of their own, never wrapped, so they copy whole.
    console.print("\nNew ingest key (shown once, only its hash is kept):")
    console.print(f"  [bold green]{done.ingest_key}[/]", soft_wrap=True)
    console.print("New read token for the read API (shown once):")
    console.print(f"  [bold green]{done.read_token}[/]", soft_wrap=True)
    console.print(
        f"\nNext: [bold]watchkeeper serve --data-dir {escape(str(settings.data_dir))}[/], "
        f"open http://{_url_host(settings.host)}:{settings.port} and log in as "
        f"{escape(done.admin_email)}.\nIn your app: watchkeeper.init(endpoint=<that URL>, "
        "key=<the ingest key>, service=<its name>)",
        soft_wrap=True,
    )


# watchkeeper keys create


@keys_app.command("create")
def keys_create(
    project: Annotated[str, typer.Option("--project", help="Slug of the project.")],
    kind: Annotated[
        KeyKind, typer.Option("--kind", help="ingest: write records; read: the read API.")
    ],
    data_dir: DataDirOption = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print the key alone.")] = False,
    format_: Annotated[
        KeyFormat,
        typer.Option(
            "--format", help="key: the key; dsn: a Sentry DSN for Sentry SDKs (ingest keys)."
        ),
    ] = KeyFormat.key,
    endpoint: Annotated[
        str | None,
        typer.Option(
            "--endpoint",
            help="The server's URL as apps reach it, for --format dsn "
            "[default: http://<host>:<port> of the settings].",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Create an ingest key or a read token and print it (only its hash is stored)."""
    settings = settings_from(data_dir=data_dir)
    if format_ is KeyFormat.dsn:
        if kind is not KeyKind.ingest:
            fail("--format dsn needs --kind ingest: a DSN carries an ingest key")
        endpoint = endpoint or f"http://{_url_host(settings.host)}:{settings.port}"
        try:
            sentry_dsn(endpoint, "wki_", 1)
        except ValueError as exc:
            fail(str(exc))
    if not settings.data_dir.is_dir():
        fail(f"no data directory {settings.data_dir}: run `watchkeeper init` first")
    meta = MetaStore(settings.meta_url)
    try:
        meta.migrate()
        found = meta.project_by_slug(project)
        if found is None:
            known = ", ".join(p.slug for p in meta.projects()) or "none"
            fail(f"no project {project!r} in {settings.data_dir} (projects: {known})")
        key = meta.create_key(found.id, kind.value)
    finally:
        meta.close()
    if format_ is KeyFormat.dsn and endpoint is not None:
        key = sentry_dsn(endpoint, key, found.id)
    if quiet:
        print(key)
    else:
        name = "ingest key" if kind is KeyKind.ingest else "read token"
        name = "Sentry DSN" if format_ is KeyFormat.dsn else name
        console.print(f"New {name} for project {escape(found.slug)} (shown once):")
        console.print(f"[bold green]{key}[/]", soft_wrap=True)


# watchkeeper serve


@app.command()
def serve(
    data_dir: DataDirOption = None,
    host: Annotated[
        str | None,
        typer.Option(
            "--host", help="Address to listen on [default: 127.0.0.1].", show_default=False
        ),
    ] = None,
    port: PortOption = None,
) -> None:
    """Run the server: ingest, APIs and dashboard, in one process, until Ctrl-C."""
    settings = settings_from(data_dir=data_dir, host=host, port=port)
    check_stores_free(settings)
    with listen(settings.host, settings.port) as sock:
        server = ServerThread(create_app(settings), sock)
        server.start()
        console.print(f"watchkeeper is running at [bold]{server.url}[/]  (Ctrl-C stops it)")
        wait_for_stop(server)
        console.print("stopping…")
        server.stop()


def check_stores_free(settings: Settings) -> None:
    """Stop with a clear message when another process holds the telemetry store."""
    try:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        DuckDBStore(settings.telemetry_path).close()
    except StoreBusyError as exc:
        fail(f"cannot start: {exc}")
    except OSError as exc:
        fail(f"cannot use the data directory {settings.data_dir}: {exc}")


def listen(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port`` (port 0: a free one), so the URL is known before start."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        sock = socket.socket(family, kind, proto)
    except OSError as exc:
        fail(f"cannot listen on {host}:{port}: {exc}")
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError as exc:
        sock.close()
        fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}")
    return sock


class ServerThread:
    """uvicorn on its own thread, so the main thread owns the signals and can stop the demo app
    before the server it talks to."""

    def __init__(self, asgi_app: FastAPI, sock: socket.socket) -> None:
        config = uvicorn.Config(
            asgi_app, log_level="warning", lifespan="on", timeout_graceful_shutdown=10
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [sock]}, name="watchkeeper-server"
        )
        host, port = sock.getsockname()[:2]
        self.url = f"http://{_url_host(host)}:{port}"

    def start(self, timeout: float = 60.0) -> None:
        """Start serving; stop with a message if the app does not start within ``timeout``."""
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive():
                fail("the server did not start (the error is above)")
            if time.monotonic() > deadline:
                self.stop()
                fail(f"the server did not start within {timeout:.0f} s")
            time.sleep(0.02)

    @property
    def running(self) -> bool:
        return self.thread.is_alive()

    def stop(self) -> None:
        """Finish requests in flight, run the app's shutdown (the writer commits), and return."""
        self.server.should_exit = True
        self.thread.join()


def wait_for_stop(server: ServerThread) -> None:
    """Block until Ctrl-C or SIGTERM; exit 1 if the server stops by itself first."""
    stop = threading.Event()

    def handle(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    handled = (signal.SIGINT, signal.SIGTERM)
    previous = {sig: signal.signal(sig, handle) for sig in handled}
    try:
        while not stop.wait(0.2):
            if not server.running:
                fail("the server stopped unexpectedly (the error is above)")
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _url_host(host: str) -> str:
    if host in {"", "0.0.0.0"}:  # noqa: S104 (shown, not bound: the URL a browser can open)
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host


# watchkeeper demo


@app.command()
def demo(
    data_dir: Annotated[
        Path,
        typer.Option("--data-dir", help="Directory for the demo's data (kept apart from yours)."),
    ] = Path("watchkeeper-demo"),
    port: PortOption = None,
) -> None:
    """Run the server with a synthetic LLM chat app sending it live data, until Ctrl-C."""
    rules = data_dir / "alerts.yml"
    if not rules.exists():  # written once: the user's edits are kept
        data_dir.mkdir(parents=True, exist_ok=True)
        rules.write_text(demo_app.RULES)
    settings = settings_from(data_dir=data_dir, port=port, rules_file=rules)
    done = setup(settings, DEFAULT_ADMIN_EMAIL, DEMO_PASSWORD)
    meta = MetaStore(settings.meta_url)
    try:
        login_ok = meta.authenticate(DEFAULT_ADMIN_EMAIL, DEMO_PASSWORD) is not None
        if meta.budget(done.project_id) is None:
            meta.set_budget(done.project_id, demo_app.BUDGET_USD)
    finally:
        meta.close()
    with listen(settings.host, settings.port) as sock:
        server = ServerThread(create_app(settings), sock)
        server.start()
        console.print(f"[bold]watchkeeper demo[/] is running at [bold]{server.url}[/]")
        if login_ok:
            console.print(f"  log in as [bold]{DEFAULT_ADMIN_EMAIL}[/] / [bold]{DEMO_PASSWORD}[/]")
        else:
            console.print(
                f"  [yellow]{DEFAULT_ADMIN_EMAIL} exists in {escape(str(data_dir))} with another "
                "password: log in with that one[/]",
                soft_wrap=True,
            )
        console.print(
            f"  a synthetic chat app ({demo_app.SERVICE}) sends it live events and traces "
            "through the SDK\n"
            f"  send your own app's data: watchkeeper.init(endpoint={server.url!r}, "
            f"key={done.ingest_key!r}, service=...)\n"
            f"  read API token: {done.read_token}\n"
            f"  alert rules: {escape(str(rules))} (edit it; the server reloads it)\n"
            "Ctrl-C stops everything.",
            soft_wrap=True,
        )
        simulation = demo_app.start(endpoint=server.url, key=done.ingest_key)
        try:
            wait_for_stop(server)
        finally:
            console.print("stopping…")
            simulation.stop()
            server.stop()


# watchkeeper llm

llm_app = typer.Typer(
    help="LLM prices: the price a model gets, and recomputing stored costs.", no_args_is_help=True
)
app.add_typer(llm_app, name="llm")

_UNITS: Final = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}


def since_ns(value: str, now: int) -> int:
    """``--since``: an age (``30d``, ``12h``, ``90m``, ``2w``, ``45s``) or a day (``2026-01-31``,
    UTC) as ns since the epoch.

    >>> since_ns("2d", 3 * 86_400 * 10**9) == 86_400 * 10**9
    True
    """
    text = value.strip().lower()
    if text[:-1].isdigit() and text[-1:] in _UNITS:
        return now - int(text[:-1]) * _UNITS[text[-1]] * 10**9
    try:
        day = datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        raise ValueError(
            f"--since {value!r}: expected an age like 30d or 12h, or a day like 2026-01-31"
        ) from None
    return int(day.timestamp()) * 10**9


@llm_app.command("reprice")
def llm_reprice(
    data_dir: DataDirOption = None,
    since: Annotated[
        str | None,
        typer.Option(
            "--since",
            help="Only calls this recent (30d, 12h) or from this day (2026-01-31) [default: all].",
            show_default=False,
        ),
    ] = None,
    project: Annotated[
        str | None,
        typer.Option(
            "--project", help="Slug of the project [default: every project].", show_default=False
        ),
    ] = None,
) -> None:
    """Recompute the cost of stored LLM calls with the current prices (genai-prices and the
    prices file); calls whose cost their instrumentation reported are kept. Stop the server
    first, or use the "Recompute costs" button on its LLM page."""
    settings = settings_from(data_dir=data_dir)
    try:
        start = since_ns(since, time.time_ns()) if since is not None else None
    except ValueError as exc:
        fail(str(exc), code=2)
    if not settings.data_dir.is_dir():
        fail(f"no data directory {settings.data_dir}: run `watchkeeper init` first")
    project_id = None
    if project is not None:
        meta = MetaStore(settings.meta_url)
        try:
            found = meta.project_by_slug(project)
            known = ", ".join(p.slug for p in meta.projects()) or "none"
        finally:
            meta.close()
        if found is None:
            fail(f"no project {project!r} in {settings.data_dir} (projects: {known})")
        project_id = found.id
    try:
        store = DuckDBStore(settings.telemetry_path)
    except StoreBusyError:
        fail(
            f"a running watchkeeper server holds {settings.telemetry_path}: stop it and run this "
            'again, or use the "Recompute costs" button on its LLM page, which works while it runs'
        )
    try:
        store.migrate()
        result = reprice(store, PriceBook(settings.prices_file), project=project_id, since=start)
    finally:
        store.close()
    console.print(
        f"Repriced {result.updated:,} of {result.checked:,} LLM calls whose cost was not "
        f"reported; {result.unpriced:,} have no price."
    )
    if result.models_unpriced:
        table = Table("provider", "model without a price", box=None)
        for provider_name, model in result.models_unpriced:
            table.add_row(escape(provider_name or "(none)"), escape(model or "(none)"))
        console.print(table)
        console.print("Add them to the prices file (setting prices_file) and reprice again.")


@llm_app.command("prices")
def llm_prices(
    model: Annotated[str, typer.Argument(help="The model name a call reports, e.g. gpt-4o.")],
    provider: Annotated[
        str | None,
        typer.Option(
            "--provider",
            help="Its provider (gen_ai.provider.name, e.g. openai) [default: from the model].",
            show_default=False,
        ),
    ] = None,
    data_dir: DataDirOption = None,
) -> None:
    """Show the price calls to MODEL get now, and where it comes from (the prices file or
    genai-prices); handy to check a rule."""
    settings = settings_from(data_dir=data_dir)
    quote = PriceBook(settings.prices_file).quote(provider, model)
    if quote is None:
        of = f" of {provider}" if provider else ""
        fail(
            f"no price for {model!r}{of}: calls to it are stored unpriced; add a rule to the "
            "prices file (setting prices_file)"
        )
    console.print(
        f"[bold]{escape(model)}[/]: {escape(str(quote.price(time.time_ns())))}", soft_wrap=True
    )
    console.print(f"from {escape(quote.source)}", soft_wrap=True)


# watchkeeper alerts

alerts_app = typer.Typer(
    help="Check alert rules files; replay a rule over stored data.", no_args_is_help=True
)
app.add_typer(alerts_app, name="alerts")


def print_rule_problems(error: RulesError, filename: str) -> None:
    """Each problem on its own stderr line: ``FILE:LINE: field: problem``."""
    for problem in error.problems:
        typer.echo(problem.format(filename), err=True)


@alerts_app.command("check")
def alerts_check(
    file: Annotated[Path, typer.Argument(help="The rules file (YAML).", show_default=False)],
) -> None:
    """Check a rules file: 'OK: n rules, m channels', or every problem as FILE:LINE: field:
    problem and exit 1."""
    try:
        ruleset = load_rules(file)
    except RulesError as exc:
        print_rule_problems(exc, str(file))
        raise typer.Exit(1) from None
    console.print(f"OK: {len(ruleset.rules)} rules, {len(ruleset.channels)} channels")


def _find_rule(meta: MetaStore, name: str, file: Path | None, project: str | None) -> Rule:
    if file is not None:
        try:
            rules = list(load_rules(file).rules)
        except RulesError as exc:
            print_rule_problems(exc, str(file))
            raise typer.Exit(1) from None
        where = str(file)
    else:
        slugs = {p.id: p.slug for p in meta.projects()}
        rules = [
            replace(s.rule, project=slugs.get(s.project_id, "")) for s in AlertStore(meta).rules()
        ]
        where = "the rules stored in the data directory"
    found = [r for r in rules if r.name == name and project in (None, r.project)]
    if not found:
        fail(f"no rule named {name!r}{f' in project {project}' if project else ''} in {where}")
    if len(found) > 1:
        fail(f"several projects have a rule named {name!r}: choose one with --project")
    return replace(found[0], enabled=True)


def _when(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, UTC).strftime("%Y-%m-%d %H:%M:%S") if ns else "–"


def _episodes_table(rule: Rule, episodes: list[Episode]) -> Table:
    table = Table(title=f"{rule.name} ({rule.project})", title_justify="left")
    for column in ("instance", "pending", "firing", "resolved", "peak value"):
        table.add_column(column, justify="right" if column == "peak value" else "left")
    for episode in episodes:
        labels = ", ".join(
            f"{k}={v}" for k, v in sorted(episode.labels.items()) if k != "alertname"
        )
        resolved = _when(episode.resolved_at) if episode.firing_at else "(never fired)"
        if episode.firing_at and not episode.resolved_at:
            resolved = "(still firing)"
        peak = "–" if episode.peak is None else f"{episode.peak:.4g}"
        table.add_row(escape(labels or "–"), _when(episode.pending_at), _when(episode.firing_at),
                      resolved, peak)  # fmt: skip
    return table


@alerts_app.command("test")
def alerts_test(
    rule_name: Annotated[str, typer.Argument(metavar="RULE", help="The rule's name.")],
    file: Annotated[
        Path | None,
        typer.Option(
            "--file",
            help="Take the rule from this rules file [default: the rules "
            "stored in the data directory, UI rules included].",
            show_default=False,
        ),
    ] = None,
    project: Annotated[
        str | None,
        typer.Option(
            "--project",
            help="The rule's project, when several have a rule so named.",
            show_default=False,
        ),
    ] = None,
    since: Annotated[str, typer.Option("--since", help="How far back to replay.")] = "7d",
    step: Annotated[str, typer.Option("--step", help="Time between evaluations.")] = "1m",
    data_dir: DataDirOption = None,
) -> None:
    """Replay RULE over the stored data; print when it would have fired and resolved."""
    settings = settings_from(data_dir=data_dir)
    try:
        back, every = parse_duration(since), parse_duration(step)
    except ValueError as exc:
        fail(f"--since/--step: {exc}")
    if not settings.data_dir.is_dir():
        fail(f"no data directory {settings.data_dir}: run `watchkeeper init` first")
    meta = MetaStore(settings.meta_url)
    try:
        meta.migrate()
        rule = _find_rule(meta, rule_name, file, project)
        found = meta.project_by_slug(rule.project)
        if found is None:
            fail(f"no project {rule.project!r} in {settings.data_dir}")
        try:
            store = DuckDBStore(settings.telemetry_path)
        except StoreBusyError as exc:
            fail(f"{exc}; stop the server to replay (DuckDB lets one process open the store)")
        try:
            until = time.time_ns() // max(every, 1) * max(every, 1)
            episodes = replay(rule, found.id, store, AlertStore(meta), since=until - back,
                              until=until, step=every)  # fmt: skip
        except ValueError as exc:
            fail(str(exc))
        finally:
            store.close()
    finally:
        meta.close()
    fired = [e for e in episodes if e.firing_at]
    resolved = [e for e in fired if e.resolved_at]
    evaluations = back // every + 1
    if episodes:
        console.print(_episodes_table(rule, episodes))
    verdict = (
        f"would have fired {len(fired)} time{'s' * (len(fired) != 1)} and resolved "
        f"{len(resolved)} time{'s' * (len(resolved) != 1)}"
        if fired
        else "would not have fired"
    )
    console.print(
        f"{escape(rule.name)} {verdict} in the last {since} ({evaluations:,} evaluations, every "
        f"{step}).",
        soft_wrap=True,
    )


def main() -> None:
    """The console script's entry point."""
    app()
