"""Settings: precedence of defaults, file, environment and overrides; clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from pymk.config import load_settings
from pymk.errors import ConfigError

pytestmark = pytest.mark.unit


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PYMK_HOME", raising=False)
    monkeypatch.delenv("PYMK_CONFIG", raising=False)
    settings = load_settings()
    assert settings.home == Path("pymk-home")
    assert settings.resolve(settings.deadletter_url) == "sqlite:///pymk-home/deadletter.sqlite"


def test_file_then_env_then_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "pymk.toml"
    cfg.write_text('home = "/from/file"\nseed = 7\n')
    assert load_settings(cfg).home == Path("/from/file")
    monkeypatch.setenv("PYMK_HOME", "/from/env")
    settings = load_settings(cfg)
    assert settings.home == Path("/from/env")
    assert settings.seed == 7
    assert load_settings(cfg, home=Path("/from/flag")).home == Path("/from/flag")


def test_absolute_and_other_urls_untouched() -> None:
    settings = load_settings(home=Path("/h"))
    assert settings.resolve("sqlite:////abs/x.sqlite") == "sqlite:////abs/x.sqlite"
    assert settings.resolve("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"


def test_unknown_key_in_file_names_it(tmp_path: Path) -> None:
    cfg = tmp_path / "pymk.toml"
    cfg.write_text("hom = 1\n")
    with pytest.raises(ConfigError, match="hom"):
        load_settings(cfg)


def test_bad_toml_names_the_file(tmp_path: Path) -> None:
    cfg = tmp_path / "broken.toml"
    cfg.write_text("home = \n")
    with pytest.raises(ConfigError, match="broken.toml"):
        load_settings(cfg)


def test_invalid_value(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="max_id_length"):
        load_settings(max_id_length=0)
