"""The three ways a benchmark build runs: no wrapper, buildcache, sccache.

Each tool owns one cache directory per configuration and repetition (a
`Cache`); the harness asks it for the environment cargo runs with, and for
hit counts after a build so the report can show that a warm build was really
served from the cache. A cache may also have a remote tier (bench/remotes.py):
buildcache gets its URL, sccache the variables that select its backend.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
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


def free_port() -> int:
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

    def before_build(self) -> str | None:
        """Just before a timed build: start what the tool would otherwise start inside
        it, and say what was done (None: nothing to do)."""
        return None

    def stop(self) -> None:
        """Release whatever start() acquired; safe to call twice."""

    def cargo_env(self, base: dict[str, str], log_path: Path) -> dict[str, str]:
        return dict(base)

    def drain(self) -> None:
        """Wait until what the last build stored has reached the remote tier, if any."""

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
    """With a remote, the cache's storage helper lives in a runtime dir of this cache's
    own: `buildcache helper stop` then drains and stops this cache's helper and nobody
    else's, and no helper of the caller's (or of another cache) serves a build it should
    not. `buildcache helper start` starts it before each timed build, as sccache's
    server is started before any: the build's compiles find it listening."""

    tool = "buildcache"

    def __init__(
        self,
        directory: Path,
        executable: str,
        remote_url: str | None = None,
        remote_env: dict[str, str] | None = None,
    ) -> None:
        super().__init__(directory)
        self.executable = executable
        self.remote_url = remote_url
        self.remote_env = remote_env or {}  # S3 credentials, for the helper
        self.runtime_dir: str | None = None

    def _variables(self) -> dict[str, str]:
        variables = {"BUILDCACHE_DIR": str(self.directory)}
        if self.remote_url:
            variables["BUILDCACHE_REMOTE"] = self.remote_url
            variables.update(self.remote_env)
            assert self.runtime_dir, "start() first"
            variables["XDG_RUNTIME_DIR"] = self.runtime_dir
        return variables

    def _env(self) -> dict[str, str]:
        env = clean_environment()
        env.update(self._variables())
        return env

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        if self.remote_url and not self.runtime_dir:
            # Short and in /tmp: the helper's socket path must fit in ~107 bytes.
            self.runtime_dir = tempfile.mkdtemp(prefix="bcbench-")

    def before_build(self) -> str | None:
        """`helper start` with the build's own settings: the helper its compiles use."""
        if not self.remote_url:
            return None
        result = _run_ok(
            [self.executable, "helper", "start", "--json"], self._env(), "buildcache helper start"
        )
        return str(json.loads(result.stdout)["state"])

    def drain(self) -> None:
        """`helper stop` returns once the helper has uploaded what it had queued."""
        if self.remote_url:
            _run_ok([self.executable, "helper", "stop"], self._env(), "buildcache helper stop")

    def stop(self) -> None:
        if self.runtime_dir:
            _run([self.executable, "helper", "stop"], self._env())
            shutil.rmtree(self.runtime_dir, ignore_errors=True)
            self.runtime_dir = None

    def cargo_env(self, base: dict[str, str], log_path: Path) -> dict[str, str]:
        env = dict(base)
        env["RUSTC_WRAPPER"] = self.executable
        env.update(self._variables())
        env["BUILDCACHE_LOG"] = str(log_path)
        return env

    def zero_stats(self) -> None:
        _run_ok([self.executable, "stats", "--zero"], self._env(), "buildcache stats --zero")

    def stats(self) -> dict[str, Any]:
        result = _run_ok(
            [self.executable, "stats", "--json"], self._env(), "buildcache stats --json"
        )
        raw = json.loads(result.stdout)
        stats = {
            "hits": int(raw["hits"]),
            "misses": int(raw["misses"]),
            "requests": int(raw["requests"]),
            "non_cacheable": int(raw.get("non_cacheable", 0)),
            "errors": int(raw.get("errors", 0)),
            "raw": raw,
        }
        if self.remote_url:
            remote = raw.get("remote") or {}
            stats["remote_hits"] = int(raw.get("remote_hits", 0))
            stats["local_hits"] = int(raw.get("local_hits", 0))
            stats["remote"] = {
                name: remote.get(name, 0) for name in REMOTE_COUNTERS + ("bytes_down", "wait_ms")
            }
        return stats

    def version(self) -> str:
        result = _run([self.executable, "--version"], self._env())
        return result.stdout.strip()

    def check_works(self) -> None:
        """Fail early, before minutes of builds, when the CLI cannot report stats."""
        self.start()
        self.stats()


