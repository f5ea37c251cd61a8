"""`buildcache sweep`: remove the units of cargo target dirs that no recent build used."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

JSON_SCHEMA_VERSION = 1


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "sweep",
        help="remove stale artifacts from cargo target dirs",
        description="Remove whole units (everything one compiled crate hash left in "
        "deps/, .fingerprint/, build/, incremental/ and the uplifted files) that no "
        "recent build used. PATH defaults to $CARGO_TARGET_DIR, else ./target "
        "(plus $CARGO_BUILD_BUILD_DIR when set). A directory cargo did not make is "
        "refused and nothing is deleted.",
    )
    parser.add_argument("paths", nargs="*", metavar="PATH", type=Path)
    limit = parser.add_mutually_exclusive_group(required=True)
    limit.add_argument(
        "--time", type=float, metavar="DAYS", help="remove units not used within DAYS days"
    )
    limit.add_argument(
        "--maxsize",
        metavar="SIZE",
        help="remove least recently used units until each target dir fits in SIZE (500M, 10G)",
    )
    parser.add_argument(
        "--recursive",
        "-r",
        action="store_true",
        help="sweep every target dir found under each PATH",
    )
    parser.add_argument("--dry-run", "-n", action="store_true", help="only list what would go")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")


def _is_empty_dir(path: Path) -> bool:
    return path.is_dir() and not path.is_symlink() and not any(path.iterdir())


def _targets(args: argparse.Namespace) -> list[Any]:
    from buildcache.sweep.target_dir import default_paths, find_target_dirs, load_target_dir

    paths = args.paths or default_paths(os.environ)
    targets = []
    for path in paths:
        if args.recursive:
            targets.extend(find_target_dirs(path))
        elif _is_empty_dir(path):
            # The shared target dir before its first build: the nightly cleanup job
            # must not fail on it, and there is nothing in it to delete anyway.
            print(f"{path} is empty: nothing to sweep yet.", file=sys.stderr)
        else:
            targets.append(load_target_dir(path))  # raises before anything is deleted
    unique = list({os.path.realpath(target.root): target for target in targets}.values())
    # A profile reachable from two swept dirs must be scanned once: scanned twice, each
    # copy of a unit would be judged without the other's evidence of use.
    seen: set[str] = set()
    for target in unique:
        target.build_profiles = _first_sightings(target.build_profiles, seen)
        target.artifact_profiles = _first_sightings(target.artifact_profiles, seen)
    return unique


def _first_sightings(profiles: list[Path], seen: set[str]) -> list[Path]:
    kept = []
    for profile in profiles:
        real = os.path.realpath(profile)
        if real not in seen:
            seen.add(real)
            kept.append(profile)
    return kept


def run(args: argparse.Namespace) -> int:
    from buildcache.errors import FatalError
    from buildcache.sizes import parse_size
    from buildcache.sweep.cargo_locks import cargo_locks
    from buildcache.sweep.planner import collect, delete_planned, plan_by_age, plan_by_size

    if args.time is not None and not args.time >= 0:
        raise FatalError(f"--time {args.time}: expected a number of days, 0 or more")
    max_bytes = None if args.maxsize is None else parse_size(args.maxsize, variable="--maxsize")
    targets = _targets(args)
    profiles = [p for t in targets for p in t.build_profiles + t.artifact_profiles]
    lock = cargo_locks([] if args.dry_run else profiles)
    with lock:
        reports = collect(targets)
        if max_bytes is None:
            plan_by_age(reports, days=args.time)
        else:
            plan_by_size(reports, max_bytes=max_bytes)
        failures = [] if args.dry_run else delete_planned(reports)
    result = summarize_sweep(reports, dry_run=args.dry_run, days=args.time, max_bytes=max_bytes)
    if args.json:
        json.dump(result, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print_text(result, recursive_empty=args.recursive and not targets)
    for target in result["target_dirs"]:
        for unit in target["refused"]:
            print(
                f"buildcache: not removing {unit['paths'][0]}, although unused: {unit['reason']}",
                file=sys.stderr,
            )
    for failure in failures:
        print(f"buildcache: could not delete {failure}", file=sys.stderr)
    return 1 if failures else 0


def _iso(timestamp: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(timestamp))


def summarize_sweep(
    reports: list[Any], *, dry_run: bool, days: float | None, max_bytes: int | None
) -> dict[str, Any]:
    """The stable JSON shape (documented in docs/sweep.md)."""
    target_dirs = []
    for report in reports:
        removed = [unit for unit in report.units if unit.remove]
        kept = [unit for unit in report.units if not unit.remove]
        removed_bytes = sum(unit.bytes for unit in removed)
        target_dirs.append(
            {
                "path": str(report.target.root),
                "profiles": [str(p) for p in report.target.build_profiles],
                "removed_units": len(removed),
                "removed_bytes": removed_bytes,
                "kept_units": len(kept),
                "kept_bytes": sum(unit.bytes for unit in kept),
                "bytes_before": report.total_bytes,
                "bytes_after": report.total_bytes - removed_bytes,
                "fits": not report.still_too_big,
                "removed": [_unit_data(unit, report) for unit in removed],
                # Units sweep would have removed but left alone: they hold something
                # cargo does not make (new build-dir layout), so they may not be cargo's.
                "refused": [
                    {**_unit_data(unit, report), "reason": unit.unit.refusal}
                    for unit in kept
                    if unit.refused
                ],
            }
        )
    return {
        "version": JSON_SCHEMA_VERSION,
        "dry_run": dry_run,
        "time_days": days,
        "max_bytes": max_bytes,
        "removed_units": sum(t["removed_units"] for t in target_dirs),
        "removed_bytes": sum(t["removed_bytes"] for t in target_dirs),
        "kept_units": sum(t["kept_units"] for t in target_dirs),
        "kept_bytes": sum(t["kept_bytes"] for t in target_dirs),
        "target_dirs": target_dirs,
    }


def _unit_data(unit: Any, report: Any) -> dict[str, Any]:
    profile = unit.unit.profile
    try:
        profile_name = str(profile.relative_to(report.target.root))
    except ValueError:
        profile_name = str(profile)
    return {
        "unit": unit.unit.name,
        "profile": profile_name,
        "last_used": _iso(unit.last_used),
        "bytes": unit.bytes,
        "paths": [str(path) for path in unit.unit.paths],
    }


def print_text(result: dict[str, Any], *, recursive_empty: bool) -> None:
    from buildcache.sizes import format_size

    if recursive_empty:
        print("no cargo target dirs found")
        return
    verb = "would remove" if result["dry_run"] else "removed"
    for target in result["target_dirs"]:
        for unit in target["removed"]:
            print(
                f"{verb} {unit['profile']}/{unit['unit']} ({format_size(unit['bytes'])}, "
                f"last used {unit['last_used']})"
            )
        print(
            f"{target['path']}: {verb} {target['removed_units']} units "
            f"({format_size(target['removed_bytes'])}), kept {target['kept_units']} units "
            f"({format_size(target['kept_bytes'])})"
        )
        if not target["fits"]:
            print(
                f"{target['path']}: still {format_size(target['bytes_after'])}: the rest "
                "was used by the latest build of its profile, so it stays",
                file=sys.stderr,
            )
