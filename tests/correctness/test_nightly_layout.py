"""Forward compatibility: cargo's new build-dir layout (nightly `-Zbuild-dir-new-layout`).

Under the new layout every unit has its own `build/<package>/<hash>/` directory, with
rustc's `--out-dir` and a build script's OUT_DIR in it, instead of the shared `deps/`
and `build/<package>-<hash>/out`. What the cache predicts and rewrites must still give
programs identical to uncached builds, and `buildcache sweep` must still work on such
a target dir: not refuse it, not delete what the next build needs, and see its units.

Skipped when no nightly toolchain (or no such -Z flag) is installed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from correctness_helpers import buildcache, cache_stats, cargo, clean_env, program_result
from rust_workspace import make_workspace

pytestmark = pytest.mark.cargo

NEW_LAYOUT = "-Zbuild-dir-new-layout"


def nightly_with_new_layout() -> str | None:
    """None when usable, else why not."""
    try:
        probe = subprocess.run(
            ["cargo", "+nightly", "-Z", "help"], capture_output=True, text=True, timeout=120
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"cargo +nightly cannot run: {error}"
    if probe.returncode != 0:
        return f"no nightly toolchain: {probe.stderr.strip()[:200]}"
    if "build-dir-new-layout" not in probe.stdout:
        return "this nightly cargo has no -Zbuild-dir-new-layout"
    return None


def build(root: Path, env: dict[str, str], *, cached: bool = True, target: str = "target") -> None:
    """A new-layout build; --target-dir leaves a CARGO_BUILD_BUILD_DIR in env in charge of
    where the units go."""
    cargo(
        root, NEW_LAYOUT, "build", "--target-dir", target, env=env, cached=cached,
        toolchain="nightly",
    )  # fmt: skip


@pytest.fixture(scope="module")
def layout_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    why_not = nightly_with_new_layout()
    if why_not:
        pytest.skip(why_not)
    base = tmp_path_factory.mktemp("nightly")
    env = clean_env(base / "home", base / "cache")
    ws = make_workspace(base / "ws")
    root = ws.root
    app = root / "target" / "debug" / "app"
    run: dict[str, object] = {}

    build(root, env, cached=False, target="target-uncached")
    run["uncached"] = program_result(root / "target-uncached" / "debug" / "app")
    build(root, env)
    run["cold"] = program_result(app)
    shutil.rmtree(root / "target")
    before = cache_stats(env)
    build(root, env)
    after = cache_stats(env)
    counters = ("hits", "misses", "errors")
    run["warm_stats"] = {key: int(str(after[key])) - int(str(before[key])) for key in counters}
    run["warm"] = program_result(app)

    math = root / "crates" / "core_lib" / "src" / "math.rs"
    math.write_text(math.read_text().replace("6 * 7", "6 * 8"))
    build(root, env)
    run["edited"] = program_result(app)
    build(root, env, cached=False, target="target-uncached")
    run["edited_uncached"] = program_result(root / "target-uncached" / "debug" / "app")

    sweep = buildcache("sweep", "--time", "0", "--json", str(root / "target"), env=env)
    run["sweep"] = sweep
    run["after_sweep_build"] = cargo(
        root, NEW_LAYOUT, "build", env={**env}, toolchain="nightly", check=False
    )
    run["after_sweep"] = program_result(app)
    return run


def test_a_cached_rebuild_in_the_new_layout_prints_what_uncached_does(
    layout_run: dict[str, object],
) -> None:
    assert "core:42" in str(layout_run["uncached"])
    assert layout_run["cold"] == layout_run["uncached"]
    assert layout_run["warm"] == layout_run["uncached"], "rebuild from an empty target dir"


def test_a_rebuild_from_an_empty_new_layout_target_dir_is_served_from_the_cache(
    layout_run: dict[str, object],
) -> None:
    """The units' --out-dir is now build/<pkg>/<hash>/out: still predicted and restored."""
    warm = layout_run["warm_stats"]
    assert isinstance(warm, dict)
    assert warm["hits"] > 0 and warm["misses"] == 0 and warm["errors"] == 0, warm


def test_an_edit_shows_up_in_the_new_layout(layout_run: dict[str, object]) -> None:
    assert "core:48" in str(layout_run["edited_uncached"])
    assert layout_run["edited"] == layout_run["edited_uncached"]


