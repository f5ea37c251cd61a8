"""Recognise cargo target dirs (and build dirs) and find their profile dirs.

sweep deletes files, so it only works inside a directory cargo made. A
directory counts as cargo's when it carries one of cargo's own markers:
a CACHEDIR.TAG whose comment says cargo wrote it, or `.rustc_info.json`
(cargo's cache of `rustc -vV`). Both are written at the top of every target
dir and every separate `build.build-dir` since cargo 1.51; a stray
CACHEDIR.TAG from another tool does not say "cargo", and a directory that
merely looks like `debug/.fingerprint` has neither marker.

A profile dir holds units when it has the classic `.fingerprint/`, or `build/`
next to one of cargo's lock files: cargo's new build-dir layout
(`-Zbuild-dir-new-layout`, see unit_dirs.py) keeps each unit in `build/<pkg>/<hash>/`
and has no `.fingerprint/`. A separate build dir's profile there holds only
`.cargo-build-lock`, `build/` and `incremental/`.

Symlinks are never followed, neither while recognising nor while searching.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from buildcache.errors import FatalError

CACHEDIR_SIGNATURE = "Signature: 8a477f597d28d172789f06886806bc55"
RUSTC_INFO = ".rustc_info.json"
FINGERPRINT_DIR = ".fingerprint"
CARGO_LOCK = ".cargo-lock"
# cargo 1.97 nightly also locks a build dir's profile with this one (alone, when
# the build dir is separate), and `.cargo-lock` only in the artifact dir.
CARGO_BUILD_LOCK = ".cargo-build-lock"
NEW_LAYOUT_UNITS_DIR = "build"
# The tag is three short lines; reading more would only slow --recursive down.
CACHEDIR_TAG_READ_BYTES = 512


@dataclass
class TargetDir:
    """A cargo target dir or build dir and the profile dirs found in it."""

    root: Path
    # Profile dirs holding units (`.fingerprint/`, or `build/` of the new layout):
    # a target dir, or a separate build dir.
    build_profiles: list[Path] = field(default_factory=list)
    # Profile dirs holding only final artifacts (`.cargo-lock`, no `.fingerprint/`):
    # the target dir of a build whose build.build-dir lives elsewhere.
    artifact_profiles: list[Path] = field(default_factory=list)


def cargo_marker(path: Path) -> str | None:
    """The name of the cargo marker file in path, or None."""
    tag = path / "CACHEDIR.TAG"
    try:
        with open(tag, "rb") as handle:
            text = handle.read(CACHEDIR_TAG_READ_BYTES).decode("utf-8", "replace")
        if not tag.is_symlink() and text.startswith(CACHEDIR_SIGNATURE) and "cargo" in text:
            return "CACHEDIR.TAG"
    except OSError:
        pass
    info = path / RUSTC_INFO
    if info.is_file() and not info.is_symlink():
        return RUSTC_INFO
    return None


def _real_dirs(path: Path) -> list[Path]:
    """Sub-directories of path that are not symlinks, sorted for stable output."""
    try:
        with os.scandir(path) as entries:
            found = [Path(e.path) for e in entries if e.is_dir(follow_symlinks=False)]
    except OSError:
        return []
    return sorted(found)


def _is_real_dir(path: Path) -> bool:
    return path.is_dir() and not path.is_symlink()


def _is_real_file(path: Path) -> bool:
    return path.is_file() and not path.is_symlink()


def _profile_kind(path: Path) -> str | None:
    if _is_real_dir(path / FINGERPRINT_DIR):
        return "build"
    locked = _is_real_file(path / CARGO_LOCK) or _is_real_file(path / CARGO_BUILD_LOCK)
    if locked and _is_real_dir(path / NEW_LAYOUT_UNITS_DIR):
        return "build"
    if locked:
        return "artifact"
    return None


def load_target_dir(path: Path) -> TargetDir:
    """Describe the target dir at path; FatalError (nothing deleted) when it is not one."""
    if not path.exists():
        raise FatalError(f"{path} does not exist; nothing to sweep")
    if not path.is_dir():
        raise FatalError(f"{path} is not a directory; refusing to sweep it")
    if cargo_marker(path) is None:
        raise FatalError(
            f"{path} is not a cargo target dir (no CACHEDIR.TAG written by cargo and no "
            f"{RUSTC_INFO}); refusing to delete anything in it"
        )
    target = TargetDir(root=path)
    # Profiles sit at the top (`debug`, `release`, custom ones) or under a target
    # triple (`x86_64-unknown-linux-gnu/debug`); nothing deeper is cargo's layout.
    for child in _real_dirs(path):
        kind = _profile_kind(child)
        if kind is None and cargo_marker(child) is not None:
            continue  # a target or build dir nested in this one (build-dir = target/bd)
        if kind is None:
            for grandchild in _real_dirs(child):
                _add_profile(target, grandchild, _profile_kind(grandchild))
        else:
            _add_profile(target, child, kind)
    return target


def _add_profile(target: TargetDir, path: Path, kind: str | None) -> None:
    if kind == "build":
        target.build_profiles.append(path)
    elif kind == "artifact":
        target.artifact_profiles.append(path)


def find_target_dirs(top: Path) -> list[TargetDir]:
    """Every cargo target dir under top (top included), without entering one or a symlink."""
    if not top.is_dir():
        raise FatalError(f"{top} is not a directory; nothing to search")
    found: list[TargetDir] = []
    pending = [top]
    while pending:
        current = pending.pop()
        if cargo_marker(current) is not None:
            found.append(load_target_dir(current))
            continue
        pending.extend(reversed(_real_dirs(current)))
    return sorted(found, key=lambda target: target.root)


def default_paths(environ: dict[str, str] | os._Environ[str]) -> list[Path]:
    """$CARGO_TARGET_DIR (else ./target), plus $CARGO_BUILD_BUILD_DIR when it is set."""
    paths = [Path(environ.get("CARGO_TARGET_DIR") or "target")]
    build_dir = environ.get("CARGO_BUILD_BUILD_DIR")
    if build_dir and "{" not in build_dir:  # templates like {workspace-root} need cargo
        paths.append(Path(build_dir))
    return paths
