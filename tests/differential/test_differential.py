"""CI mode of the differential harness: fixed seeds, a bounded number of steps each.

Each seed is a scenario of CI_STEPS steps (see edits.py); together they take about five
minutes on an idle two-core machine. A failure prints the seed, the steps so far, the
difference and the command that reproduces it. `make fuzz` runs random seeds for longer.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from .report import COLLECTED
from .runner import run_scenario

pytestmark = pytest.mark.cargo

CI_SEEDS = (1, 2, 3, 4)
CI_STEPS = 14


@pytest.mark.parametrize("seed", CI_SEEDS)
def test_cached_builds_behave_like_uncached_builds(seed: int, tmp_path: Path) -> None:
    # The last step rebuilds from a cleaned target dir, so every seed checks hits.
    result = run_scenario(seed, CI_STEPS, tmp_path / f"seed-{seed}", log=print, end_with_clean=True)
    COLLECTED.append(result)
    if result.failure:
        pytest.fail(result.failure.report(), pytrace=False)
    # A harness whose builds only ever miss would prove nothing.
    assert result.stats.get("hits", 0) > 0, f"seed {seed}: no cache hit in {result.stats}"
    shutil.rmtree(result.workdir, ignore_errors=True)
