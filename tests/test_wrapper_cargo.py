"""Black-box: real cargo builds of the fixture workspace through the installed wrapper.

Counts come from `buildcache stats --json`, exact where cargo's behaviour is exact.
A `cargo build` of the fixture compiles six units: the build script, gen_lib,
core_lib, hello_derive (proc-macro), where_am_i and app (bin).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from rust_workspace import Workspace, make_workspace

from buildcache.cache import store

pytestmark = pytest.mark.cargo

BUILD_UNITS = 6
WARNING = "unused variable: `unused_variable`"


def stats(env: dict[str, str] | None = None) -> dict[str, int]:
    result = subprocess.run(
        ["buildcache", "stats", "--json"],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **(env or {})},
    )
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def zero() -> None:
    subprocess.run(["buildcache", "stats", "--zero"], check=True, capture_output=True)


def cached(
    ws: Workspace, *args: str, check: bool = True, **env: str
) -> subprocess.CompletedProcess[str]:
    return ws.cargo(*args, env={"RUSTC_WRAPPER": "buildcache", **env}, check=check)


def without_dir_line(output: str) -> str:
    return "\n".join(line for line in output.splitlines() if not line.startswith("manifest dir"))


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    return make_workspace(tmp_path / "ws")


@pytest.fixture
def uncached_output(workspace: Workspace) -> str:
    """What the program prints when built without any wrapper."""
    workspace.cargo("build")
    output = workspace.run_app()
    shutil.rmtree(workspace.root / "target")
    return output


def test_warm_rebuild_in_the_default_dev_profile_is_served_from_the_cache(
    cache_dir: Path, workspace: Workspace, uncached_output: str
) -> None:
    cold = cached(workspace, "build")
    assert WARNING in cold.stderr
    after_cold = stats()
    assert (after_cold["misses"], after_cold["hits"], after_cold["errors"]) == (BUILD_UNITS, 0, 0)
    assert workspace.run_app() == uncached_output

    shutil.rmtree(workspace.root / "target")
    zero()
    warm = cached(workspace, "build")
    after_warm = stats()
    assert (after_warm["hits"], after_warm["misses"], after_warm["errors"]) == (BUILD_UNITS, 0, 0)
    assert WARNING in warm.stderr, "warnings must be replayed on a hit"
    assert workspace.run_app() == uncached_output
    # cargo considers the restored outputs up to date: nothing left to compile.
    zero()
    cached(workspace, "build")
    assert stats()["requests"] == 0


def report() -> dict[str, object]:
    result = subprocess.run(
        ["buildcache", "report", "--json"], capture_output=True, text=True, check=True
    )
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def test_compressed_entries_hit_and_every_hit_adds_the_compile_time_it_saved(
    cache_dir: Path, workspace: Workspace, uncached_output: str
) -> None:
    cached(workspace, "build")
    cold = stats()
    assert cold["compression_ratio"] > 1, cold
    assert cold["stored_bytes"] == cold["cache_bytes"] < cold["uncompressed_bytes"]
    assert cold["time_saved_ms"] == 0
    entries = list(cache_dir.rglob("*.entry"))
    assert len(entries) == BUILD_UNITS
    assert all(path.read_bytes().startswith(store.COMPRESSED_ENTRY_MAGIC) for path in entries)
    compiled = report()
    assert compiled["time_saved_ms"] == 0 and compiled["compile_ms"] > 0  # type: ignore[operator]

    saved = []
    for _ in range(2):
        shutil.rmtree(workspace.root / "target")
        cached(workspace, "build")
        assert workspace.run_app() == uncached_output
        warm = stats()
        assert warm["errors"] == warm["corrupt"] == 0, warm
        saved.append(warm["time_saved_ms"])
    assert 0 < saved[0] < saved[1], saved
    # Every hit saves what its crate's compile took: two warm builds, twice the compiles.
    by_crate = report()
    assert by_crate["time_saved_ms"] == saved[1] == 2 * compiled["compile_ms"]  # type: ignore[operator]
    crates = by_crate["crates"]
    assert isinstance(crates, list) and {row["crate"] for row in crates} >= {"app", "core_lib"}
    assert all(row["hits"] == 2 * row["misses"] for row in crates), crates


def test_entries_stored_uncompressed_by_an_older_version_still_hit_and_saved_no_time(
    cache_dir: Path, workspace: Workspace, uncached_output: str
) -> None:
    cached(workspace, "build", BUILDCACHE_COMPRESSION_LEVEL="0")
    for path in cache_dir.rglob("*.entry"):
        assert path.read_bytes().startswith(store.ENTRY_MAGIC)
        entry = store.Entry.decode(path.read_bytes())
        header = {  # the header before compile times were kept
            "outputs": [(name, mode, len(data)) for name, mode, data in entry.outputs],
            "stdout": len(entry.stdout),
            "stderr": len(entry.stderr),
        }
        blobs = [bytes(data) for _, _, data in entry.outputs] + [entry.stdout, entry.stderr]
        path.write_bytes(b"".join(store._seal(store.ENTRY_MAGIC, header, blobs)))
    shutil.rmtree(workspace.root / "target")
    zero()
    cached(workspace, "build")
    warm = stats()
    assert (warm["hits"], warm["misses"], warm["corrupt"]) == (BUILD_UNITS, 0, 0), warm
    assert warm["time_saved_ms"] == 0
    assert workspace.run_app() == uncached_output


def test_incremental_off_check_and_test_builds_are_cached(
    cache_dir: Path, workspace: Workspace
) -> None:
    for args, env in (
        (["build"], {"CARGO_INCREMENTAL": "0"}),
        (["check"], {}),
        (["test", "--no-run"], {}),
        (["build", "--release"], {}),
    ):
        cached(workspace, *args, **env)
        shutil.rmtree(workspace.root / "target")
        zero()
        cached(workspace, *args, **env)
        counts = stats()
        assert counts["misses"] == 0 and counts["errors"] == 0, (args, counts)
        assert counts["hits"] >= BUILD_UNITS - 1, (args, counts)  # check skips linking the bin
        shutil.rmtree(workspace.root / "target")
    cached(workspace, "test")  # the test binaries from the cache run and pass


def test_a_checkout_at_another_path_compiles_every_crate_afresh(
    cache_dir: Path, workspace: Workspace, tmp_path: Path
) -> None:
    cached(workspace, "build")
    elsewhere = workspace.copy_to(tmp_path / "elsewhere" / "checkout")
    zero()
    log = tmp_path / "calls.log"
    cached(elsewhere, "build", BUILDCACHE_LOG=str(log))
    results = {
        fields["crate"]: fields["result"]
        for fields in (
            dict(f.split("=", 1) for f in line.split("\t")[1:])
            for line in log.read_text().splitlines()
        )
        if fields["result"] in ("hit", "miss")
    }
    # rustc writes the working directory into every output (debuginfo, the rmeta's
    # source map), so no crate of the workspace can be shared with another path.
    assert results == {
        "build_script_build": "miss",
        "gen_lib": "miss",
        "core_lib": "miss",
        "hello_derive": "miss",
        "where_am_i": "miss",
        "app": "miss",
    }
    output = elsewhere.run_app()
    assert f"manifest dir: {elsewhere.root}/crates/where_am_i" in output
    assert without_dir_line(output) == without_dir_line(workspace.run_app())


def test_a_crate_that_keeps_out_dir_as_a_value_misses_from_another_target_dir(
    cache_dir: Path, workspace: Workspace, tmp_path: Path
) -> None:
    workspace.write(
        "crates/gen_lib/src/lib.rs",
        'include!(concat!(env!("OUT_DIR"), "/generated.rs"));\n'
        'pub fn flavour() -> &\'static str { env!("OUT_DIR") }\n',
    )
    cached(workspace, "build")
    elsewhere = workspace.copy_to(tmp_path / "other")
    cached(elsewhere, "build")
    assert str(elsewhere.root / "target") in elsewhere.run_app()


def test_four_concurrent_builds_share_one_cache(
    cache_dir: Path, workspace: Workspace, tmp_path: Path, uncached_output: str
) -> None:
    checkouts = [workspace] + [workspace.copy_to(tmp_path / f"copy{i}") for i in range(1, 4)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda ws: cached(ws, "build", check=False), checkouts))
    assert all(r.returncode == 0 for r in results), [r.stderr for r in results]
    outputs = {without_dir_line(ws.run_app()) for ws in checkouts}
    assert outputs == {without_dir_line(uncached_output)}
    for ws in checkouts:
        assert f"manifest dir: {ws.root}/crates/where_am_i" in ws.run_app()
    assert stats()["errors"] == 0

    # Each checkout's crates are keyed by its own path: a rebuild of one hits all of
    # them, whatever the other builds stored meanwhile.
    shutil.rmtree(workspace.root / "target")
    zero()
    cached(workspace, "build")
    again = stats()
    assert (again["hits"], again["misses"], again["errors"]) == (BUILD_UNITS, 0, 0)
    assert workspace.run_app() == uncached_output


def test_every_cache_file_bit_flipped_still_builds_the_same_program(
    cache_dir: Path, workspace: Workspace, uncached_output: str
) -> None:
    cached(workspace, "build")
    flipped = 0
    for path in cache_dir.rglob("*"):
        # Not the tag: a damaged one rightly makes the dir "not a buildcache cache".
        if path.is_file() and path.stat().st_size > 0 and path.name != "CACHEDIR.TAG":
            data = bytearray(path.read_bytes())
            data[random.randrange(len(data))] ^= 0x40
            path.write_bytes(bytes(data))
            flipped += 1
    assert flipped > BUILD_UNITS
    shutil.rmtree(workspace.root / "target")
    result = cached(workspace, "build")
    assert WARNING in result.stderr
    assert workspace.run_app() == uncached_output
    counts = stats()
    assert counts["hits"] == 0, "no corrupt entry may be used"
    assert counts["corrupt"] >= 1


def test_an_unwritable_cache_dir_builds_uncached(
    workspace: Workspace, tmp_path: Path, uncached_output: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the cache's parent should be")
    monkeypatch.setenv("BUILDCACHE_DIR", str(blocker / "cache"))
    log = tmp_path / "calls.log"
    result = cached(workspace, "build", BUILDCACHE_LOG=str(log))
    assert WARNING in result.stderr
    assert workspace.run_app() == uncached_output
    lines = log.read_text().splitlines()
    compiles = [line for line in lines if "crate=-" not in line and "crate=___" not in line]
    assert len(compiles) == BUILD_UNITS and all("result=error" in line for line in lines)


def test_a_bad_config_value_warns_once_per_call_and_builds_uncached(
    cache_dir: Path, workspace: Workspace, uncached_output: str
) -> None:
    result = cached(workspace, "build", BUILDCACHE_MAX_SIZE="lots")
    warnings = [
        line for line in result.stderr.splitlines() if line.startswith("buildcache: warning")
    ]
    assert warnings and all("BUILDCACHE_MAX_SIZE" in line for line in warnings)
    assert workspace.run_app() == uncached_output
    assert not cache_dir.exists()


def test_a_bare_rustc_name_is_found_on_path(cache_dir: Path, workspace: Workspace) -> None:
    """Older cargo (Debian's 1.65) passes `rustc` rather than the toolchain's full path."""
    cached(workspace, "build", RUSTC="rustc")
    shutil.rmtree(workspace.root / "target")
    zero()
    cached(workspace, "build", RUSTC="rustc")
    counts = stats()
    assert (counts["hits"], counts["errors"]) == (BUILD_UNITS, 0)


def test_disabled_runs_rustc_directly(cache_dir: Path, workspace: Workspace) -> None:
    cached(workspace, "build", BUILDCACHE_DISABLE="1")
    counts = stats()
    assert counts["hits"] + counts["misses"] == 0 and counts["requests"] == counts["disabled"] > 0


def test_a_build_killed_with_sigkill_leaves_no_torn_entry(
    cache_dir: Path, workspace: Workspace, uncached_output: str
) -> None:
    for delay in (0.3, 0.6, 0.9, 1.2):
        shutil.rmtree(workspace.root / "target", ignore_errors=True)
        process = subprocess.Popen(
            ["cargo", "build"],
            cwd=workspace.root,
            env={**os.environ, "RUSTC_WRAPPER": "buildcache", "CARGO_INCREMENTAL": "0"},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        time.sleep(delay)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    for path in cache_dir.rglob("*.entry"):
        store.Entry.decode(path.read_bytes())  # raises CorruptEntry on a torn file
    shutil.rmtree(workspace.root / "target", ignore_errors=True)
    cached(workspace, "build", CARGO_INCREMENTAL="0")
    assert workspace.run_app() == uncached_output
    assert stats()["errors"] == 0


def test_a_source_edit_misses_and_the_program_changes(
    cache_dir: Path, workspace: Workspace
) -> None:
    cached(workspace, "build")
    workspace.write("crates/core_lib/src/math.rs", "pub fn answer() -> u64 {\n    6 * 9\n}\n")
    zero()
    cached(workspace, "build")
    assert "core:54" in workspace.run_app()
    assert stats()["misses"] >= 1
    # Back to the old source: served from the cache again, old program back.
    workspace.write("crates/core_lib/src/math.rs", "pub fn answer() -> u64 {\n    6 * 7\n}\n")
    zero()
    cached(workspace, "build")
    assert "core:42" in workspace.run_app()
    counts = stats()
    assert counts["misses"] == 0 and counts["hits"] >= 2


def test_a_failing_compile_is_not_cached(cache_dir: Path, workspace: Workspace) -> None:
    workspace.write("crates/core_lib/src/math.rs", "pub fn answer() -> u64 { nope }\n")
    first = cached(workspace, "build", check=False)
    second = cached(workspace, "build", check=False)
    assert first.returncode != 0 and second.returncode != 0
    assert "cannot find value `nope`" in second.stderr
    assert stats()["compile_failed"] == 2


def test_real_crates_io_dependency(cache_dir: Path, tmp_path: Path) -> None:
    """A dependency's library, whose outputs the store reads held open, not copied
    (detached_store.py), is stored and restored like the members' crates."""
    ws = make_workspace(tmp_path / "reg", registry_deps=True)
    cached(ws, "build")
    shutil.rmtree(ws.root / "target")
    zero()
    cached(ws, "build")
    counts = stats()
    assert (counts["hits"], counts["misses"]) == (BUILD_UNITS + 1, 0)
    assert "core:42" in ws.run_app()
