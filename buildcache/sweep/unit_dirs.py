"""Units of cargo's new build-dir layout (nightly `-Zbuild-dir-new-layout`).

Observed with cargo 1.97 nightly (2026-05-15), and matching cargo's layout.rs: a
profile dir of that layout has no `.fingerprint/` and no `deps/`. Each unit has a
directory of its own, `build/<package>/<hash>/`, holding:
- `fingerprint/`: the files of the classic `.fingerprint/<package>-<hash>/`;
- `out/`: rustc's `--out-dir` (`libcore_lib-<hash>.rlib`, `app`, `app.d`, test
  binaries) for a compile unit, the build script's OUT_DIR for a run unit;
- `run/` (run units only): `invoked.timestamp`, `stdout` (the classic `output`),
  `stderr`, `root-output`;
- from cargo's source: `artifact/<kind>/` (artifact dependencies) and `.lock`
  (`-Zfine-grain-locking`).
`incremental/` and the uplifted hardlinks (`debug/app`, `debug/examples/demo`) stay
where the classic layout has them. A fresh build reads the fingerprint hash,
`dep-` and `output-` files and `run/stdout`, `run/root-output` (atimes measured).

A unit is removed as its one directory, so sweep deletes a unit dir only when every
entry in it is one cargo makes there; anything else (a file someone put there, a
symlink where cargo makes a directory) keeps the whole unit and says why.
"""

from __future__ import annotations

import stat
from pathlib import Path

from buildcache.sweep.build_units import (
    UNIT_HASH,
    Unit,
    lstat_or_none,
    read_fingerprint_dir,
    real_dir_entries,
)

# What cargo puts in a unit dir, and the file type each must have.
UNIT_DIR_ENTRIES = {
    "fingerprint": stat.S_ISDIR,
    "out": stat.S_ISDIR,
    "run": stat.S_ISDIR,
    "artifact": stat.S_ISDIR,
    ".lock": stat.S_ISREG,
}
# Files of run/ that cargo reads on every build, even when the build script is fresh.
READ_EVERY_BUILD_RUN_DIR = ("stdout", "root-output")


def scan_unit_dirs(profile: Path) -> list[Unit]:
    """The new-layout units of one profile dir, in name order."""
    units = []
    for package in real_dir_entries(profile / "build"):
        if not package.is_dir(follow_symlinks=False):
            continue
        for entry in real_dir_entries(Path(package.path)):
            if entry.is_dir(follow_symlinks=False) and UNIT_HASH.match(entry.name):
                units.append(_scan_unit_dir(profile, Path(package.path), Path(entry.path)))
    return units


def _scan_unit_dir(profile: Path, package: Path, directory: Path) -> Unit:
    unit = Unit(profile=profile, name=f"{package.name}/{directory.name}", package_dir=package)
    unit.paths.append(directory)
    info = lstat_or_none(directory)
    unit.built_at = info.st_mtime if info else 0.0
    unknown = []
    for entry in real_dir_entries(directory):
        info = lstat_or_none(Path(entry.path))
        if info is None:
            continue
        kind_ok = UNIT_DIR_ENTRIES.get(entry.name)
        if kind_ok is None or not kind_ok(info.st_mode):
            unknown.append(entry.name)
        elif entry.name != ".lock":  # created once, then only locked: says nothing of use
            unit.built_at = max(unit.built_at, info.st_mtime)
    if unknown:
        unit.refusal = (
            f"it also holds {', '.join(repr(name) for name in unknown)}, which cargo's "
            "build-dir layout does not put there; the unit is left alone"
        )
    read_fingerprint_dir(unit, directory / "fingerprint")
    run = lstat_or_none(directory / "run")
    if run is not None and stat.S_ISDIR(run.st_mode):
        _scan_run_dir(unit, directory / "run")
    else:  # a run unit's out/ is the build script's OUT_DIR, whose files are its own
        _scan_out_dir(unit, directory / "out", unit_hash=directory.name)
    for kind in real_dir_entries(directory / "artifact"):
        _newest_mtime(unit, Path(kind.path))
    return unit


def _scan_run_dir(unit: Unit, directory: Path) -> None:
    """Times of a build script's run."""
    for entry in real_dir_entries(directory):
        info = lstat_or_none(Path(entry.path))
        if info is None or not stat.S_ISREG(info.st_mode):
            continue
        unit.built_at = max(unit.built_at, info.st_mtime)
        if entry.name in READ_EVERY_BUILD_RUN_DIR:
            unit.read_at = max(unit.read_at, info.st_atime)
        elif entry.name == "invoked.timestamp" and unit.started_at is None:
            unit.started_at = info.st_mtime


def _scan_out_dir(unit: Unit, directory: Path, *, unit_hash: str) -> None:
    """rustc's outputs: their times, their inodes (for uplifts), the crate's name."""
    for entry in real_dir_entries(directory):
        info = lstat_or_none(Path(entry.path))
        if info is None:
            continue
        unit.built_at = max(unit.built_at, info.st_mtime)
        if not stat.S_ISREG(info.st_mode):
            continue
        unit.outputs.append(Path(entry.path))
        # rustc names the dep-info `<crate><extra-filename>.d`; incremental/ dirs are
        # named by crate, so this is what matches them to the unit.
        if entry.name.endswith(".d"):
            crate = entry.name[: -len(".d")]
            unit.crate_names.add(crate.removesuffix(f"-{unit_hash}"))


def _newest_mtime(unit: Unit, directory: Path) -> None:
    for entry in real_dir_entries(directory):
        info = lstat_or_none(Path(entry.path))
        if info is not None:
            unit.built_at = max(unit.built_at, info.st_mtime)
