"""Group the files of a cargo profile dir into units, one per compiled crate hash.

This module reads cargo's classic layout, and what both layouts share (uplifts,
`incremental/`, fingerprint files); unit_dirs.py reads the new one, where each unit
has a directory of its own. In the classic layout a unit is everything cargo made
for one `<name>-<hash>`:
- `.fingerprint/<name>-<hash>/`, which says what cargo knows about it;
- `build/<name>-<hash>/` (a build script's compile dir, or its run dir with `out/`);
- `deps/*-<hash>*` and `examples/*-<hash>*`, the outputs rustc wrote;
- the uplifted copies in the profile dir (`debug/app`, `debug/libfoo.rlib`,
  `examples/demo`), which are hardlinks of a `deps/` file, and their `.d` files;
- `incremental/<crate>-<id>/`, rustc's incremental state (see attach_incremental).

Every path is examined with lstat: a symlink is a file of its own, never a way out.
"""

from __future__ import annotations

import json
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path

# cargo's metadata hash in file names: 16 lower-case hex digits after the last '-'.
HASHED_NAME = re.compile(r"^(?P<stem>.+)-(?P<hash>[0-9a-f]{16})(?:\..*)?$")
FINGERPRINT_HASH = re.compile(r"^[0-9a-f]{16}$")
# The same 16 hex digits name a unit's own directory in the new layout (build/<pkg>/<hash>).
UNIT_HASH = FINGERPRINT_HASH
# Files cargo reads on every build, even when the unit is fresh; their atime is
# the only trace a fresh build leaves (see last_use.py).
READ_EVERY_BUILD_BUILD_DIR = ("output", "root-output")
# Directories of a profile whose entries carry the unit hash in their names.
HASHED_OUTPUT_DIRS = ("deps", "examples")
# The incremental dir is written while its unit compiles. File times are coarse
# on some file systems (1 s on ext3, 2 s on FAT), so allow that much either side.
INCREMENTAL_TIME_SLACK = 2.0


@dataclass
class Unit:
    profile: Path
    name: str  # `<name>-<hash>` as in .fingerprint/, or `incremental/<dir>` when orphaned
    paths: list[Path] = field(default_factory=list)
    crate_names: set[str] = field(default_factory=set)
    fingerprints: set[str] = field(default_factory=set)  # this unit's hash files
    dep_fingerprints: set[str] = field(default_factory=set)  # hash files of its deps
    built_at: float = 0.0  # newest mtime: when cargo last (re)built or checked it
    read_at: float = 0.0  # newest atime of files cargo reads on every build
    started_at: float | None = None  # invoked.timestamp: when its last build began
    uplifted: bool = False  # owns a file uplifted into a profile dir (debug/app)
    # Files rustc wrote that are not in paths themselves (they lie inside a unit dir of
    # the new layout); their inodes find the uplifts. In the classic layout paths has them.
    outputs: list[Path] = field(default_factory=list)
    # New layout: `build/<pkg>/`, removed too once its last unit is gone (if empty).
    package_dir: Path | None = None
    # Why sweep must not delete this unit (it holds something cargo does not make).
    refusal: str | None = None


def lstat_or_none(path: Path) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except OSError:
        return None


def real_dir_entries(path: Path) -> list[os.DirEntry[str]]:
    """Entries of a real directory; a symlinked one (deps -> elsewhere) is not cargo's
    layout and is never scanned, so nothing behind it can be planned for deletion."""
    try:
        if stat.S_ISLNK(os.lstat(path).st_mode):
            return []
        with os.scandir(path) as entries:
            return sorted(entries, key=lambda entry: entry.name)
    except OSError:
        return []


def read_without_atime(path: Path) -> str:
    """Read a small file without updating its atime, which is our evidence of use.

    O_NOATIME is refused for files we do not own; then a plain read is the
    best we can do (the atime was already taken before the read).
    """
    flags = os.O_RDONLY | getattr(os, "O_NOATIME", 0) | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags)
    except PermissionError:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    with os.fdopen(fd, "rb") as handle:
        return handle.read().decode("utf-8", "replace")


