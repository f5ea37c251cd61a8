"""The three ways a benchmark build runs: no wrapper, buildcache, sccache.

Each tool owns one cache directory per configuration and repetition (a
`Cache`); the harness asks it for the environment cargo runs with, and for
hit counts after a build so the report can show that a warm build was really
served from the cache.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

# Variables that would let the caller's shell or cargo config change what a
# build measures: another wrapper, a shared target dir, a forced profile
# setting, a cache dir of the caller's own.
SCRUBBED_PREFIXES = ("BUILDCACHE_", "SCCACHE_")
SCRUBBED_NAMES = (
    "RUSTC_WRAPPER",
    "RUSTC_WORKSPACE_WRAPPER",
    "CARGO_BUILD_RUSTC_WRAPPER",
    "CARGO_BUILD_RUSTC_WORKSPACE_WRAPPER",
    "CARGO_TARGET_DIR",
    "CARGO_BUILD_TARGET_DIR",
    "CARGO_INCREMENTAL",
    "CARGO_BUILD_INCREMENTAL",
)

# How long a stats or server command may take before the bench gives up.
TOOL_COMMAND_TIMEOUT_S = 120


class ToolError(Exception):
    """A tool is missing or misbehaves; the message says which and why."""


def clean_environment() -> dict[str, str]:
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in SCRUBBED_NAMES and not name.startswith(SCRUBBED_PREFIXES)
    }
    # An empty RUSTC_WRAPPER overrides a `rustc-wrapper` in the caller's cargo
    # config (a provisioned machine has one), so "no wrapper" really is none.
    env["RUSTC_WRAPPER"] = ""
    env["RUSTC_WORKSPACE_WRAPPER"] = ""
    return env


def find_executable(name: str, explicit: str | None) -> str | None:
    """An explicit path, else the one next to this Python (the dev venv), else PATH."""
    if explicit:
        return str(Path(explicit).resolve()) if Path(explicit).exists() else None
    beside_python = Path(sys.executable).parent / name
    if beside_python.exists():
        return str(beside_python)
    return shutil.which(name)


def _run(argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            argv, env=env, capture_output=True, text=True, timeout=TOOL_COMMAND_TIMEOUT_S
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise ToolError(f"`{' '.join(argv)}` failed: {error}") from error


def _run_ok(argv: list[str], env: dict[str, str], what: str) -> subprocess.CompletedProcess[str]:
    """_run, and a ToolError naming `what` when the command exits non-zero."""
    result = _run(argv, env)
    if result.returncode != 0:
        raise ToolError(f"`{what}` failed: {result.stderr.strip()}")
    return result


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Cache:
    """One tool's cache directory for one configuration in one repetition."""

    tool = "none"

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def start(self) -> None:
        """Prepare the cache before any timed build uses it."""

    def stop(self) -> None:
        """Release whatever start() acquired; safe to call twice."""

    def cargo_env(self, base: dict[str, str], log_path: Path) -> dict[str, str]:
        return dict(base)

    def zero_stats(self) -> None:
        """Reset hit counters so the next build's counts stand alone."""

    def stats(self) -> dict[str, Any] | None:
        """{'hits', 'misses', 'requests', 'raw'} for the builds since the last zero."""
        return None

    def version(self) -> str:
        return ""


class NoCache(Cache):
    tool = "none"


class BuildcacheCache(Cache):
    tool = "buildcache"

    def __init__(self, directory: Path, executable: str) -> None:
        super().__init__(directory)
        self.executable = executable

    def _env(self) -> dict[str, str]:
        env = clean_environment()
        env["BUILDCACHE_DIR"] = str(self.directory)
        return env

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)

    def cargo_env(self, base: dict[str, str], log_path: Path) -> dict[str, str]:
        env = dict(base)
        env["RUSTC_WRAPPER"] = self.executable
        env["BUILDCACHE_DIR"] = str(self.directory)
        env["BUILDCACHE_LOG"] = str(log_path)
        return env

    def zero_stats(self) -> None:
        _run_ok([self.executable, "stats", "--zero"], self._env(), "buildcache stats --zero")

    def stats(self) -> dict[str, Any]:
        result = _run_ok(
            [self.executable, "stats", "--json"], self._env(), "buildcache stats --json"
        )
        raw = json.loads(result.stdout)
        return {
            "hits": int(raw["hits"]),
            "misses": int(raw["misses"]),
            "requests": int(raw["requests"]),
            "non_cacheable": int(raw.get("non_cacheable", 0)),
            "errors": int(raw.get("errors", 0)),
            "raw": raw,
        }

    def version(self) -> str:
        result = _run([self.executable, "--version"], self._env())
        return result.stdout.strip()

    def check_works(self) -> None:
        """Fail early, before minutes of builds, when the CLI cannot report stats."""
        self.start()
        self.stats()


