from __future__ import annotations

import dataclasses
import logging
import os
import sys
from typing import get_type_hints

import platformdirs
import pytest

from watchkeeper.sdk.config import Config, Options


def test_defaults() -> None:
    """Without options or environment, the documented defaults apply."""
    config = Config.load(environ={})
    assert config.endpoint == "http://127.0.0.1:7321"
    assert (config.environment, config.release, config.key) == ("production", "", "")
    assert (config.queue_size, config.batch_size, config.flush_interval) == (100_000, 5_000, 1.0)
    assert config.gzip and config.enabled and config.spool_max_bytes == 100 * 1024 * 1024


def test_keyword_arguments_beat_environment_beats_defaults() -> None:
    """kwargs > WATCHKEEPER_* > defaults, and environment values are parsed to their types."""
    environ = {
        "WATCHKEEPER_ENDPOINT": "http://env:1",
        "WATCHKEEPER_SERVICE": "from-env",
        "WATCHKEEPER_BATCH_SIZE": "500",
        "WATCHKEEPER_FLUSH_INTERVAL": "0.5",
        "WATCHKEEPER_GZIP": "off",
    }
    config = Config.load(environ=environ, service="from-kwargs")
    assert config.service == "from-kwargs"
    assert (config.endpoint, config.batch_size, config.flush_interval) == ("http://env:1", 500, 0.5)
    assert config.gzip is False


@pytest.mark.parametrize(("value", "enabled"), [("1", False), ("true", False), ("0", True)])
def test_disabled_variable(value: str, enabled: bool) -> None:
    """WATCHKEEPER_DISABLED turns the SDK off; enabled= in code still wins."""
    assert Config.load(environ={"WATCHKEEPER_DISABLED": value}).enabled is enabled
    assert Config.load(environ={"WATCHKEEPER_DISABLED": "1"}, enabled=True).enabled


def test_bad_environment_value_is_logged_and_ignored(caplog: pytest.LogCaptureFixture) -> None:
    """A value that does not parse keeps the default and logs a warning naming the variable."""
    with caplog.at_level(logging.WARNING, logger="watchkeeper"):
        config = Config.load(environ={"WATCHKEEPER_QUEUE_SIZE": "lots", "WATCHKEEPER_GZIP": "?"})
    assert config.queue_size == 100_000 and config.gzip
    assert "WATCHKEEPER_QUEUE_SIZE" in caplog.text and "WATCHKEEPER_GZIP" in caplog.text


def test_unknown_option_is_a_type_error() -> None:
    """A misspelt keyword option fails loudly at the call site."""
    with pytest.raises(TypeError, match="flush_intervall"):
        Config.load(flush_intervall=1)  # type: ignore[call-arg]


def test_default_spool_is_per_user_and_per_endpoint_and_key() -> None:
    """The default spool lives in the user cache dir, one directory per endpoint and key."""
    a = Config(endpoint="http://a", key="k1").spool_path
    assert a.startswith(os.path.join(platformdirs.user_cache_dir("watchkeeper"), "spool"))
    assert a != Config(endpoint="http://a", key="k2").spool_path
    assert a != Config(endpoint="http://b", key="k1").spool_path
    assert Config(spool_dir="/tmp/x").spool_path == "/tmp/x"


def test_service_defaults_to_the_script_name(monkeypatch: pytest.MonkeyPatch) -> None:
    """service defaults to the running script's name, or "python" for -c and the REPL."""
    monkeypatch.setattr(sys, "argv", ["/srv/app/worker.py", "--flag"])
    assert Config().service == "worker"
    monkeypatch.setattr(sys, "argv", ["-c"])
    assert Config().service == "python"


def test_key_is_not_in_the_repr() -> None:
    """The ingest key never shows up when a config is printed or logged."""
    assert "s3cret" not in repr(Config(key="s3cret"))


def test_options_list_every_field() -> None:
    """The typed keyword options and the dataclass fields are the same names and types."""
    fields = {field.name: field.type for field in dataclasses.fields(Config)}
    hints = get_type_hints(Options)
    assert set(hints) == set(fields)
    assert all(hints[name].__name__ == fields[name] for name in fields)


def test_replace_returns_a_changed_copy() -> None:
    """replace() changes the named options only."""
    config = Config(service="a")
    assert config.replace(release="2").release == "2" and config.release == ""


def test_metrics_and_redaction_options() -> None:
    """metrics_interval (15 s, 0 = off) and redact (on) have defaults and read the environment."""
    config = Config.load(environ={})
    assert config.metrics_interval == 15.0 and config.redact is True
    environ = {"WATCHKEEPER_METRICS_INTERVAL": "0", "WATCHKEEPER_REDACT": "off"}
    config = Config.load(environ=environ)
    assert config.metrics_interval == 0.0 and config.redact is False
    assert Config.load(environ=environ, metrics_interval=5.0).metrics_interval == 5.0
