from __future__ import annotations

import json
import os
from pathlib import Path

from buildcache.sweep.build_units import (
    attach_incremental,
    attach_uplifts,
    dep_fingerprint_hex,
    read_without_atime,
    scan_profile,
)

HASH = "cbcd993fc709fe51"


def write(path: Path, text: str = "x", *, mtime: float | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return path


def make_lib(profile: Path, *, dep_value: int = 4464877419360994330, at: float = 1000.0) -> None:
    fingerprint = profile / ".fingerprint" / f"core_lib-{HASH}"
    write(fingerprint / "invoked.timestamp", "", mtime=at)
    write(fingerprint / "lib-core_lib", "1ac4ac625b6ef63d", mtime=at + 5)
    deps = [[1, "dep", False, dep_value]]
    write(fingerprint / "lib-core_lib.json", json.dumps({"deps": deps}), mtime=at + 5)
    write(profile / "deps" / f"libcore_lib-{HASH}.rlib", "rlib", mtime=at + 4)
    write(profile / "deps" / f"core_lib-{HASH}.d", "d", mtime=at + 4)


def test_dep_fingerprint_is_the_little_endian_hex_of_the_hash_file() -> None:
    # measured on cargo 1.95: the JSON's u64 and the dependency's hash file text
    assert dep_fingerprint_hex(4464877419360994330) == "1ac4ac625b6ef63d"


def test_scan_groups_files_by_hash(tmp_path: Path) -> None:
    profile = tmp_path / "debug"
    make_lib(profile)
    write(profile / "deps" / "libother-0123456789abcdef.rlib")  # no fingerprint dir
    write(profile / "build" / f"core_lib-{HASH}" / "out" / "gen.rs")

    units = scan_profile(profile)

    assert [u.name for u in units] == [f"core_lib-{HASH}", "libother-0123456789abcdef"]
    lib = units[0]
    assert lib.fingerprints == {"1ac4ac625b6ef63d"}
    assert lib.dep_fingerprints == {"1ac4ac625b6ef63d"}
    assert lib.started_at == 1000.0 and lib.built_at >= 1005.0
    assert "core_lib" in lib.crate_names
    assert {p.name for p in lib.paths} == {
        f"core_lib-{HASH}",
        f"libcore_lib-{HASH}.rlib",
        f"core_lib-{HASH}.d",
    }


def test_uplifts_are_attached_by_inode_and_copies_are_left_alone(tmp_path: Path) -> None:
    profile = tmp_path / "debug"
    make_lib(profile)
    os.link(profile / "deps" / f"libcore_lib-{HASH}.rlib", profile / "libcore_lib.rlib")
    write(profile / "libcore_lib.d")
    write(profile / "libcopied.rlib", "rlib")  # same bytes, different inode
    units = scan_profile(profile)

    attach_uplifts([profile], units)

    names = {p.name for p in units[0].paths}
    assert {"libcore_lib.rlib", "libcore_lib.d"} <= names and "libcopied.rlib" not in names
    assert units[0].uplifted


def test_incremental_dirs_match_the_unit_that_was_building(tmp_path: Path) -> None:
    profile = tmp_path / "debug"
    make_lib(profile, at=1000.0)
    write(profile / "incremental/core_lib-1dd0ll6lmskrz/s-abc/dep-graph.bin", mtime=1003.0)
    os.utime(profile / "incremental/core_lib-1dd0ll6lmskrz/s-abc", (1003.0, 1003.0))
    write(profile / "incremental/core_lib-zzzzzzzzzzzzz/s-old/dep-graph.bin", mtime=10.0)
    os.utime(profile / "incremental/core_lib-zzzzzzzzzzzzz/s-old", (10.0, 10.0))
    units = scan_profile(profile)

    leftovers = attach_incremental(profile, units)

    assert profile / "incremental/core_lib-1dd0ll6lmskrz" in units[0].paths
    assert [u.name for u in leftovers] == ["incremental/core_lib-zzzzzzzzzzzzz"]
    assert leftovers[0].built_at == 10.0


def test_reading_does_not_touch_atime(tmp_path: Path) -> None:
    path = write(tmp_path / "lib-x", "1ac4ac625b6ef63d")
    os.utime(path, (100.0, 200.0))  # atime older than mtime: relatime would update it
    assert read_without_atime(path) == "1ac4ac625b6ef63d"
    assert os.stat(path).st_atime == 100.0
