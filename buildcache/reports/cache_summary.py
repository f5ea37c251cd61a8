"""What `stats` and `doctor` report about a cache: counters plus size against the cap."""

from __future__ import annotations

from buildcache.cache import counters
from buildcache.config import Config

# The contract's JSON keys (DESIGN.md) come first; the rest are extra detail.
CONTRACT_KEYS = (
    "requests", "hits", "misses", "non_cacheable", "errors", "hit_rate",
    "cache_bytes", "max_bytes", "entries",
)  # fmt: skip


def require_cache_dir(config: Config) -> None:
    """Refuse (FatalError) a cache dir that is not a directory or not buildcache's: the
    commands that read or change it must not touch a user's files."""
    from buildcache.cache.ownership import refusal
    from buildcache.errors import FatalError

    problem = refusal(config.cache_dir)
    if problem is not None:
        origin = config.origins.get("BUILDCACHE_DIR", "default")
        raise FatalError(
            f"{problem} (BUILDCACHE_DIR, from {origin}); point BUILDCACHE_DIR at "
            "a buildcache cache, or a new or empty directory"
        )


def summarize_cache(config: Config) -> dict[str, object]:
    """The counters and sizes; call require_cache_dir first for a clear error."""
    totals = counters.read_totals(config.cache_dir)
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
        "time_saved_ms": totals["time_saved_ms"],
        **compression_summary(totals),
        "cache_dir": config.cache_dir,
        "c_cxx": c_family_summary(totals),
        "local_hits": totals["hits"] - totals["remote_hits"],
        "remote_hits": totals["remote_hits"],
        "remote": remote_summary(totals, config.remotes),
    }
    return summary


def remote_summary(totals: dict[str, int], remotes: tuple[str, ...] = ()) -> dict[str, object]:
    """`remote` in `stats --json`: the remote tiers' counters without their prefix, and
    `tiers`: hits per tier, keyed by the tier's redacted URL."""
    summary: dict[str, object] = {
        name[len("remote_") :]: totals[name]
        for name in counters.EVENT_COUNTERS
        if name.startswith("remote_") and not name.startswith("remote_tier")
    }
    summary["tiers"] = tier_hits(totals, remotes)
    return summary


def tier_hits(totals: dict[str, int], remotes: tuple[str, ...]) -> dict[str, dict[str, int]]:
    """{redacted URL: {"hits": n}} in BUILDCACHE_REMOTE's order. Hits are counted by
    position, so they are shown under the URLs configured now; a position no longer
    configured that still holds hits shows as `tier N (not configured now)`, and the last
    counted position also holds the hits of any tier after it."""
    from buildcache.remote.urls import redact

    tiers: dict[str, dict[str, int]] = {}
    for number in range(1, counters.COUNTED_TIERS + 1):
        hits = totals[f"remote_tier{number}_hits"]
        if number <= len(remotes):
            label = redact(remotes[number - 1])
            if number == counters.COUNTED_TIERS and len(remotes) > number:
                label += f" (and tiers {number + 1}-{len(remotes)})"
        elif hits:
            label = f"tier {number} (not configured now)"
        else:
            continue
        tiers[label] = {"hits": hits}
    return tiers


def compression_summary(totals: dict[str, int]) -> dict[str, object]:
    """The bytes the cache's files take on disk (the size cap counts these), what they
    would take uncompressed, and the ratio between the two (1.0 for an empty cache)."""
    stored = totals["bytes"]
    uncompressed = stored + max(0, totals["compression_saved"])
    return {
        "stored_bytes": stored,
        "uncompressed_bytes": uncompressed,
        "compression_ratio": round(uncompressed / stored, 2) if stored > 0 else 1.0,
    }


# The C/C++ object compiles' own counters, under the names rustc's use at the top level.
C_FAMILY_KEYS = (
    "requests", "hits", "misses", "non_cacheable", "errors", "compile_failed", "not_stored",
    "disabled",
)  # fmt: skip


def c_family_summary(totals: dict[str, int]) -> dict[str, object]:
    """`c_cxx` in `stats --json`: C/C++ requests apart from rustc's (the top-level keys)."""
    section: dict[str, object] = {name: totals["c_" + name] for name in C_FAMILY_KEYS}
    section["time_saved_ms"] = totals["c_time_saved_ms"]
    section["remote_hits"] = totals["c_remote_hits"]
    lookups = totals["c_hits"] + totals["c_misses"]
    section["hit_rate"] = round(totals["c_hits"] / lookups, 4) if lookups else 0.0
    return section


def format_duration(milliseconds: int) -> str:
    """'850 ms', '12.3 s', '4 min 05 s', '2 h 03 min': for people."""
    if milliseconds < 1000:
        return f"{milliseconds} ms"
    seconds = milliseconds / 1000
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, seconds = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"
