"""Black-box: real cargo builds, then `buildcache sweep` on their target dirs.

Each test builds the fixture workspace, bumps core_lib's version (which gives
core_lib and app new unit hashes, so their old units go stale), rebuilds, and
ages files with os.utime the way days of disuse would: both atime and mtime,
because sweep's "last used" reads both.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from rust_workspace import Workspace, make_workspace

pytestmark = pytest.mark.cargo

DAY = 86400
# Only the unit hashes of these crates change when core_lib's version does.
STALE_CRATES = ("core_lib", "app")
SOURCE_AGE_DAYS = 90
CLEAN_ENV = {"CARGO_BUILD_JOBS": "2", "CARGO_TERM_COLOR": "never"}


@dataclass
class Built:
    ws: Workspace
    target: Path  # where the units live (the build dir when one is set)
    stale: list[str]  # .fingerprint/ names of the units the first build left behind
    current: list[str]
    stale_incremental: list[str]


def _fingerprints(profile: Path) -> set[str]:
    return {p.name for p in (profile / ".fingerprint").iterdir()}


def build_with_stale_units(root: Path, *, build_dir: Path | None = None) -> Built:
    ws = make_workspace(root / "ws")
    env = dict(CLEAN_ENV)
    if build_dir is not None:
        env["CARGO_BUILD_BUILD_DIR"] = str(build_dir)
    units_root = build_dir or ws.root / "target"
    age(ws.root / "crates", SOURCE_AGE_DAYS)
    ws.cargo("build", env=env)
    first = _fingerprints(units_root / "debug")
    incremental_first = {p.name for p in (units_root / "debug/incremental").iterdir()}
    toml = ws.root / "crates/core_lib/Cargo.toml"
    toml.write_text(toml.read_text().replace('version = "0.1.0"', 'version = "0.2.0"'))
    # Sources older than any age a test gives the units, or cargo would see
    # "sources newer than the build" and rebuild instead of staying fresh.
    age(ws.root / "crates", SOURCE_AGE_DAYS)
    ws.cargo("build", env=env)
    second = _fingerprints(units_root / "debug")
    stale = sorted(name for name in first if name.rsplit("-", 1)[0] in STALE_CRATES)
    current = sorted(second - set(stale))
    assert len(stale) == 2 and len(second) == len(first) + 2, (first, second)
    incremental = {p.name for p in (units_root / "debug/incremental").iterdir()}
    stale_incremental = sorted(
        name for name in incremental_first if name.rsplit("-", 1)[0] in STALE_CRATES
    )
    assert incremental - incremental_first, "the rebuild should start new incremental dirs"
    return Built(ws, units_root, stale, current, stale_incremental)


def age(path: Path, days: float) -> None:
    """Shift atime and mtime of path and everything under it back by days.

    Shifting (not setting) keeps the order cargo compares: a dependency built
    before its dependent still looks built before it. Symlinks are not followed.
    """
    shift = days * DAY
    paths = [path] + [
        Path(dirpath, name)
        for dirpath, dirnames, filenames in os.walk(path)
        for name in dirnames + filenames
    ]
    for each in paths:
        info = os.lstat(each)
        os.utime(each, (info.st_atime - shift, info.st_mtime - shift), follow_symlinks=False)


def unit_paths(profile: Path, name: str) -> list[Path]:
    """Every top-level path of a unit by cargo's naming: its dirs and hashed files."""
    unit_hash = name.rsplit("-", 1)[1]
    found = [p for p in (profile / ".fingerprint", profile / "build") if (p / name).exists()]
    paths = [p / name for p in found]
    paths += [p for p in (profile / "deps").iterdir() if unit_hash in p.name]
    return paths


def age_units(built: Built, names: list[str], days: float) -> None:
    profile = built.target / "debug"
    for name in names:
        for path in unit_paths(profile, name):
            age(path, days)


def sweep(
    cwd: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "buildcache", "sweep", *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
    )


