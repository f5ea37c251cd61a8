"""Class 5: a restored output has the mode an uncached build gives it under this umask.

rustc writes rlibs and dep-info with 0o666 and the linker writes programs with 0o777,
less the umask of the build. An entry stored by a build with umask 022 holds 0o755 and
0o644; restored for a user with umask 077 they must become 0o700 and 0o600 (not readable
by everyone), and an entry stored under 077 must not make a 022 user's files private.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from correctness_helpers import (
    WORKSPACE_TOML,
    cache_stats,
    cargo,
    clean_env,
    package_toml,
    write_files,
)

pytestmark = pytest.mark.cargo


@contextmanager
def umask(value: int) -> Iterator[None]:
    previous = os.umask(value)
    try:
        yield
    finally:
        os.umask(previous)


def output_modes(target: Path) -> dict[str, str]:
    """Mode of every file cargo's rustc calls wrote under deps/, by name."""
    return {
        path.name: f"{path.stat().st_mode & 0o777:o}"
        for path in (target / "debug" / "deps").iterdir()
        if path.is_file()
    }


@pytest.mark.parametrize(
    ("stored", "restored"), [(0o022, 0o077), (0o077, 0o022)], ids=["022-then-077", "077-then-022"]
)
def test_restored_outputs_follow_the_umask_of_the_build(
    tmp_path: Path, stored: int, restored: int
) -> None:
    root = tmp_path / "ws"
    write_files(
        root,
        {
            "Cargo.toml": WORKSPACE_TOML,
            "crates/lib/Cargo.toml": package_toml("lib"),
            "crates/lib/src/lib.rs": "pub fn v() -> i32 { 1 }\n",
            "crates/app/Cargo.toml": package_toml("app", deps=("lib",)),
            "crates/app/src/main.rs": 'fn main() { println!("{}", lib::v()); }\n',
        },
    )
    env = clean_env(tmp_path / "home", tmp_path / "cache")
    with umask(stored):
        cargo(root, "build", env=env)
    shutil.rmtree(root / "target")
    with umask(restored):
        cargo(root, "build", env=env)
        cargo(root, "build", "--target-dir", "target-uncached", env=env, cached=False)

    cached = output_modes(root / "target")
    assert cached == output_modes(root / "target-uncached")
    assert any(name.endswith(".rlib") for name in cached)
    assert cache_stats(env)["hits"] == 2, "the second build must restore both crates"
