from __future__ import annotations

from pathlib import Path

import pytest

from buildcache.errors import FatalError
from buildcache.sweep.target_dir import (
    CACHEDIR_SIGNATURE,
    default_paths,
    find_target_dirs,
    load_target_dir,
)

CARGO_TAG = f"{CACHEDIR_SIGNATURE}\n# This file is a cache directory tag created by cargo.\n"


def make_target(root: Path, *profiles: str, artifact_only: bool = False) -> Path:
    root.mkdir(parents=True)
    (root / "CACHEDIR.TAG").write_text(CARGO_TAG)
    for profile in profiles:
        (root / profile).mkdir(parents=True)
        (root / profile / ".cargo-lock").write_text("")
        if not artifact_only:
            (root / profile / ".fingerprint").mkdir()
    return root


def test_profiles_at_top_and_under_a_triple(tmp_path: Path) -> None:
    root = make_target(
        tmp_path / "t", "debug", "release", "bench-fast", "wasm32-unknown-unknown/debug"
    )
    (root / "doc").mkdir()

    target = load_target_dir(root)

    names = [str(p.relative_to(root)) for p in target.build_profiles]
    assert names == ["bench-fast", "debug", "release", "wasm32-unknown-unknown/debug"]


def test_artifact_only_dir_of_a_separate_build_dir(tmp_path: Path) -> None:
    root = make_target(tmp_path / "t", "debug", artifact_only=True)
    target = load_target_dir(root)
    assert target.build_profiles == [] and target.artifact_profiles == [root / "debug"]


def test_rustc_info_alone_is_a_cargo_marker(tmp_path: Path) -> None:
    (tmp_path / "debug/.fingerprint").mkdir(parents=True)
    (tmp_path / ".rustc_info.json").write_text("{}")
    assert load_target_dir(tmp_path).build_profiles == [tmp_path / "debug"]


@pytest.mark.parametrize(
    "tag", [None, f"{CACHEDIR_SIGNATURE}\n# created by some other tool\n", "not a tag"]
)
def test_a_dir_cargo_did_not_make_is_refused(tmp_path: Path, tag: str | None) -> None:
    (tmp_path / "debug/.fingerprint").mkdir(parents=True)  # looks like a profile, but...
    if tag is not None:
        (tmp_path / "CACHEDIR.TAG").write_text(tag)
    with pytest.raises(FatalError, match="not a cargo target dir"):
        load_target_dir(tmp_path)


def test_missing_path_is_refused(tmp_path: Path) -> None:
    with pytest.raises(FatalError, match="does not exist"):
        load_target_dir(tmp_path / "nope")


def test_symlinked_profile_dirs_are_not_followed(tmp_path: Path) -> None:
    elsewhere = make_target(tmp_path / "elsewhere", "debug")
    root = make_target(tmp_path / "t")
    (root / "debug").symlink_to(elsewhere / "debug")
    assert load_target_dir(root).build_profiles == []


def test_recursive_search_stops_at_target_dirs_and_symlinks(tmp_path: Path) -> None:
    a = make_target(tmp_path / "a/target", "debug")
    b = make_target(tmp_path / "b/c/target", "release")
    make_target(a / "debug/nested-target", "debug")  # inside a target dir: not searched
    outside = make_target(tmp_path.parent / f"{tmp_path.name}-outside", "debug")
    (tmp_path / "link").symlink_to(outside)

    found = [target.root for target in find_target_dirs(tmp_path)]

    assert found == [a, b]


def test_default_paths() -> None:
    assert default_paths({}) == [Path("target")]
    assert default_paths({"CARGO_TARGET_DIR": "/t", "CARGO_BUILD_BUILD_DIR": "/b"}) == [
        Path("/t"),
        Path("/b"),
    ]
    assert default_paths({"CARGO_BUILD_BUILD_DIR": "{workspace-root}/b"}) == [Path("target")]
