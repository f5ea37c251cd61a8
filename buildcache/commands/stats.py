"""`buildcache stats [--json] [--zero]`: what the cache did, like `ccache -s`."""

from __future__ import annotations

import argparse

from buildcache.config import load_config
from buildcache.sizes import format_size

# Counted for rustc and for C/C++ apart: shown side by side, as sccache does.
PER_COMPILER_LABELS = (
    ("requests", "Requests"),
    ("hits", "  Hits"),
    ("misses", "  Misses"),
    ("non_cacheable", "  Not cacheable"),
    ("errors", "  Errors (compiler ran uncached)"),
    ("compile_failed", "  Failed to compile (not stored)"),
    ("disabled", "  While disabled"),
    ("not_stored", "Misses not stored (inputs changed)"),
)
# Remote tiers (docs/remote.md): shown when a remote is configured or was used.
REMOTE_LABELS = (
    ("hits", "Remote hits (also in Hits)"),
    ("misses", "Remote misses"),
    ("errors", "Remote errors"),
    ("timeouts", "Remote timeouts"),
    ("skipped", "Remote lookups skipped (failing)"),
    ("corrupt", "Remote values corrupt"),
    ("rejected", "Remote values rejected (signature)"),
    ("uploads", "Remote uploads"),
    ("upload_errors", "Remote upload errors"),
)
CACHE_LABELS = (
    ("corrupt", "Corrupt cache files removed"),
    ("evictions", "Files evicted for the size cap"),
)


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("stats", help="show cache statistics (also --show-stats)")
    parser.add_argument("--json", action="store_true", help="print the statistics as JSON")
    parser.add_argument(
        "--zero", "-z", action="store_true", help="reset the counters (also --zero-stats)"
    )


def run(args: argparse.Namespace) -> int:
    import json

    from buildcache.cache import counters
    from buildcache.cache.staging import wait_for_all_stores
    from buildcache.reports.cache_summary import (
        format_duration,
        require_cache_dir,
        summarize_cache,
    )

    config = load_config()

    require_cache_dir(config)
    wait_for_all_stores(config.cache_dir)  # a build's last misses may still be storing
    if args.zero:
        from buildcache.cache import crate_times

        counters.zero_events(config.cache_dir)
        crate_times.remove_all(config.cache_dir)
        if not args.json:
            print("Statistics zeroed.")
            return 0
    summary = summarize_cache(config)

    if args.json:
        print(json.dumps(summary, indent=2, sort_keys=True))
        return 0
    c_cxx = summary["c_cxx"]
    assert isinstance(c_cxx, dict)
    print(f"{'Cache directory':<36} {summary['cache_dir']}")
    print(f"{'':<36} {'Rust':>10} {'C/C++':>10}")
    for key, label in PER_COMPILER_LABELS:
        print(f"{label:<36} {summary[key]:>10} {c_cxx[key]:>10}")
    rates = [float(part["hit_rate"]) * 100 for part in (summary, c_cxx)]  # type: ignore[arg-type]
    print(f"{'Hit rate':<36} {rates[0]:>9.1f}% {rates[1]:>9.1f}%")
    saved = [format_duration(int(str(part["time_saved_ms"]))) for part in (summary, c_cxx)]
    print(f"{'Time saved (compiles not run)':<36} {saved[0]:>10} {saved[1]:>10}")
    remote = summary["remote"]
    assert isinstance(remote, dict)
    tiers = remote.pop("tiers")
    assert isinstance(tiers, dict)
    if config.remotes or any(remote.values()) or tiers or c_cxx["remote_hits"]:
        for key, label in REMOTE_LABELS:
            if key != "hits":  # shared by rustc and C/C++ compiles
                print(f"{label:<36} {remote[key]:>10}")
                continue
            print(f"{label:<36} {remote[key]:>10} {c_cxx['remote_hits']:>10}")
            for url, counts in tiers.items():  # rustc's, by the tier that served them
                print(f"{'    from ' + url:<36} {counts['hits']:>10}")
        down, up = format_size(remote["bytes_down"]), format_size(remote["bytes_up"])
        print(f"{'Remote bytes down / up':<36} {down:>10} / {up}")
        print(f"{'Time waiting on remotes':<36} {remote['wait_ms'] / 1000:>9.1f}s")
    for key, label in CACHE_LABELS:
        print(f"{label:<36} {summary[key]:>10}")
    size, cap = int(summary["cache_bytes"]), int(summary["max_bytes"])  # type: ignore[call-overload]
    used = f"{format_size(size)} / {format_size(cap)} ({size / cap * 100:.1f}%)"
    print(f"{'Cache size':<36} {used:>10}")
    uncompressed = format_size(int(summary["uncompressed_bytes"]))  # type: ignore[call-overload]
    ratio = f"{uncompressed} uncompressed ({summary['compression_ratio']:.2f}x)"
    print(f"{'  Compression':<36} {ratio:>10}")
    print(f"{'Files (entries and manifests)':<36} {summary['entries']:>10}")
    return 0
