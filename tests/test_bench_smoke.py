"""Smoke test for `make bench`: the harness runs end to end and reports well-formed numbers.

The no-wrapper and buildcache configurations on the tiny generated workspace, so it
needs neither the registry nor sccache and stays well under a minute per test; the
warm build from a Redis tier starts a real redis-server (scripts/test-deps.sh installs
it; in CI a missing one fails the test). The full benchmark is `make bench`, not part
of `make test`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
HARNESS = REPO / "bench" / "run_bench.py"
sys.path.insert(0, str(REPO / "bench"))

import remotes  # noqa: E402
import run_bench  # noqa: E402
from remotes import remote_servers  # noqa: E402


def test_the_per_repetition_ratio_pairs_the_runs_of_one_repetition() -> None:
    """A machine that slows down between repetitions slows both builds of each alike."""
    from report import per_run_ratio

    slow_later = [{"rep": rep, "seconds": 10.0 * rep} for rep in (1, 2, 3)]
    wrapped = [{"rep": rep, "seconds": 10.5 * rep} for rep in (3, 1, 2)]
    assert per_run_ratio(wrapped, slow_later) == pytest.approx(1.05)
    assert per_run_ratio(wrapped[:1], slow_later) is None  # one repetition says nothing


def keys(configs: list[run_bench.Config]) -> list[str]:
    return [config.key for config in configs]


def test_remote_rows_come_per_tier_and_tool_and_bring_their_cold_build() -> None:
    every_tool = ("none", "buildcache", "sccache")
    assert keys(run_bench.selected_configs(every_tool, ("redis",), ("warm-from-redis",))) == [
        "cold-to-redis/buildcache",
        "cold-to-redis/sccache",
        "warm-from-redis/buildcache",
        "warm-from-redis/sccache",
    ]
    # sccache is compared over Redis only; "none" has no cache to put on a tier.
    assert keys(run_bench.selected_configs(every_tool, ("http",), ("remote",))) == [
        "cold-to-http/buildcache",
        "warm-from-http/buildcache",
    ]
    local_only = run_bench.selected_configs(every_tool, ())
    assert local_only and not [config for config in local_only if config.remote]


def test_a_warm_build_from_a_remote_gets_an_empty_local_cache_and_the_cold_target_path() -> None:
    cold, warm = run_bench.selected_configs(("buildcache",), ("redis",), ("warm-from-redis",))
    assert warm.filled_by == cold.key
    assert warm.target_slot == cold.target_slot
    assert warm.cache_slot != cold.cache_slot


def test_remote_option_takes_tiers_or_none() -> None:
    assert run_bench.parse_args([]).remote == ("redis", "http", "s3")
    assert run_bench.parse_args(["--remote", "none"]).remote == ()
    assert run_bench.parse_args(["--remote", "redis"]).remote_named
    with pytest.raises(SystemExit):
        run_bench.parse_args(["--remote", "ftp"])
    with pytest.raises(SystemExit):
        run_bench.parse_args(["--scenarios", "lukewarm"])
    with pytest.raises(SystemExit):  # nothing left to build
        run_bench.parse_args(["--scenarios", "warm-from-redis", "--remote", "none"])


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
    """The rows issue 13 added: fixed cost per call, a hit end to end (through the launch
    server and through the Python launcher), the cache's size."""
    json_path = tmp_path / "bench.json"
    result = subprocess.run(
        [
            sys.executable,
            str(HARNESS),
            "--quick",
            "--tools",
            "buildcache",
            "--remote",
            "none",
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
    without_server = data["per_call"]["buildcache-no-server"]
    assert without_server["hit_ms"] > 0  # every timed call a hit, through the Python launcher
    assert data["call_overhead_ms"] == {
        "buildcache": figures["fixed_ms"],
        "buildcache-no-server": without_server["fixed_ms"],
    }
    for key in ("cold-incr-off/buildcache", "cold-dev/buildcache"):
        (run,) = data["configs"][key]["runs"]
        assert run["cache_bytes"] > 0 and run["cache_files"] > 0
        assert data["cache_size"][key]["median_bytes"] == run["cache_bytes"]
    assert "cache_bytes" not in data["configs"]["warm-incr-off/buildcache"]["runs"][0]

    table = result.stdout
    assert "buildcache end-to-end per hit (measured)" in table
    assert "buildcache fixed cost per call" in table
    assert "buildcache-no-server fixed cost per call" in table
    assert "cache after the cold build" in table


@pytest.mark.cargo
@pytest.mark.parametrize(("tier", "label"), [("redis", "Redis"), ("s3", "S3 (s3s-fs)")])
def test_quick_bench_serves_a_warm_build_from_a_tier_with_an_empty_local_cache(
    tmp_path: Path, tier: str, label: str
) -> None:
    """Issue 12's rows: the cold build fills a tier, the warm one (a new, empty cache
    dir) is served from it entirely, and the binary prints the same. buildcache's
    storage helper is started before each timed build, as sccache's server is."""
    remote_class = remotes.REMOTE_KINDS[tier]
    if remote_class.find_program() is None:
        pytest.skip(f"{remote_class.program} is not installed (scripts/test-deps.sh installs it)")
    json_path = tmp_path / "bench.json"
    result = subprocess.run(
        [
            sys.executable,
            str(HARNESS),
            "--quick",
            "--tools",
            "buildcache",
            "--remote",
            tier,
            "--scenarios",
            "remote",
            "--json",
            str(json_path),
            "--workdir",
            str(tmp_path / "work"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        # Where s3s-fs was built, as found before the tests moved HOME.
        env={**os.environ, "BUILDCACHE_TEST_TOOLS": str(remote_servers.TEST_TOOLS)},
    )
    assert result.returncode == 0, result.stderr

    data = json.loads(json_path.read_text())
    assert data["warnings"] == []
    assert data["remotes"] == {tier: label}
    cold_key, warm_key = f"cold-to-{tier}/buildcache", f"warm-from-{tier}/buildcache"
    assert set(data["configs"]) == {cold_key, warm_key}
    (cold,) = data["configs"][cold_key]["runs"]
    assert cold["remote_entries"] > 0 and cold["remote_bytes"] > 0
    assert cold["stats"]["remote"]["upload_errors"] == 0
    (warm,) = data["configs"][warm_key]["runs"]
    assert warm["same_output"] is True
    # A new helper for the warm build's new cache dir, started before the timing.
    assert cold["helper_before_timing"] == warm["helper_before_timing"] == "started"
    stats = warm["stats"]
    assert stats["misses"] == 0 and stats["hits"] > 0
    assert stats["remote_hits"] == stats["hits"] and stats["local_hits"] == 0

    table = result.stdout
    assert f"warm from {label}, local cache empty" in table
    assert f"{stats['hits']}r/0/{stats['requests']}" in table
    assert "remote tier after the cold build" in table


@pytest.mark.parametrize(
    ("argv", "ci", "fails"),
    [
        ([], "", False),  # the default tiers: a missing server leaves its rows out
        ([], "true", True),  # in CI everything is installed: a missing server fails
        (["--remote", "redis"], "", True),  # asked for by name
    ],
)
def test_a_missing_redis_server_drops_its_rows_or_fails_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, argv: list[str], ci: str, fails: bool
) -> None:
    monkeypatch.setenv("CI", ci)
    monkeypatch.setattr(remote_servers, "installed", lambda program: None)
    monkeypatch.setattr(remote_servers, "s3s_fs_binary", lambda: None)
    bench = run_bench.Bench(run_bench.parse_args([*argv, "--tools", "buildcache"]), tmp_path)
    if fails:
        with pytest.raises(run_bench.BenchError, match="redis-server is not installed"):
            bench.start_remotes()
        return
    bench.start_remotes()
    assert not [config for config in bench.configs if config.remote]
    assert any("redis-server is not installed" in warning for warning in bench.warnings)
