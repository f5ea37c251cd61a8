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
