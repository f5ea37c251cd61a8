"""`buildcache report [--json] [--top N]`: what the cache is worth, crate by crate.

From the per-crate records hits and misses keep (cache/crate_times.py): how often each
crate was served from the cache and how much compile time that saved, against how
often it was compiled and how long that took. Counts since the last `stats --zero`.
"""

from __future__ import annotations

import argparse

# Without --top, how many crates the table shows (the JSON has them all).
DEFAULT_CRATES_SHOWN = 20


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "report", help="time saved by the cache, crate by crate (most saved first)"
    )
    parser.add_argument("--json", action="store_true", help="print every crate as JSON")
    parser.add_argument(
        "--top",
        type=int,
        default=DEFAULT_CRATES_SHOWN,
        metavar="N",
        help=f"show the N crates that saved most (default {DEFAULT_CRATES_SHOWN})",
    )


def run(args: argparse.Namespace) -> int:
    import json

    from buildcache.cache import crate_times
    from buildcache.config import load_config
    from buildcache.errors import FatalError
    from buildcache.reports.cache_summary import format_duration

    if args.top < 1:
        raise FatalError("--top must be 1 or more")
    config = load_config()
    records = crate_times.read_all(config.cache_dir)
    ranked = sorted(records.items(), key=lambda item: (-item[1]["time_saved_ms"], item[0]))
    total_saved = sum(record["time_saved_ms"] for record in records.values())
    total_compile = sum(record["compile_ms"] for record in records.values())
    if args.json:
        crates = [{"crate": name, **record} for name, record in ranked]
        report = {"time_saved_ms": total_saved, "compile_ms": total_compile, "crates": crates}
        print(json.dumps(report, indent=2))
        return 0
    if not ranked:
        print("Nothing recorded yet: build something with RUSTC_WRAPPER=buildcache first.")
        return 0
    print(f"{'crate':<32} {'hits':>7} {'time saved':>12} {'misses':>7} {'compile time':>13}")
    for name, record in ranked[: args.top]:
        saved = format_duration(record["time_saved_ms"])
        spent = format_duration(record["compile_ms"])
        print(f"{name:<32} {record['hits']:>7} {saved:>12} {record['misses']:>7} {spent:>13}")
    if len(ranked) > args.top:
        print(f"... and {len(ranked) - args.top} more (--top N shows more, --json all)")
    print(
        f"Total: {format_duration(total_saved)} of compiling saved by hits, "
        f"{format_duration(total_compile)} spent compiling misses, over {len(ranked)} crates."
    )
    return 0