def test_sweep_runs_on_a_new_layout_target_dir_and_the_next_build_works(
    layout_run: dict[str, object],
) -> None:
    sweep = layout_run["sweep"]
    assert isinstance(sweep, subprocess.CompletedProcess)
    assert sweep.returncode == 0, f"sweep refused or failed: {sweep.stderr}"
    rebuild = layout_run["after_sweep_build"]
    assert isinstance(rebuild, subprocess.CompletedProcess)
    assert rebuild.returncode == 0, rebuild.stderr[-3000:]
    assert layout_run["after_sweep"] == layout_run["edited_uncached"]


def test_sweep_sees_the_units_of_a_new_layout_target_dir(
    layout_run: dict[str, object],
) -> None:
    """--time 0 on the old layout removes every unit; here it must at least find them
    (a sweep that finds nothing never frees anything, and says all is well)."""
    sweep = layout_run["sweep"]
    assert isinstance(sweep, subprocess.CompletedProcess) and sweep.returncode == 0
    report = json.loads(sweep.stdout)
    (target,) = report["target_dirs"]
    units = report["removed_units"] + report["kept_units"]
    assert units > 0, (
        f"sweep found no units in a {target['bytes_before']}-byte new-layout target dir "
        f"(profiles: {target['profiles']})"
    )
    assert report["kept_units"] == 0 and target["refused"] == [], "--time 0 keeps nothing"
    assert target["bytes_after"] < target["bytes_before"] / 10


# Only the unit hashes of these packages change when core_lib's version does.
STALE_PACKAGES = ("core_lib", "app")
DAY = 86400


def unit_dirs(profile: Path) -> set[str]:
    """`<package>/<hash>` of every unit dir of a new-layout profile."""
    return {f"{unit.parent.name}/{unit.name}" for unit in profile.glob("build/*/*")}


def age(path: Path, days: float) -> None:
    """Shift atime and mtime of path and everything under it back by days."""
    for each in [path, *path.rglob("*")]:
        info = os.lstat(each)
        shifted = (info.st_atime - days * DAY, info.st_mtime - days * DAY)
        os.utime(each, shifted, follow_symlinks=False)


@pytest.mark.parametrize("separate_build_dir", [False, True], ids=["target-dir", "build-dir"])
def test_sweep_removes_exactly_the_stale_units_of_the_new_layout(
    tmp_path: Path, separate_build_dir: bool
) -> None:
    """Build, bump core_lib's version (new hashes for core_lib and app), rebuild, age
    the first build's units of those two: sweep --time 7 takes exactly those, and the
    next build is fresh. With a separate build dir the units live there, the uplifted
    binary in the target dir, and sweep reads both."""
    why_not = nightly_with_new_layout()
    if why_not:
        pytest.skip(why_not)
    ws = make_workspace(tmp_path / "ws")
    root = ws.root
    env = clean_env(tmp_path / "home", tmp_path / "cache")
    units_root = root / "target"
    if separate_build_dir:
        units_root = tmp_path / "bd"
        env["CARGO_BUILD_BUILD_DIR"] = str(units_root)
    profile = units_root / "debug"
    # Sources older than any age given to units, or cargo rebuilds instead of staying fresh.
    age(root / "crates", 90)
    build(root, env)
    first = unit_dirs(profile)
    toml = root / "crates/core_lib/Cargo.toml"
    toml.write_text(toml.read_text().replace('version = "0.1.0"', 'version = "0.2.0"'))
    age(root / "crates", 90)
    build(root, env)
    stale = sorted(unit for unit in first if unit.split("/")[0] in STALE_PACKAGES)
    assert len(stale) == 2 and unit_dirs(profile) - first, (first, unit_dirs(profile))
    for unit in stale:
        age(profile / "build" / unit, 30)
    paths = [str(root / "target")] + ([str(units_root)] if separate_build_dir else [])

    sweep = buildcache("sweep", "--time", "7", "--json", *paths, env=env)

    assert sweep.returncode == 0, sweep.stderr
    report = json.loads(sweep.stdout)
    removed = sorted(unit["unit"] for target in report["target_dirs"] for unit in target["removed"])
    assert removed == stale
    assert unit_dirs(profile) == (first | unit_dirs(profile)) - set(stale)
    assert not any((profile / "build" / unit).exists() for unit in stale)
    assert "core:42" in program_result(root / "target" / "debug" / "app")
    rebuild = cargo(root, NEW_LAYOUT, "build", "-v", env=env, toolchain="nightly")
    assert "Compiling" not in rebuild.stderr, rebuild.stderr
    assert "Fresh app" in rebuild.stderr
