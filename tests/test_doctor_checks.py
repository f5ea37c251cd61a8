from __future__ import annotations

import json
from pathlib import Path

from doctor_setup import make_setup

from buildcache.doctor.model import Status, fail, writable_dir_problem
from buildcache.doctor.runner import run_checks


def test_a_writable_dir_and_one_that_can_be_created(tmp_path: Path) -> None:
    assert writable_dir_problem(tmp_path) is None
    assert writable_dir_problem(tmp_path / "new" / "deeper") is None
    assert not (tmp_path / "new").exists()  # the probe leaves nothing behind
    assert list(tmp_path.iterdir()) == []


def test_a_file_in_the_way(tmp_path: Path) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("")
    assert "not a directory" in str(writable_dir_problem(blocker))
    problem = writable_dir_problem(blocker / "cache")
    assert problem is not None and "cannot be created" in problem and str(blocker) in problem


def test_results_serialize_with_stable_keys() -> None:
    data = fail("x", "broken", "fix it").as_json()
    assert data == {"name": "x", "status": "fail", "message": "broken", "fix": "fix it"}
    json.dumps(data)


def test_a_bad_config_value_skips_the_checks_that_need_it(tmp_path: Path) -> None:
    results = run_checks(make_setup(tmp_path, BUILDCACHE_MAX_SIZE="lots"))
    names = [r.name for r in results]
    assert names[0] == "config" and results[0].status is Status.FAIL
    assert "BUILDCACHE_MAX_SIZE" in results[0].message
    assert "cache-dir" not in names and "target-dir" in names
