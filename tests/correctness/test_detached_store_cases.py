"""The store in the background (buildcache/wrapper/detached_store.py) in the places a
red-team review found it wanting, with real cargo, rustc and files: a build whose
process tree dies with cargo (a container's PID 1), leftovers of killed stores, trim
and a symlinked staging dir, the child's working directory."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from buildcache.cache import staging
from buildcache.cache.ownership import claim
from tests.rust_workspace import Workspace, make_workspace


def _env(cache: Path, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "RUSTC_WRAPPER": "buildcache",
        "BUILDCACHE_DIR": str(cache),
        "CARGO_INCREMENTAL": "0",
        **extra,
    }


def _stats(cache: Path) -> dict[str, int]:
    out = subprocess.run(
        ["buildcache", "stats", "--json"],
        env=_env(cache),
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return json.loads(out)


def _can_unshare_pid() -> bool:
    if not shutil.which("unshare"):
        return False
    flags = (
        ["--pid", "--fork"]
        if os.getuid() == 0
        else ["--user", "--map-root-user", "--pid", "--fork"]
    )
    return subprocess.run(["unshare", *flags, "true"], capture_output=True).returncode == 0


def _container_build(ws: Workspace, cache: Path) -> subprocess.CompletedProcess[str]:
    """`cargo build` as the only process of a container (`docker run ... cargo build`,
    a Dockerfile `RUN cargo build` with a cache mount, a CI job's cgroup, a Nix/Bazel
    sandbox): when cargo returns, every process it left behind is killed by the kernel."""
    flags = (
        ["--pid", "--fork"]
        if os.getuid() == 0
        else ["--user", "--map-root-user", "--pid", "--fork"]
    )
    return subprocess.run(
        ["unshare", *flags, "cargo", "build"],
        cwd=ws.root,
        env=_env(cache),
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.mark.skipif(not _can_unshare_pid(), reason="needs a PID namespace (unshare)")
def test_a_build_whose_process_tree_ends_with_cargo_stores_every_miss(tmp_path: Path) -> None:
    """Before edc56b0 an entry was stored before the wrapper returned to cargo. Now the
    store runs in an orphan after cargo has moved on; when the build's environment ends
    with cargo (container, CI step, sandbox), the last crates' stores are killed: the
    next build of the same sources misses them, typically the final (largest, slowest
    to link) binary."""
    ws = make_workspace(tmp_path / "ws")
    cache = tmp_path / "cache"
    first = _container_build(ws, cache)
    assert first.returncode == 0, first.stderr
    shutil.rmtree(ws.root / "target")
    subprocess.run(
        ["buildcache", "stats", "--zero"], env=_env(cache), check=True, capture_output=True
    )
    ws.cargo("build", env=_env(cache))
    stats = _stats(cache)
    assert stats.get("hits", 0) > 0
    assert stats.get("misses", 0) == 0, (
        f"the second build of the same sources missed what the first stored: {stats}"
    )


@pytest.mark.skipif(not _can_unshare_pid(), reason="needs a PID namespace (unshare)")
def test_a_killed_store_leaves_no_garbage_after_the_next_build_and_trim(tmp_path: Path) -> None:
    """A store killed mid-way leaves a full copy of the crate's outputs in
    <cache>/staging. Nothing on the hot path removes it, the size cap does not count
    it, and `buildcache trim` keeps it for an hour although nothing holds its lock:
    a cache mounted into `docker build` grows by the size of the last outputs on every
    build, beyond BUILDCACHE_MAX_SIZE."""
    ws = make_workspace(tmp_path / "ws")
    cache = tmp_path / "cache"
    first = _container_build(ws, cache)
    assert first.returncode == 0, first.stderr
    shutil.rmtree(ws.root / "target")
    ws.cargo("build", env=_env(cache))
    subprocess.run(["buildcache", "trim"], env=_env(cache), check=True, capture_output=True)
    root = Path(staging.staging_dir(str(cache)))
    left = sorted(os.listdir(root)) if root.is_dir() else []
    sizes = sum(f.stat().st_size for f in root.rglob("*") if f.is_file()) if root.is_dir() else 0
    assert not left, f"{len(left)} leftovers ({sizes} bytes, uncounted) in {root}: {left}"


def test_trim_never_deletes_behind_a_symlinked_staging_dir(tmp_path: Path) -> None:
    """eviction.py: 'Symlinks inside the cache are never followed: whatever they point
    at is not ours to count or remove.' staging.remove_stale scans <cache>/staging
    through a symlink and deletes every file of every subdir (and every `*.lock`)
    older than an hour in the directory it points at."""
    cache = tmp_path / "cache"
    claim(str(cache))
    mine = tmp_path / "my_project"
    (mine / "notes").mkdir(parents=True)
    precious = mine / "notes" / "thesis.tex"
    precious.write_text("two years of work")
    lock = mine / "Cargo.lock"  # not ours either (a name that ends in .lock)
    lock.write_text("# cargo's lock file")
    old = time.time() - 2 * 86400
    for path in (precious, mine / "notes", lock):
        os.utime(path, (old, old))
    (cache / staging.STAGING_DIR).symlink_to(mine)
    subprocess.run(
        ["buildcache", "trim"], env=_env(cache), capture_output=True, text=True, timeout=60
    )
    assert precious.exists(), "trim deleted a file outside the cache, behind a symlink"
    assert lock.exists(), "trim deleted a *.lock outside the cache, behind a symlink"


DETACHED_CWD_SCRIPT = textwrap.dedent(
    """
    import os, sys, time
    from buildcache.wrapper.detached_store import run_detached, take_snapshot

    cache, out, pidfile = sys.argv[1:4]
    snapshot = take_snapshot(cache, out, ["libx.rlib"], "ab" * 32)
    assert snapshot is not None
    def job():
        with open(pidfile, "w") as handle:
            handle.write(str(os.getpid()))
        time.sleep(5)
    assert run_detached(snapshot, job)
    """
)


def test_the_detached_store_does_not_pin_the_build_directory(tmp_path: Path) -> None:
    """A daemon leaves its working directory (chdir "/"): the detached child keeps
    cargo's package dir as its cwd for its whole life, so a CI job that unmounts its
    build volume (or a tmpfs checkout) right after `cargo build` gets EBUSY."""
    (tmp_path / "cache").mkdir()
    out = tmp_path / "out"
    out.mkdir()
    (out / "libx.rlib").write_bytes(b"data")
    package = tmp_path / "package_dir"
    package.mkdir()
    pidfile = tmp_path / "pid"
    subprocess.run(
        [
            sys.executable,
            "-c",
            DETACHED_CWD_SCRIPT,
            str(tmp_path / "cache"),
            str(out),
            str(pidfile),
        ],
        cwd=package,
        check=True,
        timeout=60,
    )
    deadline = time.monotonic() + 10
    while not pidfile.exists() or not pidfile.read_text():
        assert time.monotonic() < deadline
        time.sleep(0.01)
    pid = int(pidfile.read_text())
    try:
        cwd = os.readlink(f"/proc/{pid}/cwd")
    finally:
        staging.wait_for_store(str(tmp_path / "cache"), "ab" * 32, timeout=20)
    assert cwd != str(package), f"the detached child still holds {cwd} as its cwd"
