"""Class 6: whatever the configuration holds, the cache must never fail a build, and the
command line must not mistake a mistyped subcommand for a compiler.

A bad config value is the user's to fix, but cargo must still build and the program
must print what an uncached build prints: the wrapper warns and runs rustc as if there
were no cache. Each variant is one broken config file (the user file that
BUILDCACHE_CONFIG names, or the system file), or one broken value in the environment.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from correctness_helpers import (
    WORKSPACE_TOML,
    buildcache,
    cargo,
    clean_env,
    package_toml,
    program_result,
    write_files,
)

pytestmark = pytest.mark.cargo


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A one-crate workspace and what it prints when built without any wrapper."""
    base = tmp_path_factory.mktemp("never-fail")
    root = base / "ws"
    write_files(
        root,
        {
            "Cargo.toml": WORKSPACE_TOML,
            "crates/app/Cargo.toml": package_toml("app"),
            "crates/app/src/main.rs": 'fn main() { println!("answer {}", 6 * 7); }\n',
        },
    )
    env = clean_env(base / "home")
    cargo(root, "build", "--target-dir", "target-uncached", env=env, cached=False)
    return root, program_result(root / "target-uncached" / "debug" / "app")


# variant -> bytes of the config file (CACHE is replaced by a cache dir under tmp_path).
CONFIG_FILES: dict[str, bytes] = {
    "non_utf8_comment": b"# caf\xe9 au lait\nBUILDCACHE_MAX_SIZE = 10G\n",
    "non_utf8_value": b"BUILDCACHE_DIR = CACHE/caf\xe9\n",
    "latin1_file": "# réglages\nBUILDCACHE_DIR = CACHE\n".encode("latin-1"),
    "utf16_file": "BUILDCACHE_DIR = CACHE\n".encode("utf-16"),
    "nul_byte_in_dir": b"BUILDCACHE_DIR = CACHE/a\x00b\n",
    "nul_byte_in_log": b"BUILDCACHE_DIR = CACHE\nBUILDCACHE_LOG = CACHE/l\x00g\n",
    "size_nan": b"BUILDCACHE_MAX_SIZE = nan\n",
    "size_huge_exponent": b"BUILDCACHE_MAX_SIZE = 1e999G\n",
    "dir_relative": b"BUILDCACHE_DIR = relative/cache\n",
    "dir_dev_null": b"BUILDCACHE_DIR = /dev/null\n",
    "dir_is_a_file": b"BUILDCACHE_DIR = CACHE/a-file\n",
    "log_is_a_directory": b"BUILDCACHE_DIR = CACHE\nBUILDCACHE_LOG = /\n",
    "unknown_name": b"BUILDCACHE_SIZE = 10G\n",
    "compression_level_too_high": b"BUILDCACHE_COMPRESSION_LEVEL = 99\n",
    "binary_garbage": bytes(range(256)),
}


def _run_build(root: Path, env: dict[str, str], tmp_path: Path, timeout: float = 120) -> str:
    target = tmp_path / "target"
    result = cargo(
        root, "build", "--target-dir", str(target), env=env, check=False, timeout=timeout
    )
    assert result.returncode == 0, f"cargo build failed:\n{result.stderr[-3000:]}"
    return program_result(target / "debug" / "app")


CONFIG_CASES = [(variant, "user") for variant in CONFIG_FILES] + [
    ("non_utf8_comment", "system"),
    ("binary_garbage", "system"),
    ("size_nan", "system"),
]


@pytest.mark.parametrize(
    ("variant", "where"), CONFIG_CASES, ids=[f"{v}-{w}" for v, w in CONFIG_CASES]
)
def test_a_broken_config_file_never_fails_the_build(
    workspace: tuple[Path, str], tmp_path: Path, variant: str, where: str
) -> None:
    root, uncached = workspace
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "a-file").write_text("not a directory\n")
    env = clean_env(tmp_path / "home")
    config = Path(env["BUILDCACHE_CONFIG" if where == "user" else "BUILDCACHE_SYSTEM_CONFIG"])
    config.write_bytes(CONFIG_FILES[variant].replace(b"CACHE", str(cache).encode()))
    if "BUILDCACHE_DIR" not in CONFIG_FILES[variant].decode("latin-1"):
        env["BUILDCACHE_DIR"] = str(cache)
    assert _run_build(root, env, tmp_path) == uncached