def sweep_json(cwd: Path, *args: str, env: dict[str, str] | None = None) -> dict:
    result = sweep(cwd, *args, "--json", env=env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def assert_still_fresh(built: Built, env: dict[str, str] | None = None) -> None:
    assert "core:42" in built.ws.run_app()
    rebuild = built.ws.cargo("build", "-v", env={**CLEAN_ENV, **(env or {})})
    assert "Compiling" not in rebuild.stderr, rebuild.stderr
    assert "Fresh app" in rebuild.stderr


def all_files(root: Path) -> set[str]:
    return {os.path.join(d, n) for d, dirs, files in os.walk(root) for n in dirs + files}


def test_time_removes_stale_units_and_keeps_the_build_fresh(tmp_path: Path) -> None:
    built = build_with_stale_units(tmp_path)
    profile = built.target / "debug"
    age_units(built, built.stale, 30)
    for name in built.stale_incremental:
        age(profile / "incremental" / name, 30)

    report = sweep_json(built.ws.root, "--time", "7")

    # the old incremental dirs belong to the stale units, not to units of their own
    assert report["removed_units"] == 2
    removed = {unit["unit"] for unit in report["target_dirs"][0]["removed"]}
    assert set(built.stale) <= removed
    assert _fingerprints(profile) == set(built.current)
    for name in built.stale:
        assert not unit_paths(profile, name), name
    for name in built.stale_incremental:
        assert not (profile / "incremental" / name).exists(), name
    assert report["removed_bytes"] > 0
    assert_still_fresh(built)


def test_dependencies_of_a_rebuilt_unit_count_as_used(tmp_path: Path) -> None:
    """On a noatime mount a fresh unit shows only its build time; app's rebuild vouches for it."""
    built = build_with_stale_units(tmp_path)
    new_app = next(name for name in built.current if name.startswith("app-"))
    age_units(built, [name for name in built.current if name != new_app], 30)
    age_units(built, built.stale, 30)

    sweep_json(built.ws.root, "--time", "7")

    assert _fingerprints(built.target / "debug") == set(built.current)
    assert_still_fresh(built)


def test_uplifted_units_are_as_recent_as_their_profile(tmp_path: Path) -> None:
    """On noatime, a build that only ran where_am_i's tests leaves app's units looking old.

    The current binary and libraries (uplifted into debug/) and what they
    depend on stay anyway; the stale units go.
    """
    built = build_with_stale_units(tmp_path)
    profile = built.target / "debug"
    age_units(built, built.current + built.stale, 30)
    built.ws.cargo("test", "--no-run", "-p", "where_am_i", env=CLEAN_ENV)
    test_unit = (_fingerprints(profile) - set(built.current) - set(built.stale)).pop()

    sweep_json(built.ws.root, "--time", "7")

    assert _fingerprints(profile) == set(built.current) | {test_unit}
    assert_still_fresh(built)


def _atime_updates(directory: Path) -> bool:
    probe = directory / "atime-probe"
    probe.write_text("x")
    old = time.time() - 30 * DAY
    os.utime(probe, (old, old))
    probe.read_text()
    return os.stat(probe).st_atime > old + DAY


def test_a_fresh_build_marks_its_units_used(tmp_path: Path) -> None:
    if not _atime_updates(tmp_path):
        pytest.skip("this file system does not update atime (noatime)")
    built = build_with_stale_units(tmp_path)
    age(built.target, 30)
    built.ws.cargo("build", env=CLEAN_ENV)  # fresh: cargo only reads the fingerprints

    report = sweep_json(built.ws.root, "--time", "7")

    removed = report["target_dirs"][0]["removed"]
    assert sorted(unit["unit"] for unit in removed) == built.stale
    assert_still_fresh(built)


def test_dry_run_lists_but_deletes_nothing(tmp_path: Path) -> None:
    built = build_with_stale_units(tmp_path)
    age_units(built, built.stale, 30)
    before = all_files(built.target)

    text = sweep(built.ws.root, "--time", "7", "--dry-run")
    report = sweep_json(built.ws.root, "--time", "7", "--dry-run")

    assert text.returncode == 0, text.stderr
    for name in built.stale:
        assert f"would remove debug/{name}" in text.stdout
    assert report["dry_run"] is True
    assert report["removed_units"] >= 2 and report["removed_bytes"] > 0
    assert all_files(built.target) == before


def test_symlinks_out_of_the_target_dir_are_never_followed(tmp_path: Path) -> None:
    built = build_with_stale_units(tmp_path)
    profile = built.target / "debug"
    outside = tmp_path / "precious"
    outside.mkdir()
    (outside / "keep.txt").write_text("mine")
    stale_hash = built.stale[0].rsplit("-", 1)[1]
    file_link = profile / "deps" / f"libcore_lib-{stale_hash}.extra"
    file_link.symlink_to(outside / "keep.txt")
    dir_link = profile / ".fingerprint" / built.stale[0] / "elsewhere"
    dir_link.symlink_to(outside, target_is_directory=True)
    age_units(built, built.stale, 30)

    sweep_json(built.ws.root, "--time", "7")

    assert not os.path.lexists(file_link) and not os.path.lexists(dir_link)
    assert (outside / "keep.txt").read_text() == "mine"


def test_maxsize_removes_least_recently_used_first(tmp_path: Path) -> None:
    built = build_with_stale_units(tmp_path)
    age_units(built, built.stale, 30)

    generous = sweep_json(built.ws.root, "--maxsize", "10G")
    assert generous["removed_units"] == 0
    tight = sweep_json(built.ws.root, "--maxsize", "1K")

    removed = {unit["unit"] for unit in tight["target_dirs"][0]["removed"]}
    assert set(built.stale) <= removed
    # what the latest build used stays even when the cap cannot be met
    assert _fingerprints(built.target / "debug") == set(built.current)
    assert tight["target_dirs"][0]["fits"] is False
    assert_still_fresh(built)


def test_separate_build_dir(tmp_path: Path) -> None:
    build_dir = tmp_path / "build-dir"
    built = build_with_stale_units(tmp_path, build_dir=build_dir)
    age_units(built, built.stale, 30)
    env = {"CARGO_BUILD_BUILD_DIR": str(build_dir)}

    found = sweep_json(tmp_path, str(tmp_path), "--recursive", "--dry-run", "--time", "7")
    report = sweep_json(built.ws.root, "--time", "7", env=env)

    assert {Path(t["path"]) for t in found["target_dirs"]} == {build_dir, built.ws.root / "target"}
    assert report["removed_units"] == 2
    assert _fingerprints(build_dir / "debug") == set(built.current)
    assert (built.ws.root / "target/debug/app").exists()
    assert_still_fresh(built, env)


def test_a_build_dir_nested_in_the_target_dir_is_swept_once(tmp_path: Path) -> None:
    """build-dir = target/bd: the units must not be scanned twice (once as a
    <triple>/<profile> of target/), or a fresh uplifted unit is judged alone and goes."""
    build_dir = tmp_path / "ws" / "target" / "bd"
    built = build_with_stale_units(tmp_path, build_dir=build_dir)
    age_units(built, built.stale, 30)
    env = {"CARGO_BUILD_BUILD_DIR": str(build_dir)}

    report = sweep_json(built.ws.root, "--time", "7", env=env)

    assert report["removed_units"] == 2
    assert _fingerprints(build_dir / "debug") == set(built.current)
    assert_still_fresh(built, env)


def test_a_symlinked_deps_dir_is_not_scanned_and_nothing_behind_it_goes(tmp_path: Path) -> None:
    built = build_with_stale_units(tmp_path)
    profile = built.target / "debug"
    moved = tmp_path / "deps-elsewhere"
    (profile / "deps").rename(moved)
    (profile / "deps").symlink_to(moved, target_is_directory=True)
    before = all_files(moved)
    age_units(built, built.stale, 30)

    result = sweep(built.ws.root, "--time", "7")

    assert result.returncode == 0, result.stderr
    assert all_files(moved) == before


def test_a_file_that_cannot_be_deleted_does_not_stop_the_sweep(tmp_path: Path) -> None:
    """Exit 1 naming the file; every other stale unit still goes."""
    if os.geteuid() != 0:
        pytest.skip("chattr +i (a file nobody can delete) needs root; CI runs as root")
    built = build_with_stale_units(tmp_path)
    profile = built.target / "debug"
    age_units(built, built.stale, 30)
    stuck_unit, other_unit = built.stale
    stuck = next(p for p in unit_paths(profile, stuck_unit) if p.is_file())
    subprocess.run(["chattr", "+i", str(stuck)], check=True)  # even root cannot delete it
    try:
        result = sweep(built.ws.root, "--time", "7")
    finally:
        subprocess.run(["chattr", "-i", str(stuck)], check=True)
    assert result.returncode == 1
    assert "could not delete" in result.stderr and stuck.name in result.stderr
    assert not (profile / ".fingerprint" / other_unit).exists()
    assert "core:42" in built.ws.run_app()
