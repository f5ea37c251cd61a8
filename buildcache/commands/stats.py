"""`buildcache stats [--json] [--zero]`: what the cache did, like `ccache -s`."""

from __future__ import annotations

import argparse

from buildcache.config import load_config
from buildcache.sizes import format_size

LABELS = (
    ("requests", "Requests"),
    ("hits", "  Hits"),
    ("misses", "  Misses"),
    ("non_cacheable", "  Not cacheable"),
    ("errors", "  Errors (ran rustc uncached)"),
    ("compile_failed", "  Failed to compile (not stored)"),
    ("disabled", "  While disabled"),
    ("not_stored", "Misses not stored (inputs changed)"),
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
    from buildcache.reports.cache_summary import summarize_cache

    config = load_config()
    from buildcache.reports.cache_summary import require_cache_dir

    require_cache_dir(config)
    if args.zero:
        counters.zero_events(config.cache_dir)
        if not args.json:
            print("Statistics zeroed.")
            return 0
    summary = summarize_cache(config)
    if args.json:
        print(json.dumps(summary, indent=2, sort_keys=True))
        return 0
    print(f"{'Cache directory':<36} {summary['cache_dir']}")
    for key, label in LABELS:
        print(f"{label:<36} {summary[key]:>10}")
    print(f"{'Hit rate':<36} {float(summary['hit_rate']) * 100:>9.1f}%")  # type: ignore[arg-type]
    size, cap = int(summary["cache_bytes"]), int(summary["max_bytes"])  # type: ignore[call-overload]
    used = f"{format_size(size)} / {format_size(cap)} ({size / cap * 100:.1f}%)"
    print(f"{'Cache size':<36} {used:>10}")
    print(f"{'Files (entries and manifests)':<36} {summary['entries']:>10}")
    return 0