def dep_fingerprint_hex(value: int) -> str:
    """A dependency's u64 in a fingerprint JSON -> the text of its hash file."""
    return (value & 0xFFFFFFFFFFFFFFFF).to_bytes(8, "little").hex()


def _parse_fingerprint_json(text: str) -> set[str]:
    """Fingerprints of the dependencies listed in a `<kind>-<target>.json` file."""
    try:
        deps = json.loads(text).get("deps", [])
    except (ValueError, AttributeError):
        return set()
    found = set()
    for dep in deps if isinstance(deps, list) else []:
        # [package-id hash, crate name, public, fingerprint] in cargo 1.7x-1.9x.
        if isinstance(dep, list) and dep and isinstance(dep[-1], int):
            found.add(dep_fingerprint_hex(dep[-1]))
    return found


def read_fingerprint_dir(unit: Unit, directory: Path) -> None:
    """Times, fingerprint and dependencies of a unit from its fingerprint files."""
    for entry in real_dir_entries(directory):
        info = lstat_or_none(Path(entry.path))
        if info is None or not stat.S_ISREG(info.st_mode):
            continue
        unit.built_at = max(unit.built_at, info.st_mtime)
        if entry.name == "invoked.timestamp":
            unit.started_at = info.st_mtime
        elif entry.name.endswith(".json"):
            unit.dep_fingerprints |= _parse_fingerprint_json(read_without_atime(Path(entry.path)))
        else:
            # hash files, dep-info and saved compiler output are all read by a fresh build
            unit.read_at = max(unit.read_at, info.st_atime)
            if info.st_size <= 64 and not entry.name.startswith(("dep-", "output-")):
                text = read_without_atime(Path(entry.path)).strip()
                if FINGERPRINT_HASH.match(text):
                    unit.fingerprints.add(text)


def _scan_build_dir(unit: Unit, directory: Path) -> None:
    unit.paths.append(directory)
    for entry in real_dir_entries(directory):
        info = lstat_or_none(Path(entry.path))
        if info is None:
            continue
        unit.built_at = max(unit.built_at, info.st_mtime)
        if entry.name in READ_EVERY_BUILD_BUILD_DIR and stat.S_ISREG(info.st_mode):
            unit.read_at = max(unit.read_at, info.st_atime)
        if entry.name == "invoked.timestamp" and unit.started_at is None:
            unit.started_at = info.st_mtime
        match = HASHED_NAME.match(entry.name)
        if match:
            unit.crate_names.add(match["stem"])


def _add_crate_name(unit: Unit, stem: str) -> None:
    unit.crate_names.add(stem)
    if stem.startswith("lib"):
        unit.crate_names.add(stem[3:])


def holds_unit_dirs(path: Path) -> bool:
    """True for `build/<pkg>/` of the new layout: it holds `<hash>/` unit dirs.

    A classic `build/<name>-<hash>/` never does (it holds a build script, or out/ and
    the files of its run), so a package whose name ends in 16 hex digits is not
    mistaken for a classic unit.
    """
    return any(
        entry.is_dir(follow_symlinks=False) and UNIT_HASH.match(entry.name)
        for entry in real_dir_entries(path)
    )


def scan_profile(profile: Path) -> list[Unit]:
    """The classic-layout units of one profile dir, in name order; uplifts and
    incremental not yet attached (unit_dirs.scan_unit_dirs finds the new layout's)."""
    units: dict[str, Unit] = {}

    def unit_for(name: str) -> Unit:
        return units.setdefault(name, Unit(profile=profile, name=name))

    for entry in real_dir_entries(profile / ".fingerprint"):
        if entry.is_dir(follow_symlinks=False) and HASHED_NAME.match(entry.name):
            unit_for(entry.name).paths.append(Path(entry.path))
            read_fingerprint_dir(unit_for(entry.name), Path(entry.path))
    for entry in real_dir_entries(profile / "build"):
        if (
            entry.is_dir(follow_symlinks=False)
            and HASHED_NAME.match(entry.name)
            and not holds_unit_dirs(Path(entry.path))  # a package dir of the new layout
        ):
            _scan_build_dir(unit_for(entry.name), Path(entry.path))
    by_hash = {HASHED_NAME.match(name)["hash"]: unit for name, unit in units.items()}  # type: ignore[index]
    for folder in HASHED_OUTPUT_DIRS:
        for entry in real_dir_entries(profile / folder):
            match = HASHED_NAME.match(entry.name)
            if match is None:
                continue
            unit = by_hash.get(match["hash"])
            if unit is None:  # outputs whose fingerprint dir is gone: still one unit
                unit = unit_for(f"{match['stem']}-{match['hash']}")
                by_hash[match["hash"]] = unit
            unit.paths.append(Path(entry.path))
            _add_crate_name(unit, match["stem"])
            info = lstat_or_none(Path(entry.path))
            if info is not None:
                unit.built_at = max(unit.built_at, info.st_mtime)
    return [units[name] for name in sorted(units)]


