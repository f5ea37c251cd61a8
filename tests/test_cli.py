"""The installed `buildcache` command, run as a user would."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from buildcache.reports.cache_summary import CONTRACT_KEYS


def buildcache(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["buildcache", *args], capture_output=True, text=True, env={**os.environ, **(env or {})}
    )


def test_the_console_script_is_the_launch_client_of_a_real_interpreter() -> None:
    """`make dev`, like the provisioning role, writes the launch client over pip's
    script (a C compiler is on every machine that builds Rust)."""
    from buildcache.launch.build import client_interpreter

    script = shutil.which("buildcache")
    assert script is not None
    interpreter = client_interpreter(Path(script).read_bytes())
    assert interpreter and "python" in os.path.basename(interpreter), script
    assert os.access(interpreter, os.X_OK)


def test_version() -> None:
    result = buildcache("--version")
    assert result.returncode == 0 and result.stdout.startswith("buildcache ")


def test_stats_json_has_the_contract_keys(cache_dir: Path) -> None:
    result = buildcache("stats", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert set(CONTRACT_KEYS) <= set(data)
    assert data["requests"] == 0 and data["max_bytes"] == 10 << 30


@pytest.mark.parametrize("spelling", [["--show-stats"], ["-s"], ["stats"]])
def test_stats_answers_to_sccache_spellings(cache_dir: Path, spelling: list[str]) -> None:
    result = buildcache(*spelling)
    assert result.returncode == 0 and "Hit rate" in result.stdout


def test_zero_stats(cache_dir: Path) -> None:
    assert buildcache("--zero-stats").returncode == 0
    assert "zeroed" in buildcache("stats", "--zero").stdout


def test_a_bad_config_value_fails_naming_the_variable(cache_dir: Path) -> None:
    result = buildcache("stats", env={"BUILDCACHE_MAX_SIZE": "10X"})
    assert result.returncode == 1
    assert "BUILDCACHE_MAX_SIZE" in result.stderr and "Traceback" not in result.stderr


def test_config_shows_values_and_origins(cache_dir: Path) -> None:
    result = buildcache("config", "--json", env={"BUILDCACHE_MAX_SIZE": "2G"})
    settings = json.loads(result.stdout)["settings"]
    assert settings["BUILDCACHE_MAX_SIZE"] == {"value": str(2 << 30), "origin": "environment"}
    assert settings["BUILDCACHE_DIR"] == {"value": str(cache_dir), "origin": "environment"}
    assert "from default" in buildcache("config").stdout


def test_config_shows_the_tiers_with_their_attributes_and_no_secret(cache_dir: Path) -> None:
    tiers = (
        "redis://:hunter2@cache:6379/0 s3://team-cache/rust|endpoint=http://s3.lan:9000|read-only"
    )
    env = {"BUILDCACHE_REMOTE": tiers, "AWS_SECRET_ACCESS_KEY": "aws-secret-never-shown"}
    result = buildcache("config", "--json", env=env)
    assert json.loads(result.stdout)["settings"]["BUILDCACHE_REMOTE"]["value"] == (
        "redis://***@cache:6379/0 s3://team-cache/rust|endpoint=http://s3.lan:9000|read-only"
    )
    for output in (result.stdout, buildcache("config", env=env).stdout):
        assert "hunter2" not in output and "aws-secret" not in output


def test_helper_start_without_a_remote_fails_saying_what_to_set(cache_dir: Path) -> None:
    result = buildcache("helper", "start")
    assert result.returncode == 1
    assert "no remote tier is configured" in result.stderr and "BUILDCACHE_REMOTE" in result.stderr
    assert "Traceback" not in result.stderr


def test_helper_start_shows_the_tiers_without_their_secrets(cache_dir: Path) -> None:
    """Nothing listens on the port: the helper starts all the same (its clients connect
    on first use), and says what it serves with the password redacted."""
    runtime_dir = tempfile.mkdtemp(prefix="bc-rt-")  # short: socket paths are limited
    env = {
        "BUILDCACHE_REMOTE": "redis://:hunter2@127.0.0.1:9/0",
        "XDG_RUNTIME_DIR": runtime_dir,
    }
    try:
        text = buildcache("helper", "start", env=env)
        assert text.returncode == 0, text.stderr
        assert text.stdout.startswith("Started the storage helper")
        assert "redis://***@127.0.0.1:9/0" in text.stdout
        again = buildcache("helper", "start", "--json", env=env)
        started = json.loads(again.stdout)
        assert started["state"] == "already running"
        assert started["tiers"] == ["redis://***@127.0.0.1:9/0"]
        assert started["cache_dir"] == str(cache_dir)
        for output in (text.stdout, again.stdout, Path(started["log"]).read_text()):
            assert "hunter2" not in output
    finally:
        buildcache("helper", "stop", env=env)
        shutil.rmtree(runtime_dir, ignore_errors=True)


def test_trim_reports_what_it_did(cache_dir: Path) -> None:
    result = buildcache("trim", "--max-size", "100M", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["max_bytes"] == 100 << 20
    bad = buildcache("trim", "--max-size", "huge")
    assert bad.returncode == 1 and "--max-size" in bad.stderr


def test_the_wrapper_path_imports_nothing_the_cli_needs() -> None:
    """A rustc call pays for every import: keep argparse, json and friends out of it."""
    import buildcache.wrapper

    hot_path = sorted(
        f"buildcache.wrapper.{path.stem}"
        for path in Path(buildcache.wrapper.__file__).parent.glob("*.py")
        if path.stem != "__init__"
    )
    assert "buildcache.wrapper.keys" in hot_path
    code = (
        f"import sys, buildcache.main, {', '.join(hot_path)}; print(' '.join(sorted(sys.modules)))"
    )
    python = str(Path(shutil.which("buildcache") or "").parent / "python")
    imported = subprocess.run([python, "-c", code], capture_output=True, text=True, check=True)
    modules = set(imported.stdout.split())
    heavy = {
        "argparse",
        "json",
        "subprocess",
        "threading",
        "re",
        "buildcache.cli",
        "importlib.metadata",
    }
    assert not heavy & modules, heavy & modules


def test_buildcache_without_arguments_prints_help() -> None:
    result = buildcache()
    assert result.returncode == 0 and "rustc-wrapper" in result.stdout


def test_a_cache_dir_that_is_a_file_is_named_not_a_crash(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    for command in (["stats"], ["trim"]):
        result = buildcache(*command, env={"BUILDCACHE_DIR": str(blocker)})
        assert result.returncode == 1, result.stderr
        assert "BUILDCACHE_DIR" in result.stderr and "Traceback" not in result.stderr


def test_an_unexpected_error_exits_3_and_says_it_is_a_bug(tmp_path: Path) -> None:
    """A journal dir where explain expects a directory of files trips an internal error."""
    cache = tmp_path / "cache"
    (cache / "crates" / "x.journal").mkdir(parents=True)
    result = buildcache("explain", "--json", env={"BUILDCACHE_DIR": str(cache)})
    assert result.returncode == 3, result.stderr
    assert "internal error (a bug)" in result.stderr and "BUILDCACHE_LOG" in result.stderr


def test_a_typo_of_a_command_is_an_error_not_a_program_run(tmp_path: Path) -> None:
    """`buildcache stat` must not run /usr/bin/stat on the user's behalf."""
    target = tmp_path / "file"
    target.write_text("x")
    result = buildcache("stat", str(target))
    assert result.returncode != 0
    assert "invalid choice: 'stat'" in result.stderr and "Size:" not in result.stdout


