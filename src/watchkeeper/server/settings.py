"""The server's settings: one declared table (name, default, help).

Precedence: command-line option > ``WATCHKEEPER_<NAME>`` environment variable > ``watchkeeper.toml``
in the data directory (or the file named by ``WATCHKEEPER_CONFIG``) > the default here. Every value
is parsed and checked at start-up; a bad one stops the server with a message naming the setting.
docs/settings.md lists them all, and a test fails when one is missing there.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from watchkeeper.alerts.rules import parse_interval, parse_rules_file
from watchkeeper.errors.issues import SeverityRule, parse_severity_rules
from watchkeeper.llm.overrides import parse_prices_file


@dataclass(frozen=True)
class Setting:
    name: str
    default: Any
    help: str
    parse: Callable[[Any], Any] = str


def _positive_int(value: Any) -> int:
    number = int(value)
    if number <= 0:
        raise ValueError("must be a positive whole number")
    return number


def _positive_float(value: Any) -> float:
    number = float(value)
    if number <= 0:
        raise ValueError("must be a positive number")
    return number


def _linger(value: Any) -> float:
    number = float(value)
    if not 0 <= number <= 100:
        raise ValueError("must be 0..100 ms (every acknowledgement waits for it)")
    return number


def _port(value: Any) -> int:
    number = int(value)
    if not 0 <= number <= 65535:
        raise ValueError("must be a TCP port, 0..65535 (0 picks a free one)")
    return number


def _public_url(value: object) -> str:
    text = str(value).strip().rstrip("/")
    if text and not re.fullmatch(r"https?://[^\s/]+(/\S*)?", text):
        raise ValueError("must be an http(s) URL such as https://watchkeeper.example.com")
    return text


SETTINGS: Final[tuple[Setting, ...]] = (
    Setting(
        "data_dir",
        "./watchkeeper-data",
        "Directory holding telemetry.duckdb, meta.sqlite3 and watchkeeper.toml.",
    ),
    Setting("host", "127.0.0.1", "Address the HTTP server listens on.", str),
    Setting("port", 7321, "TCP port the HTTP server listens on.", _port),
    Setting(
        "max_body_bytes",
        10_000_000,
        "Largest compressed request body accepted at ingest (413 above).",
        _positive_int,
    ),
    Setting(
        "max_decompressed_bytes",
        50_000_000,
        "Largest body after gunzip (413 above); guards against gzip bombs.",
        _positive_int,
    ),
    Setting(
        "max_record_bytes",
        1_000_000,
        "Largest single encoded record (413 naming the record above).",
        _positive_int,
    ),
    Setting(
        "writer_max_records",
        20_000,
        "Group commit: most records the writer commits in one transaction.",
        _positive_int,
    ),
    Setting(
        "writer_linger_ms",
        0.0,
        "Group commit: extra wait (0..100) for more records before a commit; 0 commits at once.",
        _linger,
    ),
    Setting(
        "writer_queue_records",
        200_000,
        "Records waiting for the writer before ingest answers 503 + Retry-After.",
        _positive_int,
    ),
    Setting("session_days", 14.0, "How long a dashboard login lasts.", _positive_float),
    Setting(
        "secure_cookies",
        False,
        "Mark login cookies Secure (set when serving over HTTPS).",
        lambda v: str(v).lower() in {"1", "true", "yes", "on"},
    ),
    Setting(
        "severity_rules",
        (),
        "Issue severity rules, checked in order before the defaults (fatal or unhandled:"
        " critical; error: major; else minor), e.g."
        ' [{match = "type:TimeoutError", severity = "minor"}].',
        parse_severity_rules,
    ),
    Setting(
        "prices_file",
        None,
        "YAML file of LLM price rules checked before the genai-prices data; reloaded when it"
        " changes.",
        parse_prices_file,
    ),
    Setting(
        "rules_file",
        None,
        "YAML file of alert rules, channels and notification policy; reloaded when it changes.",
        parse_rules_file,
    ),
    Setting(
        "public_url",
        "",
        "The server's address as users reach it (https://watchkeeper.example.com), for links in"
        " alert notifications; empty: http://HOST:PORT.",
        _public_url,
    ),
    Setting(
        "alerts_interval",
        30.0,
        "Seconds between alert evaluation cycles (or a duration such as 1m).",
        parse_interval,
    ),
)


_BY_NAME: Final = {setting.name: setting for setting in SETTINGS}


class SettingsError(ValueError):
    """A setting with a value that cannot be used; the message names it and where it came from."""


@dataclass(frozen=True)
class Settings:
    """Resolved settings; build with :func:`load_settings`, or directly in tests."""

    data_dir: Path = Path("./watchkeeper-data")
    host: str = "127.0.0.1"
    port: int = 7321
    max_body_bytes: int = 10_000_000
    max_decompressed_bytes: int = 50_000_000
    max_record_bytes: int = 1_000_000
    writer_max_records: int = 20_000
    writer_linger_ms: float = 0.0
    writer_queue_records: int = 200_000
    session_days: float = 14.0
    secure_cookies: bool = False
    severity_rules: tuple[SeverityRule, ...] = ()
    prices_file: Path | None = None
    rules_file: Path | None = None
    public_url: str = ""
    alerts_interval: float = 30.0

    @property
    def base_url(self) -> str:
        """Where users reach the server: ``public_url``, else ``http://host:port``."""
        return self.public_url or f"http://{self.host}:{self.port}"

    @property
    def telemetry_path(self) -> Path:
        return self.data_dir / "telemetry.duckdb"

    @property
    def meta_url(self) -> str:
        return f"sqlite:///{self.data_dir / 'meta.sqlite3'}"


def load_settings(
    overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    """Resolve every setting: ``overrides`` (the CLI's options; ``None`` values are skipped) >
    environment > watchkeeper.toml > default.

    >>> load_settings({"port": 8000}, environ={}).port
    8000
    """
    environ = os.environ if environ is None else environ
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    unknown = set(overrides) - set(_BY_NAME)
    if unknown:
        raise SettingsError(f"unknown setting(s): {', '.join(sorted(unknown))}")

    def raw(name: str) -> tuple[Any, str] | None:
        if name in overrides:
            return overrides[name], "the command line"
        env = f"WATCHKEEPER_{name.upper()}"
        if env in environ:
            return environ[env], f"${env}"
        return None

    data_dir_raw = raw("data_dir")
    data_dir = Path(data_dir_raw[0] if data_dir_raw else _BY_NAME["data_dir"].default)
    config_path = Path(environ.get("WATCHKEEPER_CONFIG", data_dir / "watchkeeper.toml"))
    file_values = _read_toml(config_path)

    values: dict[str, Any] = {"data_dir": data_dir}
    for setting in SETTINGS:
        if setting.name == "data_dir":
            continue
        found = raw(setting.name)
        if found is None and setting.name in file_values:
            found = file_values[setting.name], str(config_path)
        if found is None:
            values[setting.name] = setting.default
            continue
        value, source = found
        try:
            values[setting.name] = setting.parse(value)
        except (TypeError, ValueError) as exc:
            raise SettingsError(f"setting {setting.name}={value!r} from {source}: {exc}") from None
    return Settings(**values)


def _read_toml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        values = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"{path}: {exc}") from None
    unknown = set(values) - set(_BY_NAME)
    if unknown:
        raise SettingsError(f"{path}: unknown setting(s): {', '.join(sorted(unknown))}")
    return values
