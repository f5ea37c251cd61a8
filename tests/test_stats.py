from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest

from buildcache.cache import counters


def _bump(cache_dir: str, times: int) -> None:
    for index in range(times):
        counters.update_shard(cache_dir, counters.SHARDS[index % 4], {"requests": 1, "hits": 1})


def test_counters_add_up_across_shards(tmp_path: Path) -> None:
    counters.update_shard(str(tmp_path), "0", {"hits": 2, "bytes": 100, "files": 1})
    counters.update_shard(str(tmp_path), "f", {"hits": 1, "misses": 4})
    totals = counters.read_totals(str(tmp_path))
    assert (totals["hits"], totals["misses"], totals["bytes"], totals["files"]) == (3, 4, 100, 1)


def test_concurrent_processes_lose_no_update(tmp_path: Path) -> None:
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_bump, args=(str(tmp_path), 50)) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert counters.read_totals(str(tmp_path))["requests"] == 200


def test_zero_resets_events_but_keeps_sizes(tmp_path: Path) -> None:
    counters.update_shard(str(tmp_path), "a", {"hits": 5, "bytes": 10, "files": 2})
    counters.zero_events(str(tmp_path))
    totals = counters.read_totals(str(tmp_path))
    assert (totals["hits"], totals["bytes"], totals["files"]) == (0, 10, 2)


def test_a_damaged_stats_file_counts_from_zero(tmp_path: Path) -> None:
    counters.update_shard(str(tmp_path), "b", {"hits": 5})
    (tmp_path / "b" / "stats").write_text("hits five\nmisses 2\n\x00\x01")
    assert counters.read_shard(str(tmp_path), "b")["misses"] == 2
    assert counters.update_shard(str(tmp_path), "b", {"hits": 1})["hits"] == 1


def test_an_update_rewrites_the_stats_file_in_place(tmp_path: Path) -> None:
    """No new inode per update: on a filesystem without a journal each new file costs
    a scan past every recently deleted one, and every call counts something."""
    counters.update_shard(str(tmp_path), "d", {"hits": 123456, "misses": 1})
    before = (tmp_path / "d" / "stats").stat()
    counters.update_shard(str(tmp_path), "d", {"hits": -123455})  # shorter: padded
    after = (tmp_path / "d" / "stats").stat()
    assert after.st_ino == before.st_ino and after.st_size == before.st_size
    assert sorted(p.name for p in (tmp_path / "d").iterdir()) == ["stats", "stats.lock"]
    values = counters.read_shard(str(tmp_path), "d")
    assert (values["hits"], values["misses"]) == (1, 1)


def test_a_symlinked_stats_file_is_not_written_through(tmp_path: Path) -> None:
    (tmp_path / "e").mkdir()
    victim = tmp_path / "victim"
    victim.write_text("not ours\n")
    (tmp_path / "e" / "stats").symlink_to(victim)
    try:
        counters.update_shard(str(tmp_path), "e", {"hits": 1})
    except OSError:
        pass  # refused: the wrapper counts nothing rather than write through the link
    assert victim.read_text() == "not ours\n"
    assert counters.read_shard(str(tmp_path), "e")["hits"] == 0


def test_a_filesystem_without_flock_still_shows_the_stats(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    counters.update_shard(str(tmp_path), "f", {"hits": 3})

    def no_locks(fd: int, operation: int) -> None:
        raise OSError(37, "No locks available")  # ENOLCK: an NFS mount without lockd

    monkeypatch.setattr(counters.fcntl, "flock", no_locks)
    assert counters.read_totals(str(tmp_path))["hits"] == 3


def test_zero_keeps_what_compression_saves_and_resets_time_saved(tmp_path: Path) -> None:
    counters.update_shard(
        str(tmp_path), "c", {"time_saved_ms": 900, "bytes": 100, "compression_saved": 300}
    )
    counters.zero_events(str(tmp_path))
    totals = counters.read_totals(str(tmp_path))
    assert (totals["time_saved_ms"], totals["compression_saved"]) == (0, 300)


def test_the_summary_shows_stored_and_uncompressed_bytes(tmp_path: Path) -> None:
    from buildcache.reports.cache_summary import compression_summary

    totals = {"bytes": 0, "compression_saved": 0}
    assert compression_summary(totals)["compression_ratio"] == 1.0
    totals = {"bytes": 1000, "compression_saved": 3000}
    assert compression_summary(totals) == {
        "stored_bytes": 1000,
        "uncompressed_bytes": 4000,
        "compression_ratio": 4.0,
    }
    totals = {"bytes": 1000, "compression_saved": -5}  # drifted below zero: never below 1
    assert compression_summary(totals)["compression_ratio"] == 1.0


@pytest.mark.parametrize(
    ("milliseconds", "text"),
    [(0, "0 ms"), (999, "999 ms"), (1500, "1.5 s"), (61_000, "1 min 01 s"),
     (7_380_000, "2 h 03 min")],
)  # fmt: skip
def test_durations_read_like_a_person_would_say_them(milliseconds: int, text: str) -> None:
    from buildcache.reports.cache_summary import format_duration

    assert format_duration(milliseconds) == text


def test_remote_hits_per_tier_are_keyed_by_redacted_url() -> None:
    from buildcache.cache import counters
    from buildcache.reports.cache_summary import tier_hits

    totals = dict.fromkeys(counters.ALL_COUNTERS, 0)
    totals.update(remote_tier1_hits=3, remote_tier2_hits=5, remote_tier3_hits=1)
    remotes = ("redis://:secret@near:6379/0", "https://user:token@far/bc/")
    assert tier_hits(totals, remotes) == {
        "redis://***@near:6379/0": {"hits": 3},
        "https://***@far/bc/": {"hits": 5},
        "tier 3 (not configured now)": {"hits": 1},
    }
    many = tuple(f"redis://host{n}:6379/0" for n in range(1, 7))
    assert list(tier_hits(totals, many))[-1] == "redis://host4:6379/0 (and tiers 5-6)"


def test_c_remote_hits_show_in_the_c_column_and_under_c_cxx(cache_dir: Path) -> None:
    """Remote hits are counted per compiler; with none configured now, the remote rows
    still show while C/C++ hits from a remote are counted."""
    import json
    import os
    import subprocess

    from buildcache.cache.ownership import claim

    claim(str(cache_dir))
    counters.update_shard(str(cache_dir), "3", {"c_requests": 3, "c_hits": 3, "c_remote_hits": 2})
    env = {**os.environ, "BUILDCACHE_REMOTE": ""}

    def stats(*args: str) -> str:
        result = subprocess.run(
            ["buildcache", "stats", *args], capture_output=True, text=True, env=env
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    data = json.loads(stats("--json"))
    assert (data["c_cxx"]["hits"], data["c_cxx"]["remote_hits"]) == (3, 2)
    assert (data["remote_hits"], data["remote"]["hits"]) == (0, 0)  # rustc's
    row = next(line for line in stats().splitlines() if line.startswith("Remote hits"))
    assert row.split()[-2:] == ["0", "2"]
