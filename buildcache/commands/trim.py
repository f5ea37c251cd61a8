"""`buildcache trim [--max-size SIZE] [--evict-older-than DAYS]`: shrink the cache now."""

from __future__ import annotations

import argparse


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "trim", help="shrink the cache to its cap, least recently used first"
    )
    parser.add_argument(
        "--max-size", metavar="SIZE", help="cap to trim to (default: BUILDCACHE_MAX_SIZE)"
    )
    parser.add_argument(
        "--evict-older-than",
        metavar="DAYS",
        type=float,
        help="also remove everything not used for DAYS days",
    )
    parser.add_argument("--json", action="store_true", help="print the result as JSON")


def run(args: argparse.Namespace) -> int:
    import json
    import time

    from buildcache.cache import counters
    from buildcache.cache.eviction import clean_shard
    from buildcache.cache.staging import remove_stale
    from buildcache.config import load_config
    from buildcache.errors import FatalError
    from buildcache.reports.cache_summary import require_cache_dir
    from buildcache.sizes import format_size, parse_size

    config = load_config()
    require_cache_dir(config)
    max_bytes = (
        parse_size(args.max_size, variable="--max-size") if args.max_size else config.max_bytes
    )
    if args.evict_older_than is not None and args.evict_older_than < 0:
        raise FatalError("--evict-older-than must be a number of days, 0 or more")
    older_than = None
    if args.evict_older_than is not None:
        older_than = time.time() - args.evict_older_than * 86400
    remove_stale(config.cache_dir)  # what killed background stores left behind
    before = counters.read_totals(config.cache_dir)
    share = max_bytes // len(counters.SHARDS)
    busy = []
    removed = 0
    for shard in counters.SHARDS:
        result = clean_shard(config.cache_dir, shard, share, older_than=older_than)
        if result is None:
            busy.append(shard)
        else:
            removed += result
    after = counters.read_totals(config.cache_dir)
    report = {
        "removed_files": removed,
        "bytes_before": before["bytes"],
        "bytes_after": after["bytes"],
        "max_bytes": max_bytes,
        "busy_shards": busy,
    }
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(
            f"Removed {removed} files; cache is {format_size(after['bytes'])} "
            f"(cap {format_size(max_bytes)}, was {format_size(before['bytes'])})."
        )
        if busy:
            print(f"Shards {', '.join(busy)} were being cleaned by another process; skipped.")
    return 0
