from __future__ import annotations

from pathlib import Path

import pytest

from buildcache.doctor import cargo_config
from buildcache.doctor.cargo_config import CargoConfigError, config_files, settings

WRAPPER = "build.rustc-wrapper"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_config_files_deepest_first_then_cargo_home(tmp_path: Path) -> None:
    home = tmp_path / "cargo-home"
    top = write(tmp_path / "a" / ".cargo" / "config.toml", "")
    deep = write(tmp_path / "a" / "b" / ".cargo" / "config.toml", "")
    user = write(home / "config.toml", "")
    cwd = tmp_path / "a" / "b" / "c"
    cwd.mkdir(parents=True)
    assert config_files(cwd=cwd, cargo_home_dir=home) == [deep, top, user]


def test_the_extensionless_config_wins_in_its_directory(tmp_path: Path) -> None:
    legacy = write(tmp_path / "config", "")
    write(tmp_path / "config.toml", "")
    assert config_files(cwd=tmp_path / "elsewhere", cargo_home_dir=tmp_path) == [legacy]


def test_environment_beats_files_and_deeper_files_beat_cargo_home(tmp_path: Path) -> None:
    home = tmp_path / "cargo-home"
    write(home / "config.toml", '[build]\nrustc-wrapper = "from-home"\n')
    write(tmp_path / "ws" / ".cargo" / "config.toml", 'build.rustc-wrapper = "from-ws"\n')
    environ = {"RUSTC_WRAPPER": "from-env", "CARGO_BUILD_RUSTC_WRAPPER": "from-cargo-env"}
    found = list(
        settings(
            WRAPPER,
            environ=environ,
            cwd=tmp_path / "ws",
            cargo_home_dir=home,
            env_overrides=("RUSTC_WRAPPER",),
        )
    )
    assert [s.value for s in found] == ["from-env", "from-cargo-env", "from-ws", "from-home"]
    assert found[0].from_environment and found[0].origin == "RUSTC_WRAPPER"
    assert found[3].base_dir == tmp_path  # relative paths: the dir holding CARGO_HOME


def test_invalid_toml_is_an_error_naming_the_file(tmp_path: Path) -> None:
    bad = write(tmp_path / "config.toml", "[build\n")
    with pytest.raises(CargoConfigError, match="not valid TOML") as error:
        list(settings(WRAPPER, environ={}, cwd=tmp_path / "x", cargo_home_dir=tmp_path))
    assert error.value.path == bad


def test_the_fallback_scan_reads_tables_and_dotted_keys() -> None:
    text = "# c\n[build]\nrustc-wrapper = \"buildcache\"\n[target.x]\nlinker = 'cc'\n"
    scanned = cargo_config._scan_simple_toml(text)
    assert scanned == {"build": {"rustc-wrapper": "buildcache"}, "target": {"x": {"linker": "cc"}}}
    assert cargo_config._scan_simple_toml('build.target-dir = "/t"') == {
        "build": {"target-dir": "/t"}
    }


def test_resolve_program(tmp_path: Path) -> None:
    program = write(tmp_path / "bin" / "tool", "#!/bin/sh\n")
    program.chmod(0o755)
    search = str(tmp_path / "bin")
    assert cargo_config.find_config_program("tool", tmp_path, search_path=search) == program
    assert cargo_config.find_config_program("bin/tool", tmp_path, search_path="") == program
    assert cargo_config.find_config_program("missing", tmp_path, search_path=search) is None