ENV_VALUES: dict[str, dict[str, bytes]] = {
    "dir_non_utf8": {"BUILDCACHE_DIR": b"CACHE/caf\xe9"},
    "size_non_utf8": {"BUILDCACHE_MAX_SIZE": b"10\xe9G"},
    "disable_non_utf8": {"BUILDCACHE_DISABLE": b"\xff"},
    "log_non_utf8": {"BUILDCACHE_LOG": b"CACHE/l\xf6g"},
    "config_path_non_utf8": {"BUILDCACHE_CONFIG": b"CACHE/\xff.conf"},
    "dir_tilde_user": {"BUILDCACHE_DIR": b"~nosuchuser/cache"},
    "size_empty": {"BUILDCACHE_MAX_SIZE": b""},
    "size_spaces": {"BUILDCACHE_MAX_SIZE": b"   "},
    "compression_level_non_utf8": {"BUILDCACHE_COMPRESSION_LEVEL": b"\xb3"},
    "compression_level_negative": {"BUILDCACHE_COMPRESSION_LEVEL": b"-5"},
}


@pytest.mark.parametrize("variant", list(ENV_VALUES))
def test_a_broken_environment_value_never_fails_the_build(
    workspace: tuple[Path, str], tmp_path: Path, variant: str
) -> None:
    root, uncached = workspace
    cache = tmp_path / "cache"
    cache.mkdir()
    env: dict[bytes, bytes] = {
        name.encode(): value.encode() for name, value in clean_env(tmp_path / "home").items()
    }
    env[b"BUILDCACHE_DIR"] = str(cache).encode()
    env[b"RUSTC_WRAPPER"] = b"buildcache"
    for name, value in ENV_VALUES[variant].items():
        env[name.encode()] = value.replace(b"CACHE", str(cache).encode())
    target = tmp_path / "target"
    result = subprocess.run(
        ["cargo", "build", "--target-dir", str(target)],
        cwd=root,
        env=env,
        capture_output=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr.decode(errors="replace")[-3000:]
    assert program_result(target / "debug" / "app") == uncached


def test_a_config_file_that_is_a_directory_never_fails_the_build(
    workspace: tuple[Path, str], tmp_path: Path
) -> None:
    root, uncached = workspace
    env = clean_env(tmp_path / "home", tmp_path / "cache")
    Path(env["BUILDCACHE_CONFIG"]).mkdir()
    assert _run_build(root, env, tmp_path) == uncached


def test_a_config_file_that_is_a_fifo_never_hangs_the_build(
    workspace: tuple[Path, str], tmp_path: Path
) -> None:
    """A named pipe nobody writes to: reading it as a config file blocks forever."""
    root, uncached = workspace
    env = clean_env(tmp_path / "home", tmp_path / "cache")
    fifo = Path(env["BUILDCACHE_CONFIG"])
    os.mkfifo(fifo)
    try:
        assert _run_build(root, env, tmp_path, timeout=20) == uncached
    except subprocess.TimeoutExpired:
        raise AssertionError("cargo build hung for 20 s reading a FIFO config file") from None
    finally:
        _release_fifo_readers(fifo)


def _release_fifo_readers(fifo: Path) -> None:
    """Let wrappers left blocked on open(fifo) go on (they then read an empty file)."""
    for _ in range(20):
        try:
            fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        except OSError:
            return  # no reader left
        os.close(fd)


TYPOS = [
    ["stat"],
    ["stat", "--json"],
    ["stast"],
    ["status"],
    ["trimm", "--max-size", "1G"],
    ["sweeep", "--time", "7"],
    ["clean"],
]


@pytest.mark.parametrize("argv", TYPOS, ids=[" ".join(a) for a in TYPOS])
def test_a_mistyped_subcommand_is_an_error_not_a_program_run(
    tmp_path: Path, argv: list[str]
) -> None:
    """`buildcache stat` must not run /usr/bin/stat (or anything else named like the typo)."""
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    marker = tmp_path / "ran"
    program = fake_bin / argv[0]
    program.write_text(f'#!/bin/sh\necho "$0 $*" >> {marker}\nexit 0\n')
    program.chmod(0o755)
    env = clean_env(tmp_path / "home", tmp_path / "cache")
    env["PATH"] = f"{fake_bin}{os.pathsep}{env['PATH']}"
    result = buildcache(*argv, env=env)
    assert not marker.exists(), f"`buildcache {' '.join(argv)}` ran {marker.read_text()!r}"
    assert result.returncode != 0, "a mistyped subcommand must exit non-zero"
    assert argv[0] in result.stderr, f"the error must name {argv[0]!r}: {result.stderr!r}"


def test_help_prints_usage(tmp_path: Path) -> None:
    env = clean_env(tmp_path / "home", tmp_path / "cache")
    result = buildcache("help", env=env)
    assert result.returncode == 0, f"`buildcache help` exited {result.returncode}: {result.stderr}"
    assert "usage" in result.stdout.lower(), result.stdout