class BuildcachePythonLauncher(BuildcacheCache):
    """buildcache with its launch server switched off: every call starts the Python
    launcher, as before the launch client existed. Only in the per-call rows, so one
    run shows what the resident server saves next to sccache's client."""

    tool = "buildcache-no-server"

    def cargo_env(self, base: dict[str, str], log_path: Path) -> dict[str, str]:
        env = super().cargo_env(base, log_path)
        env["BUILDCACHE_LAUNCH_SERVER"] = "0"
        return env


class SccacheCache(Cache):
    """sccache keeps its cache behind a server, so each cache gets its own
    server on a private port: the caller's own sccache server (if any) is
    never touched, and two caches never share one server's disk index.
    `remote_env` selects a remote backend instead of the disk."""

    tool = "sccache"

    def __init__(
        self, directory: Path, executable: str, remote_env: dict[str, str] | None = None
    ) -> None:
        super().__init__(directory)
        self.executable = executable
        self.remote_env = remote_env or {}
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
        env.update(self.remote_env)
        return env

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
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
        reply = json.loads(result.stdout)
        raw = reply["stats"]
        hit_read = raw.get("cache_read_hit_duration") or {}
        return {
            "hits": sum(raw["cache_hits"]["counts"].values()),
            "misses": sum(raw["cache_misses"]["counts"].values()),
            "requests": int(raw["compile_requests"]),
            "not_cacheable": int(raw.get("requests_not_cacheable", 0)),
            "read_hit_seconds": hit_read.get("secs", 0) + hit_read.get("nanos", 0) / 1e9,
            # Which backend served: "Local disk: ..." or "redis, name: redis://...".
            "cache_location": str(reply.get("cache_location", "")),
            # Lookups that failed, reads that timed out, stores that failed: on a remote
            # backend, what buildcache counts as remote errors, timeouts, upload errors.
            "cache_errors": sum(((raw.get("cache_errors") or {}).get("counts") or {}).values())
            + int(raw.get("cache_read_errors", 0))
            + int(raw.get("cache_timeouts", 0))
            + int(raw.get("cache_write_errors", 0)),
            "raw": raw,
        }

    def version(self) -> str:
        return _run([self.executable, "--version"], clean_environment()).stdout.strip()


# buildcache's remote counters that mean something went wrong on a tier.
REMOTE_COUNTERS = ("errors", "timeouts", "skipped", "corrupt", "rejected", "upload_errors")


# Rounds of per-call samples: enough for a stable median on a busy two-core machine,
# few enough to take a few seconds per tool (each round is four short processes).
PER_CALL_ROUNDS = 31
PER_CALL_ROUNDS_QUICK = 5

# Types in the probe crate. 16 gives an entry of ~0.4 MB (rlib, rmeta, dep-info): a
# middling crates.io dependency in a debug build, not a trivial one.
PROBE_TYPES = 16


def real_rustc() -> str:
    """The toolchain's rustc, past rustup's proxy, whose own start-up would blur the figure
    (cargo run through rustup hands the wrapper this path too)."""
    try:
        found = subprocess.run(
            ["rustup", "which", "rustc"], capture_output=True, text=True, timeout=30
        ).stdout.strip()
    except OSError:
        found = ""
    return found or shutil.which("rustc") or "rustc"


def write_probe_crate(directory: Path) -> list[str]:
    """A small library and the rustc arguments cargo would pass for it (the hit probe)."""
    directory.mkdir(parents=True, exist_ok=True)
    parts = ["//! buildcache bench probe: compiled outside cargo to time one cache hit.\n"]
    for index in range(PROBE_TYPES):
        parts.append(
            f"""
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Item{index} {{ pub id: u64, pub name: String, pub tags: Vec<String> }}

impl Item{index} {{
    pub fn new(id: u64) -> Self {{
        Self {{ id, name: format!("item-{index}-{{id}}"), tags: vec![] }}
    }}
    pub fn describe(&self) -> String {{ format!("{{:?}} {{}}", self, self.tags.join(",")) }}
}}
"""
        )
    source = directory / "lib.rs"
    source.write_text("".join(parts))
    (directory / "out").mkdir(exist_ok=True)  # cargo makes --out-dir before rustc runs
    # Older than any compile: a source changed during a compile is not stored.
    an_hour_ago = time.time() - 3600
    os.utime(source, (an_hour_ago, an_hour_ago))
    return [
        "--crate-name", "probe", "--edition=2021", "lib.rs",
        "--error-format=json", "--json=diagnostic-rendered-ansi,artifacts,future-incompat",
        "--crate-type", "lib", "--emit=dep-info,metadata,link", "-C", "embed-bitcode=no",
        "-C", "debuginfo=2", "-C", "metadata=0123456789abcdef",
        "-C", "extra-filename=-0123456789abcdef", "--out-dir", str(directory / "out"),
        "-L", f"dependency={directory / 'out'}",
    ]  # fmt: skip


