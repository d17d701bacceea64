"""The settings table, the documented config.toml, and the loader's errors."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from archiver.config import default_toml, load_config, settings_table
from archiver.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


def _flatten(data: dict[str, object], prefix: str = "") -> dict[str, object]:
    out: dict[str, object] = {}
    for key, value in data.items():
        if isinstance(value, dict) and not prefix.startswith("policy."):
            out.update(_flatten(value, f"{prefix}{key}."))  # type: ignore[arg-type]
        else:
            out[f"{prefix}{key}"] = value
    return out


def test_documented_config_lists_every_setting_at_its_default() -> None:
    committed = (ROOT / "config.toml").read_text(encoding="utf-8")
    assert committed == default_toml(), "config.toml is stale: regenerate it with archiver.config.default_toml()"
    documented = _flatten(tomllib.loads(committed))
    table = {name: value for name, value, _ in settings_table()}
    assert set(documented) == set(table)
    for name, default, help_text in settings_table():
        assert help_text, f"{name} has no help text"
        expected = default.as_posix() if isinstance(default, Path) else default
        assert documented[name] == expected, name


def test_committed_config_loads_to_the_defaults() -> None:
    config = load_config(ROOT / "config.toml")
    assert config.fetch == load_config().fetch
    assert config.policy == load_config().policy


def test_partial_file_overrides_only_what_it_sets(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('archive_dir = "store"\n[fetch]\ntimeout = 3\n[policy.live]\ngone = "warn"\n')
    config = load_config(path)
    assert config.fetch.timeout == 3.0
    assert config.fetch.max_redirects == 10
    assert config.archive_dir == tmp_path / "store"
    assert config.policy.live["gone"] == "warn"
    assert config.policy.live["soft_404"] == "fail"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[fetch]\ntimout = 3\n", "fetch.timout: unknown setting"),
        ("[fetch]\ntimeout = 'slow'\n", "fetch.timeout: expected float"),
        ("[fetch]\nallow_private_networks = 1\n", "expected bool"),
        ("[policy.live]\ngone = 'maybe'\n", "level must be pass, warn or fail"),
        ("[policy.drift]\nweird = 'warn'\n", "unknown verdict"),
        ("[fetch]\nconcurrency = 0\n", "fetch.concurrency must be greater than 0"),
        ("[policy]\ngone_with_archive = 'maybe'\n", "gone_with_archive must be pass, warn or fail"),
        ("fetch = 3\n", "expected a table"),
        ("[fetch\n", "is not valid TOML"),
    ],
)
def test_bad_config_names_the_file_and_key(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message) as info:
        load_config(path)
    assert "bad.toml" in str(info.value)


def test_missing_config_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.toml")


def test_command_line_overrides_the_file(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text("[fetch]\ntimeout = 3\n")
    config = load_config(path, {"fetch": {"timeout": 7}})
    assert config.fetch.timeout == 7.0
