from __future__ import annotations

import multiprocessing
import os
from pathlib import Path

from buildcache.cache import crate_times


def _hit(cache_dir: str, times: int) -> None:
    for _ in range(times):
        crate_times.add(cache_dir, "serde", hits=1, saved_ms=10)


def test_hits_and_misses_add_up_per_crate(tmp_path: Path) -> None:
    cache = str(tmp_path)
    crate_times.add(cache, "serde", misses=1, compile_ms=800)
    crate_times.add(cache, "serde", hits=1, saved_ms=800)
    crate_times.add(cache, "serde", hits=1, saved_ms=750)
    crate_times.add(cache, "foo.c", misses=1, compile_ms=40)
    assert crate_times.read_all(cache) == {
        "serde": {"hits": 2, "time_saved_ms": 1550, "misses": 1, "compile_ms": 800},
        "foo.c": {"hits": 0, "time_saved_ms": 0, "misses": 1, "compile_ms": 40},
    }


def test_concurrent_hits_lose_no_update(tmp_path: Path) -> None:
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_hit, args=(str(tmp_path), 50)) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert crate_times.read_all(str(tmp_path))["serde"]["time_saved_ms"] == 2000


def test_a_damaged_record_counts_from_zero(tmp_path: Path) -> None:
    crate_times.add(str(tmp_path), "serde", hits=1, saved_ms=5)
    (tmp_path / "crates" / "serde.times").write_bytes(b"1 five\x00")
    assert crate_times.read_all(str(tmp_path))["serde"]["hits"] == 0
    crate_times.add(str(tmp_path), "serde", hits=1, saved_ms=5)
    assert crate_times.read_all(str(tmp_path))["serde"]["time_saved_ms"] == 5


def test_names_that_are_not_plain_file_names_are_not_recorded(tmp_path: Path) -> None:
    for name in ("../escape", ".hidden", "", "a/b"):
        crate_times.add(str(tmp_path), name, hits=1)
    assert crate_times.read_all(str(tmp_path)) == {}
    assert not (tmp_path / "escape.times").exists()


def test_a_symlinked_record_is_not_written_through(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("keep me")
    (tmp_path / "cache" / "crates").mkdir(parents=True)
    os.symlink(victim, tmp_path / "cache" / "crates" / "serde.times")
    crate_times.add(str(tmp_path / "cache"), "serde", hits=1, saved_ms=5)
    assert victim.read_text() == "keep me"


def test_remove_all_forgets_every_record(tmp_path: Path) -> None:
    crate_times.add(str(tmp_path), "serde", hits=1, saved_ms=5)
    crate_times.remove_all(str(tmp_path))
    assert crate_times.read_all(str(tmp_path)) == {}
