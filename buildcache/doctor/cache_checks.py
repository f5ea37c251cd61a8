"""Doctor checks of buildcache's own configuration: valid, enabled, cache dir, size cap."""

from __future__ import annotations

from pathlib import Path

from buildcache.config import Config, load_config, user_config_file
from buildcache.doctor.model import CheckResult, Setup, fail, nearest_existing, ok, warn
from buildcache.errors import ConfigError
from buildcache.sizes import format_size

# Below this a cap holds less than one mid-sized workspace's dependencies, so each build
# evicts what the next one needs and the cache mostly misses.
SMALL_CAP_BYTES = 500 << 20
# Suggest a cap that leaves this share of the disk's room to target dirs, which share
# the disk and usually grow larger than the cache.
SUGGESTED_SHARE_OF_ROOM = 0.5
# The cache may exceed its cap a little between trims (the wrapper cleans one shard at
# a time); only more than this is worth a warning.
OVER_CAP_TOLERANCE = 1.1


def check_config(setup: Setup) -> tuple[CheckResult, Config | None]:
    """Every BUILDCACHE_* value parses; the wrapper would fall back to rustc otherwise."""
    try:
        config = load_config(dict(setup.environ))
    except ConfigError as error:
        name = error.variable
        if name.startswith("BUILDCACHE_"):
            fix = (
                f"Set {name} to a valid value or unset it. It is read from the environment, "
                f"then {user_config_file(dict(setup.environ))}, then the system file "
                "(`buildcache config` shows which one applies)."
            )
        else:
            fix = "Correct that line of the config file: `NAME = value` with a BUILDCACHE_ name."
        return fail("config", str(error), fix), None
    return ok("config", "BUILDCACHE_* settings are valid (see `buildcache config`)"), config


def check_disable(config: Config) -> CheckResult:
    if not config.disabled:
        return ok("disable", "BUILDCACHE_DISABLE is off")
    origin = config.origins["BUILDCACHE_DISABLE"]
    if origin == "environment":
        fix = "Unset BUILDCACHE_DISABLE (`unset BUILDCACHE_DISABLE`; check shell profiles and CI)."
    else:
        fix = f"Remove the BUILDCACHE_DISABLE line from {origin}."
    return fail(
        "disable",
        f"BUILDCACHE_DISABLE is on (from {_describe(origin)}): every rustc call bypasses the cache",
        fix,
    )


def _describe(origin: str) -> str:
    return "the environment" if origin == "environment" else origin


def check_cache_dir(config: Config) -> CheckResult:
    """The cache dir, and each shard dir already in it, accepts new files."""
    from buildcache.cache.counters import SHARDS
    from buildcache.doctor.model import writable_dir_problem

    cache_dir = Path(config.cache_dir)
    origin = config.origins["BUILDCACHE_DIR"]
    source = "default" if origin == "default" else f"BUILDCACHE_DIR from {_describe(origin)}"
    problems = [writable_dir_problem(cache_dir)]
    if problems[0] is None and cache_dir.is_dir():
        shards = (cache_dir / shard for shard in SHARDS)
        problems.extend(writable_dir_problem(shard) for shard in shards if shard.is_dir())
    problem = next((p for p in problems if p is not None), None)
    if problem is not None:
        return fail(
            "cache-dir",
            f"the cache dir is not writable ({source}): {problem}; every rustc call runs uncached",
            f"Make {cache_dir} writable by this user (files left by `sudo cargo build`? "
            "chown them back), or point BUILDCACHE_DIR at a writable directory: "
            "`export BUILDCACHE_DIR=$HOME/.cache/buildcache`.",
        )
    state = "is writable" if cache_dir.is_dir() else "does not exist yet and can be created"
    return ok("cache-dir", f"{cache_dir} ({source}) {state}")


def check_size_cap(config: Config) -> CheckResult:
    """BUILDCACHE_MAX_SIZE fits the disk the cache lives on."""
    import shutil

    from buildcache.cache.counters import read_totals

    cap = config.max_bytes
    try:
        usage = shutil.disk_usage(nearest_existing(Path(config.cache_dir)))
    except OSError as error:
        return warn(
            "size-cap",
            f"cannot measure free space for {config.cache_dir}: {error.strerror}",
            "Check that the cache dir's filesystem is mounted.",
        )
    try:
        cached = read_totals(config.cache_dir)["bytes"]
    except OSError:  # the cache-dir check reports why it cannot be read
        cached = 0
    room = usage.free + cached
    summary = (
        f"cap {format_size(cap)}, cache {format_size(cached)}, "
        f"{format_size(usage.free)} free on its filesystem"
    )
    if cap > room:
        suggested = max(int(room * SUGGESTED_SHARE_OF_ROOM) >> 30, 1)
        return warn(
            "size-cap",
            f"BUILDCACHE_MAX_SIZE is larger than the disk can hold ({summary}): "
            "the disk fills up before the cache is trimmed",
            f"Lower BUILDCACHE_MAX_SIZE (e.g. `export BUILDCACHE_MAX_SIZE={suggested}G`) "
            "or free disk space.",
        )
    if cached > cap * OVER_CAP_TOLERANCE:
        return warn(
            "size-cap",
            f"the cache is over its cap ({summary})",
            "Run `buildcache trim`; the cleanup job does this daily once it is installed.",
        )
    if cap < SMALL_CAP_BYTES:
        return warn(
            "size-cap",
            f"BUILDCACHE_MAX_SIZE is very small ({summary}): builds evict what the next needs",
            f"Raise BUILDCACHE_MAX_SIZE to {format_size(SMALL_CAP_BYTES)} or more, "
            "e.g. `export BUILDCACHE_MAX_SIZE=10G`.",
        )
    return ok("size-cap", summary)
