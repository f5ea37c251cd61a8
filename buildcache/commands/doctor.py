"""`buildcache doctor [--json]`: check the setup, print each problem with its fix.

Exits 0 when no check failed (warnings allowed), 1 otherwise.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

# Marks for terminals that can print them, and words for those that cannot.
SYMBOLS = {"ok": "✓", "warn": "!", "fail": "✗"}
WORDS = {"ok": "ok", "warn": "warn", "fail": "FAIL"}


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "doctor",
        help="check the setup and say how to fix each problem",
        description="Check that cargo runs buildcache, the cache dir is writable, the size "
        "cap fits the disk, the target dir is shared and the cleanup job is installed. "
        "Exits 1 when a check fails; warnings alone exit 0.",
    )
    parser.add_argument("--json", action="store_true", help="print the results as JSON")


def _marks(stream: Any) -> dict[str, str]:
    try:
        "".join(SYMBOLS.values()).encode(stream.encoding or "ascii")
    except (UnicodeEncodeError, LookupError):
        return WORDS
    return SYMBOLS


def run(args: argparse.Namespace) -> int:
    from buildcache.doctor.model import Setup, Status
    from buildcache.doctor.runner import run_checks

    results = run_checks(Setup.from_process())
    failed = [r for r in results if r.status is Status.FAIL]
    warned = [r for r in results if r.status is Status.WARN]
    if args.json:
        import json

        data = {"ok": not failed, "checks": [r.as_json() for r in results]}
        print(json.dumps(data, indent=2))
        return 1 if failed else 0
    marks = _marks(sys.stdout)
    width = max(len(r.name) for r in results)
    for result in results:
        print(f"{marks[result.status.value]} {result.name:<{width}}  {result.message}")
        if result.fix:
            print(f"  {'':<{width}}  fix: {result.fix}")
    if failed:
        print(f"\n{len(failed)} problem(s) to fix, {len(warned)} warning(s).")
    elif warned:
        print(f"\nbuildcache works; {len(warned)} warning(s).")
    else:
        print("\nEverything looks good.")
    return 1 if failed else 0
