from __future__ import annotations

import json
from pathlib import Path

import pytest

from buildcache.cli import run_cli
from buildcache.sweep.target_dir import CACHEDIR_SIGNATURE


def snapshot(root: Path) -> list[str]:
    return sorted(str(p) for p in root.rglob("*"))


def test_a_junk_dir_is_refused_and_nothing_is_deleted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "debug/.fingerprint/x-0123456789abcdef").mkdir(parents=True)
    (tmp_path / "debug/deps").mkdir()
    (tmp_path / "debug/deps/libx-0123456789abcdef.rlib").write_text("precious")
    before = snapshot(tmp_path)

    code = run_cli(["sweep", str(tmp_path), "--time", "0"])

    assert code == 1
    assert "not a cargo target dir" in capsys.readouterr().err
    assert snapshot(tmp_path) == before


def test_one_bad_path_stops_the_whole_sweep(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = tmp_path / "target"
    (good / "debug/.fingerprint/x-0123456789abcdef").mkdir(parents=True)
    (good / "CACHEDIR.TAG").write_text(f"{CACHEDIR_SIGNATURE}\n# created by cargo\n")
    before = snapshot(good)
    assert run_cli(["sweep", str(good), str(tmp_path / "junk"), "--time", "0"]) == 1
    assert snapshot(good) == before


def test_time_and_maxsize_are_exclusive_and_one_is_required() -> None:
    with pytest.raises(SystemExit):
        run_cli(["sweep", "--time", "1", "--maxsize", "1G"])
    with pytest.raises(SystemExit):
        run_cli(["sweep"])


def test_bad_maxsize_names_the_flag(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["sweep", str(tmp_path), "--maxsize", "lots"]) == 1
    assert "--maxsize" in capsys.readouterr().err


def test_json_keys_are_stable(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "target"
    (root / "debug/.fingerprint/x-0123456789abcdef").mkdir(parents=True)
    (root / "CACHEDIR.TAG").write_text(f"{CACHEDIR_SIGNATURE}\n# created by cargo\n")

    assert run_cli(["sweep", str(root), "--time", "0", "--dry-run", "--json"]) == 0

    data = json.loads(capsys.readouterr().out)
    assert set(data) == {
        "version",
        "dry_run",
        "time_days",
        "max_bytes",
        "removed_units",
        "removed_bytes",
        "kept_units",
        "kept_bytes",
        "target_dirs",
    }
    assert data["removed_units"] == 1 and data["dry_run"] is True
    assert (root / "debug/.fingerprint/x-0123456789abcdef").exists()
    unit = data["target_dirs"][0]["removed"][0]
    assert set(unit) == {"unit", "profile", "last_used", "bytes", "paths"}
    assert unit["unit"] == "x-0123456789abcdef" and unit["profile"] == "debug"


def test_an_empty_dir_is_a_no_op_not_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The shared target dir exists before its first build; the nightly job must pass."""
    empty = tmp_path / "target"
    empty.mkdir()
    assert run_cli(["sweep", str(empty), "--time", "7"]) == 0
    assert "nothing to sweep yet" in capsys.readouterr().err
    (empty / "stray.txt").write_text("not cargo's")
    assert run_cli(["sweep", str(empty), "--time", "7"]) == 1
    assert (empty / "stray.txt").exists()
