"""Class 7: a symlink inside the cache dir leads out of it, and is never followed.

A user (or a tool) may leave `cache/a/b -> ~/somewhere`, or make a whole shard a link.
Eviction must not count or delete the files behind it (`.tmp-*` "stale temp files" and
`*.entry`/`*.manifest`/`*.digest` there are the user's), and a store must not write
through it: the build then runs rustc uncached and still succeeds.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from correctness_helpers import (
    WORKSPACE_TOML,
    buildcache,
    cargo,
    clean_env,
    new_paths,
    package_toml,
    program_result,
    snapshot_changes,
    tree_snapshot,
    write_files,
)

from buildcache.cache.ownership import claim

pytestmark = pytest.mark.cargo

SHARDS = "0123456789abcdef"


def fill_victim(directory: Path) -> None:
    """Files outside the cache, named the way eviction would remove them."""
    directory.mkdir(parents=True)
    (directory / "project.manifest").write_bytes(os.urandom(4096))
    (directory / "model.entry").write_bytes(os.urandom(4096))
    (directory / "notes.digest").write_text("mine\n")
    draft = directory / ".tmp-draft"
    draft.write_text("user data\n")
    old = time.time() - 7200
    os.utime(draft, (old, old))
    (directory / "b").mkdir()
    (directory / "b" / "old.entry").write_bytes(os.urandom(4096))


def test_trim_never_removes_files_behind_a_symlink_in_the_cache(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    fill_victim(victim)
    cache = tmp_path / "cache"
    env = clean_env(tmp_path / "home", cache)
    claim(str(cache))  # a marked cache, as the first cached build leaves it
    (cache / "a").mkdir()
    (cache / "a" / "b").symlink_to(victim)  # a subdir of a shard
    (cache / "c").symlink_to(victim)  # a whole shard
    (cache / "d" / "e").mkdir(parents=True)
    (cache / "d" / "e" / "x.entry").symlink_to(victim / "model.entry")  # one file
    (cache / "d" / "e" / ".tmp-1-x").symlink_to(victim / ".tmp-draft")
    before = tree_snapshot(victim)

    result = buildcache("trim", "--max-size", "1K", env=env)
    result_old = buildcache("trim", "--evict-older-than", "0", env=env)

    assert result.returncode == 0, result.stderr
    assert result_old.returncode == 0, result_old.stderr
    changes = snapshot_changes(before, tree_snapshot(victim))
    assert changes == [], f"trim changed files outside the cache: {changes}"
    assert new_paths(before, tree_snapshot(victim)) == []
    assert (cache / "a" / "b").is_symlink()


def test_a_build_never_writes_through_a_symlinked_shard(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.mkdir()
    cache = tmp_path / "cache"
    env = clean_env(tmp_path / "home", cache)
    claim(str(cache))
    for shard in SHARDS:
        (victim / shard).mkdir()
        (victim / shard / "keep.txt").write_text(shard)
        (cache / shard).symlink_to(victim / shard)
    root = tmp_path / "ws"
    write_files(
        root,
        {
            "Cargo.toml": WORKSPACE_TOML,
            "crates/app/Cargo.toml": package_toml("app"),
            "crates/app/src/main.rs": 'fn main() { println!("hello"); }\n',
        },
    )
    before = tree_snapshot(victim)

    cargo(root, "build", env=env)

    assert program_result(root / "target" / "debug" / "app") == "hello\n"
    after = tree_snapshot(victim)
    assert snapshot_changes(before, after) == []
    assert new_paths(before, after) == [], "the cache wrote through a symlinked shard"