class SccacheCache(Cache):
    """sccache keeps its cache behind a server, so each cache gets its own
    server on a private port: the caller's own sccache server (if any) is
    never touched, and two caches never share one server's disk index."""

    tool = "sccache"

    def __init__(self, directory: Path, executable: str) -> None:
        super().__init__(directory)
        self.executable = executable
        self.port = 0
        self.running = False

    def _env(self) -> dict[str, str]:
        env = clean_environment()
        env["SCCACHE_DIR"] = str(self.directory)
        env["SCCACHE_SERVER_PORT"] = str(self.port)
        # The server must outlive the gaps between builds; stop() ends it.
        env["SCCACHE_IDLE_TIMEOUT"] = "0"
        # Ignore the caller's sccache config file (a remote backend, a size cap).
        env["SCCACHE_CONF"] = str(self.directory / "no-config.toml")
        return env

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.port = _free_port()
        _run_ok([self.executable, "--start-server"], self._env(), "sccache --start-server")
        self.running = True

    def stop(self) -> None:
        if self.running:
            _run([self.executable, "--stop-server"], self._env())
            self.running = False

    def cargo_env(self, base: dict[str, str], log_path: Path) -> dict[str, str]:
        env = dict(base)
        env.update({k: v for k, v in self._env().items() if k.startswith("SCCACHE_")})
        env["RUSTC_WRAPPER"] = self.executable
        return env

    def zero_stats(self) -> None:
        _run_ok([self.executable, "--zero-stats"], self._env(), "sccache --zero-stats")

    def stats(self) -> dict[str, Any]:
        result = _run_ok(
            [self.executable, "--show-stats", "--stats-format=json"],
            self._env(),
            "sccache --show-stats",
        )
        raw = json.loads(result.stdout)["stats"]
        hit_read = raw.get("cache_read_hit_duration") or {}
        return {
            "hits": sum(raw["cache_hits"]["counts"].values()),
            "misses": sum(raw["cache_misses"]["counts"].values()),
            "requests": int(raw["compile_requests"]),
            "not_cacheable": int(raw.get("requests_not_cacheable", 0)),
            "read_hit_seconds": hit_read.get("secs", 0) + hit_read.get("nanos", 0) / 1e9,
            "raw": raw,
        }

    def version(self) -> str:
        return _run([self.executable, "--version"], clean_environment()).stdout.strip()


# Calls per tool for the per-call overhead figure: enough for a stable
# median, few enough to take a couple of seconds.
OVERHEAD_SAMPLES = 15


def real_rustc() -> str:
    """The toolchain's rustc, past rustup's proxy, whose own start-up would blur the figure."""
    try:
        found = subprocess.run(
            ["rustup", "which", "rustc"], capture_output=True, text=True, timeout=30
        ).stdout.strip()
    except OSError:
        found = ""
    return found or shutil.which("rustc") or "rustc"


def call_overhead_ms(cache: Cache, base_env: dict[str, str], log_path: Path) -> float:
    """Median extra wall time of `WRAPPER rustc -vV` over plain `rustc -vV`.

    `-vV` compiles nothing, so the wrapper only starts, decides and hands
    over: this is the fixed cost every rustc call pays, which the
    wrapper's own wall_ms (timed from inside the process) cannot see.
    """
    rustc = real_rustc()
    env = cache.cargo_env(base_env, log_path)
    wrapper = env["RUSTC_WRAPPER"]
    differences = []
    for _ in range(OVERHEAD_SAMPLES):
        timings = []
        for argv in ([rustc, "-vV"], [wrapper, rustc, "-vV"]):
            started = time.perf_counter()
            subprocess.run(argv, env=env, capture_output=True, check=True, timeout=60)
            timings.append(time.perf_counter() - started)
        differences.append((timings[1] - timings[0]) * 1000)
    differences.sort()
    return differences[len(differences) // 2]
