"""Smoke test for `make bench`: the harness runs end to end and reports well-formed numbers.

Only the no-wrapper configurations on the tiny generated workspace, so it
needs neither the registry nor sccache and stays well under a minute. The
full benchmark is `make bench`, not part of `make test`.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
HARNESS = REPO / "bench" / "run_bench.py"


@pytest.mark.cargo
def test_quick_bench_without_wrapper_prints_a_table_and_saves_json(tmp_path: Path) -> None:
    json_path = tmp_path / "bench.json"
    result = subprocess.run(
        [
            sys.executable,
            str(HARNESS),
            "--quick",
            "--tools",
            "none",
            "--json",
            str(json_path),
            "--workdir",
            str(tmp_path / "work"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr

    data = json.loads(json_path.read_text())
    assert data["workspace"]["kind"] == "generated"
    assert data["workspace"]["packages"] >= 4
    assert data["runs"] == 1
    assert set(data["configs"]) == {"cold-incr-off/none", "warm-dev/none"}
    for config in data["configs"].values():
        assert config["tool"] == "none"
        (run,) = config["runs"]
        assert run["seconds"] > 0
        assert run["same_output"] is True
        assert config["median_seconds"] == run["seconds"]
    assert data["warnings"] == []

    table = result.stdout
    assert "scenario" in table and "median s" in table
    rows = [line for line in table.splitlines() if line.startswith(("cold,", "warm,"))]
    assert len(rows) == 2
    assert rows[0].startswith("cold, CARGO_INCREMENTAL=0") and "no wrapper" in rows[0]
    assert rows[1].startswith("warm, dev profile") and "no cache" in rows[1]
    for row in rows:
        median = float(row.split()[-3])  # scenario, tool, median, the one run, "-"
        assert median > 0


@pytest.mark.cargo
def test_quick_bench_with_buildcache_reports_per_call_figures_and_cache_size(
    tmp_path: Path,
) -> None:
    """The rows issue 13 added: fixed cost per call, a hit end to end, the cache's size."""
    json_path = tmp_path / "bench.json"
    result = subprocess.run(
        [
            sys.executable,
            str(HARNESS),
            "--quick",
            "--tools",
            "buildcache",
            "--json",
            str(json_path),
            "--workdir",
            str(tmp_path / "work"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr

    data = json.loads(json_path.read_text())
    assert data["warnings"] == []
    figures = data["per_call"]["buildcache"]
    assert figures["rounds"] >= 3 and figures["probe_entry_bytes"] > 0
    assert figures["rustc_vv_ms"] > 0 and figures["hit_ms"] > 0
    assert data["call_overhead_ms"] == {"buildcache": figures["fixed_ms"]}
    for key in ("cold-incr-off/buildcache", "cold-dev/buildcache"):
        (run,) = data["configs"][key]["runs"]
        assert run["cache_bytes"] > 0 and run["cache_files"] > 0
        assert data["cache_size"][key]["median_bytes"] == run["cache_bytes"]
    assert "cache_bytes" not in data["configs"]["warm-incr-off/buildcache"]["runs"][0]

    table = result.stdout
    assert "buildcache end-to-end per hit (measured)" in table
    assert "buildcache fixed cost per call" in table
    assert "cache after the cold build" in table
