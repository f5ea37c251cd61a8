"""Class 7: buildcache must never delete or change files it did not create.

- BUILDCACHE_DIR pointing at an ordinary directory full of the user's files (a typo, or
  `BUILDCACHE_DIR=$HOME`): files named like cache files (`a/b/<name>.entry`,
  `.manifest`, a `stats` file in a one-hex-digit directory) are the user's, and `trim`,
  `stats --zero` and cached builds must leave every one of them as it was; `trim`
  refuses with a message.
- A relative BUILDCACHE_LOG (`Cargo.toml`, `log.txt`): cargo runs rustc in the
  workspace root and, for a vendored or registry crate, in that crate's directory; the
  log must not land in (or append to) files there.
"""

from __future__ import annotations

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

pytestmark = pytest.mark.cargo

SHARDS = "0123456789abcdef"


def fill_user_dir(directory: Path) -> None:
    """An ordinary directory of somebody's files, some named like a cache's."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "README.txt").write_text("my notes\n")
    (directory / "photos").mkdir()
    (directory / "photos" / "cat.jpg").write_bytes(bytes(range(256)) * 64)
    for shard in SHARDS:
        (directory / shard / shard).mkdir(parents=True)
        (directory / shard / "stats").write_text(f"stats of experiment {shard}\n")
        (directory / shard / shard / f"run-{shard}.entry").write_bytes(b"x" * 200_000)
        (directory / shard / shard / f"{shard}{shard}00.manifest").write_text("manifest\n")
    (directory / "ab").mkdir()
    (directory / "ab" / ("cd0123" + "0" * 58 + ".entry")).write_text("an entry-named file\n")
    (directory / "outputs" / "ab").mkdir(parents=True)
    (directory / "outputs" / "ab" / "report.pdf").write_bytes(b"%PDF-1.4\n")
    (directory / "rustc").mkdir()
    (directory / "rustc" / "notes.md").write_text("# rustc notes\n")


def user_dir_env(tmp_path: Path) -> tuple[Path, dict[str, str], dict[str, str]]:
    user_dir = tmp_path / "documents"
    fill_user_dir(user_dir)
    env = clean_env(tmp_path / "home", user_dir)
    return user_dir, env, tree_snapshot(user_dir)


COMMANDS = [
    ["trim"],
    ["trim", "--max-size", "1"],
    ["trim", "--evict-older-than", "0"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=[" ".join(c) for c in COMMANDS])
def test_trim_refuses_a_directory_that_is_not_a_cache(tmp_path: Path, command: list[str]) -> None:
    user_dir, env, before = user_dir_env(tmp_path)
    result = buildcache(*command, env=env)
    after = tree_snapshot(user_dir)
    changes = snapshot_changes(before, after)
    assert changes == [], f"trim deleted or changed the user's files: {changes}"
    assert new_paths(before, after) == [], "trim wrote into a directory that is not a cache"
    assert result.returncode != 0, f"trim exited 0 on a non-cache dir: {result.stdout}"
    assert str(user_dir) in result.stderr, f"the message must name the dir: {result.stderr!r}"


def test_zeroing_stats_leaves_a_non_cache_directory_alone(tmp_path: Path) -> None:
    user_dir, env, before = user_dir_env(tmp_path)
    buildcache("stats", "--zero", env=env)
    changes = snapshot_changes(before, tree_snapshot(user_dir))
    assert changes == [], f"stats --zero changed the user's files: {changes}"


def test_a_cached_build_leaves_a_non_cache_directory_alone(tmp_path: Path) -> None:
    user_dir, env, before = user_dir_env(tmp_path)
    root = tmp_path / "ws"
    write_files(
        root,
        {
            "Cargo.toml": WORKSPACE_TOML,
            **{f"crates/c{index}/Cargo.toml": package_toml(f"c{index}") for index in range(4)},
            **{
                f"crates/c{index}/src/lib.rs": f"pub fn v() -> u32 {{ {index} }}\n"
                for index in range(4)
            },
            "crates/app/Cargo.toml": package_toml("app", deps=("c0", "c1", "c2", "c3")),
            "crates/app/src/main.rs": (
                'fn main() { println!("{}", c0::v() + c1::v() + c2::v() + c3::v()); }\n'
            ),
        },
    )
    # A small cap, so that stores clean their shard as they go.
    cargo(root, "build", env={**env, "BUILDCACHE_MAX_SIZE": "1M"})
    assert program_result(root / "target" / "debug" / "app") == "6\n"
    changes = snapshot_changes(before, tree_snapshot(user_dir))
    assert changes == [], f"a cached build deleted or changed the user's files: {changes}"


# --- a relative BUILDCACHE_LOG ------------------------------------------------------

VENDORED_TOML = '[package]\nname = "vdep"\nversion = "0.1.0"\nedition = "2021"\n'


def make_workspace_with_vendored_dep(base: Path) -> tuple[Path, list[Path]]:
    """A workspace using a crates.io-style dependency from a vendor directory (cargo
    compiles it with the vendored crate's dir as cwd) and a path dependency outside the
    workspace. Returns the workspace and every directory whose files must stay put."""
    root = base / "ws"
    vendor = base / "vendor"
    outside = base / "outside"
    write_files(
        root,
        {
            "Cargo.toml": WORKSPACE_TOML,
            ".cargo/config.toml": (
                '[source.crates-io]\nreplace-with = "vendored"\n\n'
                f'[source.vendored]\ndirectory = "{vendor}"\n'
            ),
            "crates/app/Cargo.toml": package_toml("app")
            + 'vdep = "0.1"\nodep = { path = "../../../outside/odep" }\n',
            "crates/app/src/main.rs": 'fn main() { println!("{} {}", vdep::v(), odep::v()); }\n',
        },
    )
    write_files(
        vendor,
        {
            "vdep/Cargo.toml": VENDORED_TOML,
            "vdep/src/lib.rs": "pub fn v() -> u32 { 5 }\n",
            "vdep/.cargo-checksum.json": '{"files":{},"package":null}\n',
        },
    )
    write_files(
        outside,
        {
            "odep/Cargo.toml": VENDORED_TOML.replace("vdep", "odep"),
            "odep/src/lib.rs": "pub fn v() -> u32 { 7 }\n",
        },
    )
    return root, [root, vendor, outside]


def snapshot_sources(directories: list[Path]) -> dict[str, str]:
    snapshot = {}
    for directory in directories:
        for path, what in tree_snapshot(directory).items():
            if path == "target" or path.startswith("target/") or path == "Cargo.lock":
                continue
            snapshot[f"{directory}/{path}"] = what
    return snapshot


LOG_CASES = [
    ("environment", "Cargo.toml"),
    ("environment", "log.txt"),
    ("environment", "src/lib.rs"),
    ("config file", "Cargo.toml"),
]


@pytest.mark.parametrize(("where", "log"), LOG_CASES, ids=[f"{w}-{v}" for w, v in LOG_CASES])
def test_a_relative_log_path_never_writes_into_the_sources(
    tmp_path: Path, where: str, log: str
) -> None:
    root, directories = make_workspace_with_vendored_dep(tmp_path)
    env = clean_env(tmp_path / "home", tmp_path / "cache")
    if where == "environment":
        env["BUILDCACHE_LOG"] = log
    else:
        Path(env["BUILDCACHE_CONFIG"]).write_text(f"BUILDCACHE_LOG = {log}\n")
    before = snapshot_sources(directories)

    cargo(root, "build", env=env)
    assert program_result(root / "target" / "debug" / "app") == "5 7\n"
    after = snapshot_sources(directories)
    changed = snapshot_changes(before, after) + [f"created {p}" for p in new_paths(before, after)]
    assert changed == [], f"BUILDCACHE_LOG={log} ({where}) wrote into the sources: {changed}"
    # And the workspace still builds (a log appended to a manifest breaks it).
    cargo(root, "build", env=env)
