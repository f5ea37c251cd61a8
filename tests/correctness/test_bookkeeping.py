"""Class 8: the cache's own bookkeeping, as far as a user can see it.

- The crate a user just built from the cache (a hit) is the most recently used thing in
  it: trimming the cache must not make that crate miss next time. A hit has to keep
  alive everything the next lookup needs, not only the entry.
- Everything the cache writes per build counts towards its size and goes when it is
  trimmed, including the identity records under `outputs/` (one per output path ever
  built, so they grow with every new checkout and target dir).
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest
from correctness_helpers import (
    WORKSPACE_TOML,
    buildcache,
    cache_stats,
    cargo,
    clean_env,
    entries_of_crate,
    package_toml,
    write_files,
)

pytestmark = pytest.mark.cargo

FILLER_RS = "pub static DATA: [u8; 200_000] = [{n}; 200_000];\n"


def make_workspace(root: Path) -> None:
    write_files(
        root,
        {
            "Cargo.toml": WORKSPACE_TOML,
            "crates/hot/Cargo.toml": package_toml("hot"),
            "crates/hot/src/lib.rs": "pub fn hot() -> u32 { 1 }\n",
            "crates/filler/Cargo.toml": package_toml("filler"),
            "crates/filler/src/lib.rs": FILLER_RS.format(n=0),
        },
    )


def results_of(log: Path, crate: str) -> list[str]:
    """The result= fields BUILDCACHE_LOG recorded for crate."""
    found = []
    for line in log.read_text().splitlines():
        fields = dict(f.split("=", 1) for f in line.split("\t")[1:] if "=" in f)
        if fields.get("crate") == crate:
            found.append(fields.get("result", ""))
    return found


def hit_hot(root: Path, env: dict[str, str], times: int) -> None:
    for _ in range(times):
        shutil.rmtree(root / "target", ignore_errors=True)
        cargo(root, "build", "-p", "hot", env=env)


def assert_hot_still_hits(
    root: Path, env: dict[str, str], tmp_path: Path, how: str, manifest: Path
) -> None:
    cache = Path(env["BUILDCACHE_DIR"])
    left = {
        "hot's entries": len(entries_of_crate(cache, "hot")),
        "hot's manifest": manifest.exists(),
    }
    log = tmp_path / "after-trim.log"
    shutil.rmtree(root / "target")
    cargo(root, "build", "-p", "hot", env={**env, "BUILDCACHE_LOG": str(log)})
    results = results_of(log, "hot")
    assert results == ["hit"], (
        f"`hot` was hit just before `{how}` yet its next build is {results}: "
        f"the trim removed something its lookup needs (left: {left})"
    )


def test_the_crate_hit_last_survives_trim_evict_older_than(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    make_workspace(root)
    env = clean_env(tmp_path / "home", tmp_path / "cache")
    cargo(root, "build", "-p", "hot", env=env)
    (hot_manifest,) = list(Path(env["BUILDCACHE_DIR"]).glob("*/*/*.manifest"))
    time.sleep(5)
    hit_hot(root, env, times=3)
    # Not used for 3 seconds: everything but what the hits above used.
    how = f"trim --evict-older-than {3 / 86400}"
    result = buildcache(*how.split(), env=env)
    assert result.returncode == 0, result.stderr
    assert_hot_still_hits(root, env, tmp_path, how, hot_manifest)


def test_the_crate_hit_last_survives_trim_max_size(tmp_path: Path) -> None:
    """Each of the 16 shards is cut to 1/16 of the cap, oldest file first. The cap here
    leaves each shard room for all of `hot`'s files but not for a filler entry too, and
    a filler entry was stored (after `hot`) in the shard of `hot`'s manifest."""
    root = tmp_path / "ws"
    make_workspace(root)
    cache = tmp_path / "cache"
    # The filler's 200 KB of one byte value would compress to nothing: stored whole, its
    # entry is surely bigger than all of hot's files.
    env = clean_env(tmp_path / "home", cache, BUILDCACHE_COMPRESSION_LEVEL="0")
    cargo(root, "build", "-p", "hot", env=env)
    (hot_entry,) = entries_of_crate(cache, "hot")
    (hot_manifest,) = list(cache.glob("*/*/*.manifest"))
    hot_bytes = hot_entry.stat().st_size + hot_manifest.stat().st_size

    manifest_shard = cache / hot_manifest.parent.parent.name
    for n in range(1, 80):
        time.sleep(0.01)
        (root / "crates" / "filler" / "src" / "lib.rs").write_text(FILLER_RS.format(n=n))
        cargo(root, "build", "-p", "filler", env=env)
        if any(manifest_shard in p.parents for p in entries_of_crate(cache, "filler")):
            break
    else:
        pytest.fail("test bug: no filler entry landed in the shard of hot's manifest")
    (filler_entry,) = [p for p in entries_of_crate(cache, "filler") if manifest_shard in p.parents]
    assert filler_entry.stat().st_size > hot_bytes + 4096, "test bug: filler too small"

    hit_hot(root, env, times=3)
    how = f"trim --max-size {16 * (hot_bytes + 4096)}"
    result = buildcache(*how.split(), env=env)
    assert result.returncode == 0, result.stderr
    assert_hot_still_hits(root, env, tmp_path, how, hot_manifest)


def file_bytes(directory: Path) -> int:
    return sum(p.stat().st_size for p in directory.rglob("*") if p.is_file())


@pytest.fixture
def built_cache(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A cache after building one workspace from three target dirs."""
    root = tmp_path / "ws"
    make_workspace(root)
    cache = tmp_path / "cache"
    env = clean_env(tmp_path / "home", cache)
    for target in ("target", "target-2", "target-3"):
        cargo(root, "build", "--target-dir", target, env=env)
    return cache, env


def test_identity_records_count_towards_the_cache_size(
    built_cache: tuple[Path, dict[str, str]],
) -> None:
    cache, env = built_cache
    records = sum(p.stat().st_size for p in cache.glob("*/*/*.digest"))
    stored = sum(p.stat().st_size for p in cache.glob("*/*/*.entry"))
    stored += sum(p.stat().st_size for p in cache.glob("*/*/*.manifest"))
    assert records > 0, "test bug: no identity records"
    reported = int(cache_stats(env)["cache_bytes"])  # type: ignore[call-overload]
    assert reported >= stored + records, (
        f"stats reports {reported} bytes; entries and manifests take {stored}, "
        f"the digest records (*.digest) another {records}"
    )


def test_trim_removes_identity_records_too(built_cache: tuple[Path, dict[str, str]]) -> None:
    cache, env = built_cache
    result = buildcache("trim", "--max-size", "1", env=env)
    assert result.returncode == 0, result.stderr
    assert list(cache.glob("*/*/*.entry")) == [], "test bug: trim to 1 byte kept entries"
    left = [str(p.relative_to(cache)) for p in cache.glob("*/*/*.digest")]
    assert left == [], f"trim --max-size 1 left {len(left)} identity records: {left[:5]}"
