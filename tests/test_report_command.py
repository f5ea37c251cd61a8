"""`buildcache report`: the per-crate view of time saved, as a user runs it."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from buildcache.cache import crate_times


def buildcache(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["buildcache", *args], capture_output=True, text=True, env=os.environ)


def test_an_empty_cache_says_there_is_nothing_yet(cache_dir: Path) -> None:
    result = buildcache("report")
    assert result.returncode == 0 and "Nothing recorded yet" in result.stdout
    assert json.loads(buildcache("report", "--json").stdout)["crates"] == []


def test_crates_are_listed_most_time_saved_first(cache_dir: Path) -> None:
    cache_dir.mkdir()
    crate_times.add(str(cache_dir), "small", hits=3, saved_ms=30, misses=1, compile_ms=10)
    crate_times.add(str(cache_dir), "big", hits=1, saved_ms=65_000, misses=1, compile_ms=65_000)
    crate_times.add(str(cache_dir), "never_hit", misses=1, compile_ms=500)
    report = json.loads(buildcache("report", "--json").stdout)
    assert [row["crate"] for row in report["crates"]] == ["big", "small", "never_hit"]
    assert report["time_saved_ms"] == 65_030 and report["compile_ms"] == 65_510
    assert report["crates"][0] == {
        "crate": "big",
        "hits": 1,
        "time_saved_ms": 65_000,
        "misses": 1,
        "compile_ms": 65_000,
    }
    table = buildcache("report", "--top", "1").stdout.splitlines()
    assert table[1].split() == ["big", "1", "1", "min", "05", "s", "1", "1", "min", "05", "s"]
    assert "2 more" in table[2] and table[-1].startswith("Total: 1 min 05 s")


def test_stats_zero_forgets_the_per_crate_records(cache_dir: Path) -> None:
    cache_dir.mkdir()
    crate_times.add(str(cache_dir), "serde", hits=1, saved_ms=5)
    assert json.loads(buildcache("report", "--json").stdout)["crates"] != []
    assert buildcache("stats", "--zero").returncode == 0
    assert json.loads(buildcache("report", "--json").stdout)["crates"] == []


def test_a_bad_top_is_an_error(cache_dir: Path) -> None:
    result = buildcache("report", "--top", "0")
    assert result.returncode == 1 and "--top" in result.stderr
