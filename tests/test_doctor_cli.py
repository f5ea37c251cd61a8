"""The installed `buildcache doctor`, run as a user would, on temp setups."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from rust_workspace import make_workspace


def sound_env(tmp_path: Path) -> dict[str, str]:
    """A temp HOME whose cargo config wires buildcache and a shared target dir, with a cron job."""
    cargo_home = tmp_path / "cargo-home"
    cargo_home.mkdir()
    (cargo_home / "config.toml").write_text(
        f'[build]\nrustc-wrapper = "buildcache"\ntarget-dir = "{tmp_path}/target"\n'
    )
    cron_file = tmp_path / "cron"
    cron_file.write_text(f"17 4 * * * root {shutil.which('buildcache')} sweep {tmp_path}/target\n")
    return {
        "CARGO_HOME": str(cargo_home),  # only this child's view; the real one is untouched
        "BUILDCACHE_DIR": str(tmp_path / "cache"),
        "BUILDCACHE_CRON_FILE": str(cron_file),
    }


def doctor(tmp_path: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["buildcache", "doctor", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        cwd=tmp_path,
    )


def checks(result: subprocess.CompletedProcess[str]) -> dict[str, dict[str, str]]:
    data = json.loads(result.stdout)
    assert data["ok"] is (result.returncode == 0)
    return {check["name"]: check for check in data["checks"]}


def test_a_sound_setup_passes(tmp_path: Path) -> None:
    env = sound_env(tmp_path)
    result = doctor(tmp_path, env, "--json")
    assert result.returncode == 0, result.stdout
    assert {c["status"] for c in checks(result).values()} == {"ok"}, result.stdout
    text = doctor(tmp_path, env)
    assert text.returncode == 0 and "Everything looks good." in text.stdout


def test_an_unwritable_cache_dir_fails_naming_buildcache_dir(tmp_path: Path) -> None:
    env = sound_env(tmp_path)
    (tmp_path / "blocker").write_text("a regular file where a directory should be")
    env["BUILDCACHE_DIR"] = str(tmp_path / "blocker" / "cache")
    result = doctor(tmp_path, env)
    assert result.returncode == 1
    line = next(line for line in result.stdout.splitlines() if "cache-dir" in line)
    assert "BUILDCACHE_DIR" in line and "fix:" in result.stdout
    assert checks(doctor(tmp_path, env, "--json"))["cache-dir"]["status"] == "fail"


def test_buildcache_disable_fails(tmp_path: Path) -> None:
    result = doctor(tmp_path, {**sound_env(tmp_path), "BUILDCACHE_DISABLE": "1"}, "--json")
    assert result.returncode == 1
    assert checks(result)["disable"]["status"] == "fail"


def test_sccache_in_rustc_wrapper_fails(tmp_path: Path) -> None:
    result = doctor(tmp_path, {**sound_env(tmp_path), "RUSTC_WRAPPER": "sccache"}, "--json")
    assert result.returncode == 1
    wrapper = checks(result)["cargo-wrapper"]
    assert wrapper["status"] == "fail" and "RUSTC_WRAPPER" in wrapper["message"]


def test_a_bad_config_value_is_a_failed_check_not_a_traceback(tmp_path: Path) -> None:
    result = doctor(tmp_path, {**sound_env(tmp_path), "BUILDCACHE_MAX_SIZE": "10X"})
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "BUILDCACHE_MAX_SIZE" in result.stdout


def test_warnings_alone_exit_zero(tmp_path: Path) -> None:
    env = sound_env(tmp_path)
    env["BUILDCACHE_CRON_FILE"] = str(tmp_path / "no-cron")
    result = doctor(tmp_path, env, "--json")
    assert result.returncode == 0
    assert checks(result)["cleanup-job"]["status"] == "warn"


@pytest.mark.cargo
def test_doctor_passes_where_a_workspace_wires_the_wrapper_and_cargo_uses_it(
    tmp_path: Path,
) -> None:
    ws = make_workspace(tmp_path / "ws")
    config = ws.root / ".cargo" / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(f'[build]\nrustc-wrapper = "{shutil.which("buildcache")}"\n')
    env = {"BUILDCACHE_DIR": str(tmp_path / "cache")}
    result = doctor(ws.root, env, "--json")
    assert result.returncode == 0, result.stdout
    assert checks(result)["cargo-wrapper"]["status"] == "ok"
    ws.cargo("build", env=env)
    stats = subprocess.run(
        ["buildcache", "stats", "--json"],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **env},
    )
    assert json.loads(stats.stdout)["requests"] > 0
