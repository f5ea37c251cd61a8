"""Decide which units of some target dirs go, and delete them without leaving the dirs.

Deletion never follows a symlink: a symlinked file or directory inside a unit
is unlinked itself and whatever it points to survives. Every path is checked
to lie inside its target dir before anything is removed. A unit that holds
something cargo does not make (its `refusal`) is never planned for removal.
"""

from __future__ import annotations

import os
import shutil
import stat
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from buildcache.sweep.build_units import Unit, attach_incremental, attach_uplifts, scan_profile
from buildcache.sweep.last_use import last_used
from buildcache.sweep.target_dir import TargetDir
from buildcache.sweep.unit_dirs import scan_unit_dirs

SECONDS_PER_DAY = 86400
# --maxsize never deletes what the newest build of a profile used: a build can
# take this long, so units used within it of the profile's newest use count as
# that build's. Deleting them would only make the next build redo them.
CURRENT_BUILD_WINDOW = 3600.0


@dataclass
class UnitReport:
    unit: Unit
    target: TargetDir
    last_used: float
    bytes: int
    remove: bool = False
    refused: bool = False  # would have been removed, but holds something not cargo's


@dataclass
class TargetReport:
    target: TargetDir
    units: list[UnitReport] = field(default_factory=list)
    total_bytes: int = 0
    # Set when --maxsize cannot be met without deleting what the last build used.
    still_too_big: bool = False


def tree_size(path: Path, seen: set[tuple[int, int]]) -> int:
    """Bytes under path, each inode once (uplifts are hardlinks), symlinks not followed."""
    try:
        info = os.lstat(path)
    except OSError:
        return 0
    key = (info.st_dev, info.st_ino)
    if key in seen:
        return 0
    seen.add(key)
    size = info.st_size if not stat.S_ISDIR(info.st_mode) else 0
    if stat.S_ISDIR(info.st_mode):
        try:
            with os.scandir(path) as entries:
                names = [entry.name for entry in entries]
        except OSError:
            names = []
        size += sum(tree_size(path / name, seen) for name in names)
    return size


def collect(targets: list[TargetDir]) -> list[TargetReport]:
    """Scan every target dir into units and compute when each was last used.

    All targets are scanned together: a separate build dir holds the units whose
    uplifted files sit in the target dir, and host units (build scripts,
    proc-macros) serve the units of `<triple>/<profile>` dirs.
    """
    reports = {id(target): TargetReport(target) for target in targets}
    owners: list[tuple[Unit, TargetDir]] = []
    for target in targets:
        for profile in target.build_profiles:
            # A profile may hold both layouts (built with and without the -Z flag).
            units = scan_profile(profile) + scan_unit_dirs(profile)
            owners.extend((unit, target) for unit in units)
    all_units = [unit for unit, _ in owners]
    artifact_profiles = [p for t in targets for p in t.build_profiles + t.artifact_profiles]
    attach_uplifts(artifact_profiles, all_units)
    for target in targets:
        for profile in target.build_profiles:
            leftovers = attach_incremental(profile, all_units)
            owners.extend((unit, target) for unit in leftovers)
            all_units.extend(leftovers)
    times = last_used(all_units)
    for unit, target in owners:
        seen: set[tuple[int, int]] = set()  # an uplift and its deps/ file are one inode
        size = sum(tree_size(path, seen) for path in unit.paths)
        reports[id(target)].units.append(UnitReport(unit, target, times[id(unit)], size))
    for report in reports.values():
        report.total_bytes = tree_size(report.target.root, set())
        report.units.sort(key=lambda each: (each.last_used, str(each.unit.profile), each.unit.name))
    return [reports[id(target)] for target in targets]


def plan_by_age(reports: list[TargetReport], *, days: float, now: float | None = None) -> None:
    """Mark every unit not used within `days` for removal."""
    cutoff = (time.time() if now is None else now) - days * SECONDS_PER_DAY
    for report in reports:
        for unit in report.units:
            stale = unit.last_used < cutoff
            unit.remove = stale and unit.unit.refusal is None
            unit.refused = stale and unit.unit.refusal is not None


def plan_by_size(reports: list[TargetReport], *, max_bytes: int) -> None:
    """Mark least recently used units until each target dir fits in max_bytes."""
    for report in reports:
        newest: dict[Path, float] = {}
        for unit in report.units:
            profile = unit.unit.profile
            newest[profile] = max(newest.get(profile, 0.0), unit.last_used)
        remaining = report.total_bytes
        for unit in report.units:  # oldest first
            if remaining <= max_bytes:
                break
            if unit.last_used >= newest[unit.unit.profile] - CURRENT_BUILD_WINDOW:
                continue
            if unit.unit.refusal is not None:
                unit.refused = True
                continue
            unit.remove = True
            remaining -= unit.bytes
        report.still_too_big = remaining > max_bytes


def _inside(path: Path, root: Path) -> bool:
    """path's directory resolves inside root (path itself may be a symlink, never followed)."""
    parent = os.path.realpath(path.parent)
    real_root = os.path.realpath(root)
    return parent == real_root or parent.startswith(real_root + os.sep)


def remove_path(path: Path, root: Path) -> None:
    """Delete one unit path under root: unlink files and symlinks, remove real dirs."""
    if not _inside(path, root):
        raise RuntimeError(f"refusing to delete {path}: it is outside {root}")
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(info.st_mode):
        # rmtree unlinks symlinks it meets inside the tree instead of following them
        shutil.rmtree(path, onerror=_retry_writable)
    else:
        os.unlink(path)


def _retry_writable(function: Any, path: str, _info: Any) -> None:
    """A build script may copy read-only trees into out/: make the parent writable, retry."""
    parent = os.path.dirname(path)
    os.chmod(parent, os.stat(parent).st_mode | stat.S_IWUSR | stat.S_IXUSR)
    function(path)


def delete_planned(reports: list[TargetReport]) -> list[str]:
    """Delete every planned unit; return one message per path that could not be deleted.

    Every planned path is checked to lie inside a swept dir before the first deletion,
    so a refusal deletes nothing. A path that fails to delete does not stop the others.
    """
    from buildcache.errors import FatalError

    roots = [report.target.root for report in reports]
    planned = []
    for report in reports:
        for unit in report.units:
            if unit.remove:
                for path in unit.unit.paths:
                    # an uplift may live in another swept dir (a separate build-dir setup)
                    root = next((root for root in roots if _inside(path, root)), None)
                    if root is None:
                        raise FatalError(f"refusing to delete {path}: outside every target dir")
                    planned.append((path, root))
    failures = []
    for path, root in planned:
        try:
            remove_path(path, root)
        except OSError as error:
            failures.append(f"{path}: {error.strerror or error}")
    _remove_emptied_package_dirs(reports, roots)
    return failures


def _remove_emptied_package_dirs(reports: list[TargetReport], roots: list[Path]) -> None:
    """New layout: `build/<pkg>/` whose last unit went. rmdir removes only an empty dir,
    so whatever else is in one (another unit, a stranger's file) keeps it."""
    package_dirs = {
        unit.unit.package_dir
        for report in reports
        for unit in report.units
        if unit.remove and unit.unit.package_dir is not None
    }
    for package_dir in sorted(package_dirs):
        if any(_inside(package_dir, root) for root in roots):
            try:
                os.rmdir(package_dir)
            except OSError:
                pass
