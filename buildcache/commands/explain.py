"""`buildcache explain [--json] [CRATE]`: which input made recent builds miss."""

from __future__ import annotations

import argparse

# Without a CRATE, how many crates with recent misses to show.
DEFAULT_CRATES_SHOWN = 10


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "explain", help="why recent builds missed: the inputs that changed"
    )
    parser.add_argument("crate", nargs="?", help="crate name as cargo passes it (e.g. my_crate)")
    parser.add_argument("--json", action="store_true", help="print the answer as JSON")
    parser.add_argument(
        "--last", type=int, default=1, metavar="N", help="explain the last N misses of each crate"
    )


def _describe(item: dict[str, object]) -> str:
    kind, name, change = item["kind"], item["name"], item["change"]
    if kind == "rustc":
        return "the compiler changed (rustc -vV, its sysroot or its files)"
    if kind == "compiler":
        return "the C/C++ compiler changed (another program, or its bytes)"
    if kind == "cwd":
        return f"working directory: {item['old']} -> {item['new']}"
    if kind == "source":
        return f"source file {name}: {'content changed' if change == 'changed' else change}"
    if kind == "env":
        if change == "changed":
            return f"env var {name}: {item['old']!r} -> {item['new']!r}"
        return f"env var {name}: {change}"
    if kind == "extern":
        return (
            f"dependency {name}: {'rebuilt with other inputs' if change == 'changed' else change}"
        )
    if kind == "argument":
        return f"rustc argument {change}: {name}"
    if kind == "cwd":
        if change == "changed":
            return f"working directory: {item['old']!r} -> {item['new']!r}"
        return f"working directory {change}: {item['new']!r}"
    return f"{kind} {name}: {change}"


def run(args: argparse.Namespace) -> int:
    import json
    import time

    from buildcache.config import load_config
    from buildcache.reports.miss_explainer import crates_by_recent_miss, explain_crate

    config = load_config()
    crates = (
        [args.crate]
        if args.crate
        else crates_by_recent_miss(config.cache_dir)[:DEFAULT_CRATES_SHOWN]
    )
    answers = [
        a for crate in crates for a in explain_crate(config.cache_dir, crate, limit=args.last)
    ]
    if args.json:
        never = [c for c in crates if not any(a["crate"] == c for a in answers)]
        print(json.dumps({"misses": answers, "never_missed": never}, indent=2, default=str))
        return 0
    if not crates:
        print("No misses recorded yet: build something with RUSTC_WRAPPER=buildcache first.")
        return 0
    for crate in crates:
        mine = [a for a in answers if a["crate"] == crate]
        if not mine:
            print(f"{crate}: never missed (every compile was a hit, or it was never built here).")
            continue
        for answer in mine:
            when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(answer["time"])))  # type: ignore[arg-type]
            print(f"{crate}: miss at {when} (key {str(answer['key'])[:12]})")
            if answer["first_build"]:
                print("  first build of this crate: no earlier entry to compare with")
                continue
            differences = answer["differences"]
            assert isinstance(differences, list)
            if not differences:
                print("  same inputs as an earlier entry, which had been evicted or was corrupt")
            for item in differences:
                print(f"  {_describe(item)}")
    return 0
