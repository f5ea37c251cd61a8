from __future__ import annotations

import os
import time
from pathlib import Path

from buildcache.cache import counters, eviction, store


def _entry_of_size(size: int) -> store.Entry:
    return store.Entry([("f", 0o644, b"x" * size)], b"", b"")


def test_cleaning_a_shard_removes_the_least_recently_used_first(tmp_path: Path) -> None:
    cache = str(tmp_path)
    keys = [f"a{index}" + "0" * 62 for index in range(4)]
    now = time.time()
    for age, key in zip((400, 300, 200, 100), keys):
        store.save_entry(cache, key, _entry_of_size(1000), compression_level=0)
        path = store.path_for(cache, key, "entry")
        os.utime(path, (now - age, now - age))
    store.load_entry(cache, keys[0])  # a hit makes the oldest the newest
    removed = eviction.clean_shard(cache, "a", 2500)
    assert removed == 2
    remaining = {k for k in keys if os.path.exists(store.path_for(cache, k, "entry"))}
    assert remaining == {keys[0], keys[3]}
    assert counters.read_shard(cache, "a")["files"] == 2


def test_cleaning_recounts_what_compression_saves_from_the_kept_entries(tmp_path: Path) -> None:
    cache = str(tmp_path)
    now = time.time()
    saved = []
    for age, key in ((200, "d1" + "0" * 62), (100, "d2" + "0" * 62)):
        saved.append(store.save_entry(cache, key, _entry_of_size(50_000), compression_level=3))
        os.utime(store.path_for(cache, key, "entry"), (now - age, now - age))
    counters.update_shard(cache, "d", {"compression_saved": 12345})  # drifted
    kept_size = os.path.getsize(store.path_for(cache, "d2" + "0" * 62, "entry"))
    assert eviction.clean_shard(cache, "d", kept_size) == 1
    assert counters.read_shard(cache, "d")["compression_saved"] == saved[1].compression_saved > 0


def test_evict_older_than_removes_old_files_even_under_the_cap(tmp_path: Path) -> None:
    cache = str(tmp_path)
    store.save_entry(cache, "b1" + "0" * 62, _entry_of_size(10), compression_level=0)
    store.save_entry(cache, "b2" + "0" * 62, _entry_of_size(10), compression_level=0)
    old = time.time() - 10 * 86400
    os.utime(store.path_for(cache, "b1" + "0" * 62, "entry"), (old, old))
    assert eviction.clean_shard(cache, "b", 10**9, older_than=time.time() - 86400) == 1


def test_stale_temp_files_of_killed_writers_are_removed(tmp_path: Path) -> None:
    directory = tmp_path / "c" / "1"
    directory.mkdir(parents=True)
    stale = directory / ".tmp-123-abcd"
    fresh = directory / ".tmp-456-abcd"
    stale.write_bytes(b"half")
    fresh.write_bytes(b"half")
    old = time.time() - 2 * eviction.STALE_TEMP_SECONDS
    os.utime(stale, (old, old))
    eviction.shard_files(str(tmp_path), "c")
    assert not stale.exists() and fresh.exists()


def test_a_busy_shard_is_skipped_not_waited_for(tmp_path: Path) -> None:
    import fcntl

    (tmp_path / "d").mkdir()
    with open(tmp_path / "d" / "clean.lock", "w") as holder:
        fcntl.flock(holder, fcntl.LOCK_EX)
        assert eviction.clean_shard(str(tmp_path), "d", 0) is None
