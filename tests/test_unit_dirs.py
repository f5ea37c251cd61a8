"""sweep on cargo's new build-dir layout, on synthetic trees copied from a real one.

The tree below mirrors what `cargo +nightly -Zbuild-dir-new-layout build` (cargo
1.97 nightly) made for the fixture workspace: file names, which dir holds what,
the hardlinked uplift, and the fingerprint JSON linking a unit to its deps.
tests/correctness/test_nightly_layout.py runs the same against real cargo.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

from buildcache.cli import run_cli
from buildcache.sweep.build_units import Unit, attach_incremental, attach_uplifts, scan_profile
from buildcache.sweep.planner import collect
from buildcache.sweep.target_dir import CACHEDIR_SIGNATURE, load_target_dir
from buildcache.sweep.unit_dirs import scan_unit_dirs

DAY = 86400.0
NOW = time.time()
OLD = NOW - 30 * DAY
LIB, SCRIPT, RUN, BIN = (
    "243cfcb246f956df",
    "71d1bd60541a35bc",
    "bb846a2be36fb1f3",
    "4539d46a71c9bf3c",
)
STALE_BIN, GONE = "ea437d60842d7c49", "0123456789abcdef"
# The text of each unit's fingerprint hash file (what dependents' JSON refers to).
FINGERPRINT = {
    LIB: "270a059d356f607e",
    SCRIPT: "e540f983da07592e",
    RUN: "0e6a84e482953b9f",
    BIN: "4458c880b54c55f6",
    STALE_BIN: "557ffc78c8ff8d67",
    GONE: "1111111111111111",
}


def write(path: Path, text: str = "x", *, at: float = NOW) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    os.utime(path, (at, at))
    return path


def settle(unit: Path, at: float) -> None:
    """Date a unit dir's directories too, as cargo's writes into them would have."""
    for directory in [unit, *(p for p in unit.rglob("*") if p.is_dir() and not p.is_symlink())]:
        os.utime(directory, (at, at))


def dep_entry(unit_hash: str, name: str) -> list[object]:
    """A `deps` entry of a fingerprint JSON: its last number is the dep's hash file."""
    value = int.from_bytes(bytes.fromhex(FINGERPRINT[unit_hash]), "little")
    return [1, name, False, value]


def fingerprint(unit: Path, kind: str, unit_hash: str, deps: list[list[object]], at: float) -> None:
    directory = unit / "fingerprint"
    if not kind.startswith("run-"):  # a run unit's invoked.timestamp is in run/
        write(directory / "invoked.timestamp", "", at=at)
    write(directory / kind, FINGERPRINT[unit_hash], at=at)
    write(directory / f"{kind}.json", json.dumps({"deps": deps}), at=at)
    if not kind.startswith("run-"):
        write(directory / f"dep-{kind}", "d", at=at)


def new_layout_target(root: Path, *, lib_at: float = NOW, bin_at: float = NOW) -> Path:
    """target/ after a build of core_lib, gen_lib's build script and app; returns debug/."""
    write(root / "CACHEDIR.TAG", f"{CACHEDIR_SIGNATURE}\n# created by cargo.\n")
    write(root / ".rustc_info.json", "{}")
    profile = root / "debug"
    for lock in (".cargo-lock", ".cargo-build-lock", ".cargo-artifact-lock"):
        write(profile / lock, "")
    (profile / "incremental").mkdir()
    (profile / "examples").mkdir()

    lib = profile / "build/core_lib" / LIB
    fingerprint(lib, "lib-core_lib", LIB, [], lib_at)
    write(lib / "fingerprint/output-lib-core_lib", "{}", at=lib_at)
    for name in (f"core_lib-{LIB}.d", f"libcore_lib-{LIB}.rlib", f"libcore_lib-{LIB}.rmeta"):
        write(lib / "out" / name, at=lib_at)

    script = profile / "build/gen_lib" / SCRIPT
    fingerprint(script, "build-script-build-script-build", SCRIPT, [], lib_at)
    write(script / "out/build_script_build", at=lib_at)
    write(script / "out/build_script_build.d", at=lib_at)

    run = profile / "build/gen_lib" / RUN
    fingerprint(run, "run-build-script-build-script-build", RUN, [dep_entry(SCRIPT, "b")], lib_at)
    write(run / "out/generated.rs", at=lib_at)
    for name in ("invoked.timestamp", "root-output", "stdout", "stderr"):
        write(run / "run" / name, at=lib_at)

    app = profile / "build/app" / BIN
    fingerprint(app, "bin-app", BIN, [dep_entry(LIB, "core_lib"), dep_entry(RUN, "g")], bin_at)
    write(app / "out/app", "binary", at=bin_at)
    write(app / "out/app.d", at=bin_at)
    os.link(app / "out/app", profile / "app")
    write(profile / "app.d", at=bin_at)
    for unit, at in ((lib, lib_at), (script, lib_at), (run, lib_at), (app, bin_at)):
        settle(unit, at)
    return profile