def test_help_prints_usage() -> None:
    for args in (["help"], ["help", "trim"]):
        result = buildcache(*args)
        assert result.returncode == 0 and "usage: buildcache" in result.stdout, result.stderr
    assert "--max-size" in buildcache("help", "trim").stdout


def test_every_command_name_has_its_module() -> None:
    from buildcache.cli import COMMANDS
    from buildcache.commands import COMMAND_NAMES

    assert tuple(COMMANDS) == COMMAND_NAMES


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["buildcache", "/usr/bin/rustc", "-vV"], True),
        (["buildcache", "rustc", "-"], True),  # Debian's cargo passes a bare name
        (["buildcache", "my-compiler", "--crate-name", "x"], True),
        (["buildcache", "cc", "-O0", "-c", "src/x.c", "-o", "x.o"], True),  # cc-rs
        (["buildcache", "x86_64-linux-gnu-gcc-12", "-E", "x.c"], True),
        (["buildcache", "clang++-16", "-std=c++17"], True),
        (["buildcache", "c++", "--version"], True),
        (["buildcache", "my-cc", "-O2", "-c", "x.c"], True),  # unknown name, compile args
        (["buildcache", "stat", "file"], False),
        (["buildcache", "stats"], False),
        (["buildcache", "--show-stats"], False),
    ],
)
def test_what_counts_as_a_compiler_call(argv: list[str], expected: bool) -> None:
    from buildcache.main import is_wrapper_call

    assert is_wrapper_call(argv) is expected


def test_a_compiler_named_by_cc_counts_as_a_compiler(monkeypatch: pytest.MonkeyPatch) -> None:
    from buildcache.main import is_wrapper_call

    argv = ["buildcache", "weird-compiler", "-O2"]
    assert not is_wrapper_call(argv)
    monkeypatch.setenv("CC_x86_64_unknown_linux_gnu", "ccache /opt/bin/weird-compiler -m64")
    assert is_wrapper_call(argv)