def attach_uplifts(artifact_profiles: list[Path], units: list[Unit]) -> None:
    """Give each unit the uplifted hardlinks of its outputs (and their `.d` files).

    An uplifted file belongs to the unit whose `deps/` (or, in the new layout,
    `build/<pkg>/<hash>/out/`) file has the same inode.
    A copy (cargo copies when it cannot hardlink) matches no unit and is left alone.
    """
    by_inode: dict[tuple[int, int], Unit] = {}
    for unit in units:
        for path in unit.paths + unit.outputs:
            info = lstat_or_none(path)
            if info is not None and stat.S_ISREG(info.st_mode):
                by_inode[(info.st_dev, info.st_ino)] = unit
    for profile in artifact_profiles:
        for folder in (profile, profile / "examples"):
            for entry in real_dir_entries(folder):
                info = lstat_or_none(Path(entry.path))
                if info is None or not stat.S_ISREG(info.st_mode) or entry.name.endswith(".d"):
                    continue
                owner = by_inode.get((info.st_dev, info.st_ino))
                if owner is None or Path(entry.path) in owner.paths:
                    continue
                owner.paths.append(Path(entry.path))
                owner.uplifted = True
                dep_info = Path(folder, os.path.splitext(entry.name)[0] + ".d")
                dep_info_stat = lstat_or_none(dep_info)
                if dep_info_stat is not None and stat.S_ISREG(dep_info_stat.st_mode):
                    owner.paths.append(dep_info)


def attach_incremental(profile: Path, units: list[Unit]) -> list[Unit]:
    """Attach `incremental/<crate>-<id>/` dirs to their units; return the ones left over.

    rustc names these dirs from a hash cargo does not record, so they are matched
    by crate name and time: rustc writes its newest session while the unit
    compiles, between the unit's invoked.timestamp and its fingerprint; the unit
    whose build is closest wins. A dir that matches no unit, or two equally well,
    becomes a unit of its own, aged by its newest session: deleting it costs at
    most one non-incremental recompile.
    """
    leftovers = []
    for entry in real_dir_entries(profile / "incremental"):
        if not entry.is_dir(follow_symlinks=False) or "-" not in entry.name:
            continue
        crate = entry.name.rsplit("-", 1)[0]
        sessions = [
            lstat_or_none(Path(session.path)) for session in real_dir_entries(Path(entry.path))
        ]
        newest = max((info.st_mtime for info in sessions if info), default=0.0)
        # Distance from the newest session to each candidate's build interval;
        # builds seconds apart can both be within the slack, so take the closest.
        distances = sorted(
            (max(unit.started_at - newest, newest - unit.built_at, 0.0), index)
            for index, unit in enumerate(units)
            if unit.profile == profile and crate in unit.crate_names and unit.started_at is not None
        )
        close = [(gap, index) for gap, index in distances if gap <= INCREMENTAL_TIME_SLACK]
        if close and (len(close) == 1 or close[0][0] < close[1][0]):
            units[close[0][1]].paths.append(Path(entry.path))
        else:
            orphan = Unit(profile=profile, name=f"incremental/{entry.name}", built_at=newest)
            orphan.paths.append(Path(entry.path))
            leftovers.append(orphan)
    return leftovers
