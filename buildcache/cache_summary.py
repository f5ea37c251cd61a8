"""What `stats` and `doctor` report about a cache: counters plus size against the cap."""

from __future__ import annotations

from buildcache import stats
from buildcache.config import Config

# The contract's JSON keys (DESIGN.md) come first; the rest are extra detail.
CONTRACT_KEYS = (
    "requests", "hits", "misses", "non_cacheable", "errors", "hit_rate",
    "cache_bytes", "max_bytes", "entries",
)  # fmt: skip


def require_cache_dir(config: Config) -> None:
    """A cache dir that exists but is no directory is the user's to fix: say which variable."""
    import os

    from buildcache.errors import FatalError

    if os.path.exists(config.cache_dir) and not os.path.isdir(config.cache_dir):
        origin = config.origins.get("BUILDCACHE_DIR", "default")
        raise FatalError(
            f"the cache dir {config.cache_dir} (BUILDCACHE_DIR, from {origin}) is not a "
            "directory; point BUILDCACHE_DIR at a directory"
        )


def summarize(config: Config) -> dict[str, object]:
    """The counters and sizes; call require_cache_dir first for a clear error."""
    totals = stats.read_totals(config.cache_dir)
    lookups = totals["hits"] + totals["misses"]
    summary: dict[str, object] = {
        "requests": totals["requests"],
        "hits": totals["hits"],
        "misses": totals["misses"],
        "non_cacheable": totals["non_cacheable"],
        "errors": totals["errors"],
        "hit_rate": round(totals["hits"] / lookups, 4) if lookups else 0.0,
        "cache_bytes": totals["bytes"],
        "max_bytes": config.max_bytes,
        "entries": totals["files"],
        "compile_failed": totals["compile_failed"],
        "not_stored": totals["not_stored"],
        "corrupt": totals["corrupt"],
        "disabled": totals["disabled"],
        "evictions": totals["evictions"],
        "cache_dir": config.cache_dir,
    }
    return summary
