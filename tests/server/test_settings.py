"""The settings table: precedence, validation with clear messages, and complete docs."""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path

import pytest

from watchkeeper.server.settings import SETTINGS, Settings, SettingsError, load_settings

DOCS = Path(__file__).parents[2] / "docs" / "settings.md"


def test_defaults_apply_when_nothing_is_set(tmp_path: Path) -> None:
    """With no option, env or file, each setting takes its declared default."""
    settings = load_settings({"data_dir": tmp_path}, environ={})
    for setting in SETTINGS:
        if setting.name != "data_dir":
            assert getattr(settings, setting.name) == setting.default, setting.name


def test_cli_beats_env_beats_file(tmp_path: Path) -> None:
    """Precedence is command line > WATCHKEEPER_* environment > watchkeeper.toml > default."""
    (tmp_path / "watchkeeper.toml").write_text(
        "port = 9001\nhost = '0.0.0.0'\nmax_body_bytes = 5\n"
    )
    environ = {"WATCHKEEPER_PORT": "9002", "WATCHKEEPER_HOST": "127.0.0.2"}
    settings = load_settings({"data_dir": tmp_path, "port": 9003, "host": None}, environ=environ)
    assert (settings.port, settings.host, settings.max_body_bytes) == (9003, "127.0.0.2", 5)


def test_data_dir_from_env_locates_the_file(tmp_path: Path) -> None:
    """WATCHKEEPER_DATA_DIR picks the data directory, whose watchkeeper.toml is then read."""
    (tmp_path / "watchkeeper.toml").write_text("port = 9100\n")
    settings = load_settings(environ={"WATCHKEEPER_DATA_DIR": str(tmp_path)})
    assert (settings.data_dir, settings.port) == (tmp_path, 9100)


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"WATCHKEEPER_PORT": "http"}, r"port='http' from \$WATCHKEEPER_PORT"),
        ({"WATCHKEEPER_PORT": "70000"}, "must be a TCP port"),
        ({"WATCHKEEPER_MAX_BODY_BYTES": "-1"}, "max_body_bytes.*positive"),
        ({"WATCHKEEPER_WRITER_LINGER_MS": "500"}, "writer_linger_ms.*0..100"),
    ],
)
def test_bad_values_name_the_setting_and_source(
    tmp_path: Path, environ: dict[str, str], message: str
) -> None:
    """A value that cannot be used raises SettingsError naming the setting and where it came from."""
    with pytest.raises(SettingsError, match=message):
        load_settings({"data_dir": tmp_path}, environ=environ)


def test_unknown_keys_in_the_file_are_refused(tmp_path: Path) -> None:
    """A misspelt key in watchkeeper.toml is an error, not silently ignored."""
    (tmp_path / "watchkeeper.toml").write_text("prot = 1\n")
    with pytest.raises(SettingsError, match=r"unknown setting.*prot"):
        load_settings({"data_dir": tmp_path}, environ={})


def test_table_and_dataclass_agree() -> None:
    """Every declared setting is a Settings field with the same default, and vice versa."""
    assert [s.name for s in SETTINGS] == [f.name for f in fields(Settings)]
    for setting, field in zip(SETTINGS, fields(Settings), strict=True):
        assert str(field.default) == str(
            Path(setting.default) if setting.name == "data_dir" else setting.default
        )


def test_every_setting_is_documented() -> None:
    """docs/settings.md has a row for each setting, with its default."""
    text = DOCS.read_text()
    for setting in SETTINGS:
        row = re.search(
            rf"^\| `{setting.name}` \| `WATCHKEEPER_{setting.name.upper()}` \| `([^`]*)` \|",
            text,
            re.M,
        )
        assert row, f"{setting.name} is not documented in docs/settings.md"
        assert row[1] == str(setting.default), setting.name


def test_prices_file_is_checked_at_start(tmp_path: Path) -> None:
    """prices_file must be a valid prices file: a bad one is refused naming its line and field."""
    path = tmp_path / "prices.yaml"
    path.write_text("- match: {equals: gpt-4o}\n  input_mtok: 1\n  output_mtok: cheap\n")
    with pytest.raises(SettingsError, match=r"prices_file=.*from \$WATCHKEEPER_PRICES_FILE: .*prices\.yaml:3: rule 1, field output_mtok"):  # fmt: skip
        load_settings({"data_dir": tmp_path}, environ={"WATCHKEEPER_PRICES_FILE": str(path)})
    path.write_text("- match: {equals: gpt-4o}\n  input_mtok: 1\n  output_mtok: 2\n")
    assert load_settings({"data_dir": tmp_path}, environ={"WATCHKEEPER_PRICES_FILE": str(path)}).prices_file == path  # fmt: skip
    assert load_settings({"data_dir": tmp_path}, environ={}).prices_file is None
