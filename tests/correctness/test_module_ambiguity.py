"""Class 2 again: rustc's module lookup reads what is absent, too.

`mod foo;` finds `src/foo.rs` or `src/foo/mod.rs`, and fails with E0761 when both
exist. The dep-info lists only the file rustc used, so after someone adds the other
one a cache that keys the listed files only still hits: a cached build from an empty
target dir (CI with a restored cache) passes where an uncached build fails.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from correctness_helpers import cache_stats, cargo, clean_env, package_toml, write_files

pytestmark = pytest.mark.cargo

FOO_RS = "pub fn g() -> u32 { 1 }\n"
# (the module file used first, the one added next to it)
CASES = {
    "file-then-dir": ("src/foo.rs", "src/foo/mod.rs"),
    "dir-then-file": ("src/foo/mod.rs", "src/foo.rs"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_module_made_ambiguous_fails_as_without_the_cache(tmp_path: Path, case: str) -> None:
    used, added = CASES[case]
    root = tmp_path / "lib"
    write_files(
        root,
        {
            "Cargo.toml": package_toml("lib"),
            "src/lib.rs": "mod foo;\npub fn f() -> u32 { foo::g() }\n",
            used: FOO_RS,
        },
    )
    env = clean_env(tmp_path / "home", tmp_path / "cache")
    cargo(root, "build", env=env)
    shutil.rmtree(root / "target")
    cargo(root, "build", env=env)
    assert cache_stats(env)["hits"] == 1, "recording the absent file must not stop hits"

    write_files(root, {added: FOO_RS.replace("1", "2")})
    shutil.rmtree(root / "target")
    uncached = cargo(
        root, "build", "--target-dir", "target-uncached", env=env, cached=False, check=False
    )
    assert uncached.returncode != 0 and "E0761" in uncached.stderr, "test bug: no ambiguity"
    cached = cargo(root, "build", env=env, check=False)
    assert cached.returncode != 0, f"with {used} and {added} both present, the cached build passed"
    assert "E0761" in cached.stderr
