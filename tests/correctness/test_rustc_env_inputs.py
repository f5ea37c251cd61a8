"""Class 2: variables rustc reads itself, which no dep-info lists, must be in the key.

rustc reads some variables directly rather than through env!(), so they never show up
in a dep-info file: the only way a cache learns about them is a list of names in its
key. A build with such a variable set and one without it must not share an entry: the
cached build without it must produce the bytes an uncached build produces.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest
from correctness_helpers import cargo, clean_env, package_toml, write_files

pytestmark = pytest.mark.cargo

# RUSTC_FORCE_RUSTC_VERSION replaces the version mixed into the crate's StableCrateId,
# so symbol names and TypeIds in the output change.
CASES = {"RUSTC_FORCE_RUSTC_VERSION": "forced-by-the-test"}


def rlib_digest(root: Path, target_dir: str) -> str:
    (rlib,) = (root / target_dir / "debug" / "deps").glob("libleaf-*.rlib")
    return hashlib.sha256(rlib.read_bytes()).hexdigest()


@pytest.mark.parametrize("name", list(CASES))
def test_a_variable_rustc_reads_itself_is_keyed(tmp_path: Path, name: str) -> None:
    root = tmp_path / "leaf"
    write_files(
        root,
        {"Cargo.toml": package_toml("leaf"), "src/lib.rs": "pub fn f() -> u32 { 1 }\n"},
    )
    env = clean_env(tmp_path / "home", tmp_path / "cache")
    cargo(root, "build", env={**env, name: CASES[name]})
    shutil.rmtree(root / "target")

    cargo(root, "build", env=env)
    cargo(root, "build", "--target-dir", "target-uncached", env=env, cached=False)
    assert rlib_digest(root, "target") == rlib_digest(root, "target-uncached"), (
        f"the library compiled with {name} set was served to a build without it"
    )