def add_stale_bin(profile: Path) -> Path:
    """app's unit from before an edit: nothing depends on it, nothing uplifts it."""
    stale = profile / "build/app" / STALE_BIN
    fingerprint(stale, "bin-app", STALE_BIN, [dep_entry(LIB, "core_lib")], OLD)
    write(stale / "out/app", "old binary", at=OLD)
    write(stale / "out/app.d", at=OLD)
    settle(stale, OLD)
    return stale


def by_name(units: list[Unit]) -> dict[str, Unit]:
    return {unit.name: unit for unit in units}


def sweep_json(*args: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, Any], str]:
    code = run_cli(["sweep", *args, "--json"])
    captured = capsys.readouterr()
    return code, json.loads(captured.out), captured.err


def test_a_new_layout_profile_holds_units(tmp_path: Path) -> None:
    profile = new_layout_target(tmp_path / "target")
    target = load_target_dir(tmp_path / "target")
    assert target.build_profiles == [profile] and target.artifact_profiles == []


def test_a_separate_new_layout_build_dir_and_its_artifact_dir(tmp_path: Path) -> None:
    """Measured: the build dir's profile has only .cargo-build-lock, build/ and incremental/."""
    build_dir = tmp_path / "bd"
    write(build_dir / ".rustc_info.json", "{}")
    write(build_dir / "debug/.cargo-build-lock", "")
    (build_dir / "debug/build").mkdir()
    artifacts = tmp_path / "target"
    write(artifacts / "CACHEDIR.TAG", f"{CACHEDIR_SIGNATURE}\n# created by cargo.\n")
    for name in (".cargo-lock", ".cargo-artifact-lock", "app"):
        write(artifacts / "debug" / name, "")

    assert load_target_dir(build_dir).build_profiles == [build_dir / "debug"]
    target = load_target_dir(artifacts)
    assert target.build_profiles == [] and target.artifact_profiles == [artifacts / "debug"]


def test_each_unit_dir_is_one_unit_with_its_times_names_and_graph(tmp_path: Path) -> None:
    profile = new_layout_target(tmp_path / "target", lib_at=OLD)
    write(profile / "build/gen_lib" / RUN / "run/stdout", at=OLD)
    os.utime(profile / "build/gen_lib" / RUN / "run/stdout", (NOW, OLD))  # read by a build

    units = by_name(scan_unit_dirs(profile))

    assert sorted(units) == sorted(
        [f"app/{BIN}", f"core_lib/{LIB}", f"gen_lib/{RUN}", f"gen_lib/{SCRIPT}"]
    )
    lib, run, app = units[f"core_lib/{LIB}"], units[f"gen_lib/{RUN}"], units[f"app/{BIN}"]
    assert lib.paths == [profile / "build/core_lib" / LIB]  # removed as one directory
    assert lib.package_dir == profile / "build/core_lib"
    assert lib.crate_names == {"core_lib"} and app.crate_names == {"app"}
    assert units[f"gen_lib/{SCRIPT}"].crate_names == {"build_script_build"}
    assert run.crate_names == set(), "OUT_DIR files name no crate"
    assert lib.fingerprints == {FINGERPRINT[LIB]} and lib.started_at == OLD
    assert app.dep_fingerprints == {FINGERPRINT[LIB], FINGERPRINT[RUN]}
    assert run.started_at == OLD and run.read_at == NOW
    assert lib.built_at < NOW - DAY, "only the unit's own files date it"
    assert all(unit.refusal is None for unit in units.values())


def test_uplifts_and_incremental_dirs_attach_to_new_layout_units(tmp_path: Path) -> None:
    profile = new_layout_target(tmp_path / "target")
    session = write(profile / "incremental/app-0kk0igrmth8nz/s-abc/dep-graph.bin", at=NOW)
    os.utime(session.parent, (NOW, NOW))
    units = scan_unit_dirs(profile)

    attach_uplifts([profile], units)
    leftovers = attach_incremental(profile, units)

    app = by_name(units)[f"app/{BIN}"]
    assert app.uplifted and {profile / "app", profile / "app.d"} <= set(app.paths)
    assert profile / "incremental/app-0kk0igrmth8nz" in app.paths and leftovers == []


