from __future__ import annotations

import os
from pathlib import Path

import pytest

from buildcache.sweep.build_units import Unit
from buildcache.sweep.planner import (
    SECONDS_PER_DAY,
    TargetReport,
    UnitReport,
    plan_by_age,
    plan_by_size,
    remove_path,
    tree_size,
)
from buildcache.sweep.target_dir import TargetDir

NOW = 1_000_000_000.0


def report(*units: tuple[str, float, int], total: int = 0) -> TargetReport:
    target = TargetDir(root=Path("/t"))
    result = TargetReport(target, total_bytes=total)
    for name, used, size in units:
        result.units.append(UnitReport(Unit(Path("/t/debug"), name), target, used, size))
    return result


def test_plan_by_age() -> None:
    r = report(("old", NOW - 8 * SECONDS_PER_DAY, 1), ("new", NOW - 6 * SECONDS_PER_DAY, 1))
    plan_by_age([r], days=7, now=NOW)
    assert [u.remove for u in r.units] == [True, False]


def test_plan_by_size_removes_oldest_first_and_spares_the_latest_build() -> None:
    r = report(
        ("a", NOW - 900_000, 40),
        ("b", NOW - 800_000, 40),
        ("c", NOW - 700_000, 40),
        ("latest", NOW, 40),
        total=200,
    )
    plan_by_size([r], max_bytes=130)
    assert [u.remove for u in r.units] == [True, True, False, False]
    assert not r.still_too_big

    r = report(("a", NOW - 900_000, 40), ("latest", NOW - 60, 40), ("latest2", NOW, 40), total=120)
    plan_by_size([r], max_bytes=10)
    assert [u.remove for u in r.units] == [True, False, False]
    assert r.still_too_big


def test_tree_size_counts_hardlinks_once_and_skips_symlink_targets(tmp_path: Path) -> None:
    (tmp_path / "a").write_bytes(b"x" * 100)
    os.link(tmp_path / "a", tmp_path / "b")
    big = tmp_path.parent / f"{tmp_path.name}-big"
    big.write_bytes(b"y" * 10_000)
    (tmp_path / "link").symlink_to(big)
    assert tree_size(tmp_path, set()) < 200


def test_remove_path_unlinks_symlinks_and_keeps_what_they_point_to(tmp_path: Path) -> None:
    root = tmp_path / "target"
    unit_dir = root / "debug/build/x-0123456789abcdef"
    unit_dir.mkdir(parents=True)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep").write_text("keep")
    (unit_dir / "out").symlink_to(outside, target_is_directory=True)
    file_link = root / "debug/deps/libx-0123456789abcdef.rlib"
    file_link.parent.mkdir(parents=True)
    file_link.symlink_to(outside / "keep")
    dir_link = root / "debug/build/y-0123456789abcdef"
    dir_link.symlink_to(outside, target_is_directory=True)

    for path in (unit_dir, file_link, dir_link):
        remove_path(path, root)

    assert not any(os.path.lexists(p) for p in (unit_dir, file_link, dir_link))
    assert (outside / "keep").read_text() == "keep"


def test_remove_path_refuses_paths_outside_the_root(tmp_path: Path) -> None:
    (tmp_path / "target").mkdir()
    victim = tmp_path / "victim"
    victim.write_text("v")
    with pytest.raises(RuntimeError, match="outside"):
        remove_path(victim, tmp_path / "target")
    escape = tmp_path / "target" / "escape"
    escape.symlink_to(tmp_path, target_is_directory=True)
    with pytest.raises(RuntimeError, match="outside"):
        remove_path(escape / "victim", tmp_path / "target")
    assert victim.exists()