def timed_ms(argv: list[str], env: dict[str, str], cwd: Path | None = None) -> float:
    started = time.perf_counter()
    completed = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, timeout=120)
    elapsed = (time.perf_counter() - started) * 1000
    if completed.returncode != 0:
        stderr = completed.stderr.decode(errors="replace").strip()[-500:]
        raise ToolError(f"`{' '.join(argv[:3])} ...` exited {completed.returncode}: {stderr}")
    return elapsed


def per_call_ms(
    caches: list[Cache], base_env: dict[str, str], log_dir: Path, probe_dir: Path, rounds: int
) -> dict[str, dict[str, Any]]:
    """Each wrapper's cost per rustc call, outside any build, sampled round-robin so a
    noisy neighbour slows every tool alike. Per tool:

    - `fixed_ms`: median of `WRAPPER rustc -vV` minus the `rustc -vV` run just before
      it. `-vV` compiles nothing, so the wrapper only starts, decides and hands over:
      the fixed cost every rustc call pays, which a wrapper's own timer cannot see;
    - `hit_ms`: median wall time of `WRAPPER rustc ARGS` for the probe crate, each call
      a cache hit (checked against the tool's stats): a hit end to end, start-up included.
    """
    rustc = real_rustc()
    jobs = []
    for cache in caches:
        env = cache.cargo_env(base_env, log_dir / f"per-call-{cache.tool}.log")
        crate = probe_dir / cache.tool
        args = write_probe_crate(crate)
        wrapper = env["RUSTC_WRAPPER"]
        timed_ms([wrapper, rustc, *args], env, crate)  # the miss that fills the cache
        cache.zero_stats()
        jobs.append((cache, env, wrapper, crate, args))
    samples: dict[str, dict[str, list[float]]] = {
        cache.tool: {"rustc": [], "fixed": [], "hit": []} for cache in caches
    }
    for _ in range(rounds):
        for cache, env, wrapper, crate, args in jobs:
            mine = samples[cache.tool]
            bare = timed_ms([rustc, "-vV"], env)
            mine["rustc"].append(bare)
            mine["fixed"].append(timed_ms([wrapper, rustc, "-vV"], env) - bare)
            mine["hit"].append(timed_ms([wrapper, rustc, *args], env, crate))
    figures: dict[str, dict[str, Any]] = {}
    for cache, _env, _wrapper, crate, _args in jobs:
        stats = cache.stats()
        mine = samples[cache.tool]
        all_hits = stats is not None and stats["hits"] == rounds and stats["misses"] == 0
        figures[cache.tool] = {
            "rounds": rounds,
            "rustc_vv_ms": round(statistics.median(mine["rustc"]), 2),
            "fixed_ms": round(statistics.median(mine["fixed"]), 2),
            # Not a hit figure unless every timed call was one.
            "hit_ms": round(statistics.median(mine["hit"]), 2) if all_hits else None,
            "probe_entry_bytes": sum(f.stat().st_size for f in (crate / "out").iterdir()),
        }
    return figures


def directory_size(path: Path) -> tuple[int, int, int]:
    """(bytes in files, bytes allocated on disk, files) under path."""
    size = disk = files = 0
    for root, _dirs, names in os.walk(path):
        for name in names:
            try:
                info = os.lstat(os.path.join(root, name))
            except OSError:
                continue  # removed while we walked: a temp file, an evicted entry
            size += info.st_size
            disk += info.st_blocks * 512
            files += 1
    return size, disk, files


# A cache may still be writing when cargo returns (sccache's server stores in the
# background): its size counts once it has stopped changing for this long.
SETTLE_S = 0.5
SETTLE_TIMEOUT_S = 60


def settled_size(path: Path) -> tuple[int, int, int]:
    """directory_size once it holds still: what the cold build left in the cache."""
    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    previous = directory_size(path)
    while time.monotonic() < deadline:
        time.sleep(SETTLE_S)
        current = directory_size(path)
        if current == previous:
            return current
        previous = current
    return previous