def test_a_profile_with_both_layouts_is_read_once_each(tmp_path: Path) -> None:
    """Built with and without the -Z flag; a package named like a classic unit dir
    (`foo-<16 hex>`) is still a package dir when it holds unit dirs."""
    profile = new_layout_target(tmp_path / "target")
    classic = "0123456789abcdef"
    write(profile / ".fingerprint" / f"old-{classic}" / "lib-old", "aaaaaaaaaaaaaaaa")
    write(profile / "deps" / f"libold-{classic}.rlib")
    write(profile / "build" / f"old-{classic}" / "out" / "gen.rs")
    write(profile / "build" / f"odd-{classic}" / LIB / "out" / f"odd-{LIB}.d")

    classic_units = by_name(scan_profile(profile))
    new_units = by_name(scan_unit_dirs(profile))

    assert sorted(classic_units) == [f"old-{classic}"]
    assert f"odd-{classic}/{LIB}" in new_units and f"old-{classic}/out" not in new_units


def test_sweep_removes_stale_unit_dirs_and_keeps_what_the_build_uses(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """core_lib looks old (noatime), but the current app depends on it; the stale app
    and a package no build uses any more go, that package's dir with them."""
    root = tmp_path / "target"
    profile = new_layout_target(root, lib_at=OLD)
    stale = add_stale_bin(profile)
    gone = profile / "build/old_dep" / GONE
    fingerprint(gone, "lib-old_dep", GONE, [], OLD)
    settle(gone, OLD)

    code, report, err = sweep_json(str(root), "--time", "7", capsys=capsys)

    assert code == 0, err
    removed = {unit["unit"] for unit in report["target_dirs"][0]["removed"]}
    assert removed == {f"app/{STALE_BIN}", f"old_dep/{GONE}"}
    assert not stale.exists() and not (profile / "build/old_dep").exists()
    assert (profile / "build/core_lib" / LIB / "out").is_dir()
    assert (profile / "build/app" / BIN).is_dir() and (profile / "app").exists()
    assert report["kept_units"] == 4 and report["target_dirs"][0]["refused"] == []


@pytest.mark.parametrize("stranger", ["notes.txt", "out-link", "fingerprint-as-file"])
def test_a_unit_dir_holding_what_cargo_does_not_make_is_left_alone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], stranger: str
) -> None:
    root = tmp_path / "target"
    profile = new_layout_target(root)
    stale = add_stale_bin(profile)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    if stranger == "notes.txt":
        write(stale / "notes.txt", "mine", at=OLD)
    elif stranger == "out-link":  # cargo makes out/ a directory, never a symlink
        os.rename(stale / "out", elsewhere / "out")
        (stale / "out").symlink_to(elsewhere / "out", target_is_directory=True)
    else:
        os.rename(stale / "fingerprint", elsewhere / "fingerprint")
        write(stale / "fingerprint", "a file where cargo makes a dir", at=OLD)
    settle(stale, OLD)
    before = sorted(str(p) for p in stale.rglob("*"))

    code, report, err = sweep_json(str(root), "--time", "7", capsys=capsys)

    assert code == 0, err
    assert sorted(str(p) for p in stale.rglob("*")) == before
    (refused,) = report["target_dirs"][0]["refused"]
    assert refused["unit"] == f"app/{STALE_BIN}" and "cargo's build-dir layout" in refused["reason"]
    assert f"not removing {stale}" in err and "left alone" in err
    assert report["removed_units"] == 0


def test_a_package_dir_with_a_stranger_in_it_stays_when_its_units_go(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "target"
    profile = new_layout_target(root)
    stale = add_stale_bin(profile)
    write(profile / "build/app/README", "not cargo's")

    code, report, _ = sweep_json(str(root), "--time", "7", capsys=capsys)

    assert code == 0 and report["removed_units"] == 1
    assert not stale.exists() and (profile / "build/app/README").exists()


def test_dry_run_on_the_new_layout_deletes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "target"
    add_stale_bin(new_layout_target(root))
    before = sorted(str(p) for p in root.rglob("*"))

    code, report, _ = sweep_json(str(root), "--time", "0", "--dry-run", capsys=capsys)

    assert code == 0 and report["removed_units"] == 5
    assert sorted(str(p) for p in root.rglob("*")) == before


def test_maxsize_skips_a_refused_unit(tmp_path: Path) -> None:
    from buildcache.sweep.planner import plan_by_size

    root = tmp_path / "target"
    profile = new_layout_target(root)
    stale = add_stale_bin(profile)
    write(stale / "notes.txt", "mine", at=OLD)
    settle(stale, OLD)
    (report,) = collect([load_target_dir(root)])

    plan_by_size([report], max_bytes=1)

    (refused,) = [unit for unit in report.units if unit.refused]
    assert refused.unit.name == f"app/{STALE_BIN}" and not refused.remove
    assert report.still_too_big
