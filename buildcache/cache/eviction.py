"""Keeping the cache under its size cap, least recently used first (entries are touched on hits).

On the hot path, a store that pushes its shard over 1/16 of the cap cleans that one
shard down to CLEAN_TARGET_FRACTION of its share, after a non-blocking try-lock
wins: a second process finding the lock taken just carries on (ccache's scheme).
`buildcache trim` applies the same to the whole cache. Symlinks inside the cache are
never followed: whatever they point at is not ours to count or remove.
"""

from __future__ import annotations

import fcntl
import os
import stat
import time

from buildcache.cache import counters, store
from buildcache.cache.atomic import TEMP_PREFIX, is_real_dir

# Clean below the cap, not to it, so the next few stores don't each trigger a cleanup.
CLEAN_TARGET_FRACTION = 0.9
# A temp file this old belongs to a process that died mid-write.
STALE_TEMP_SECONDS = 3600
CACHE_FILE_SUFFIXES = (".entry", ".manifest", ".digest")


class CacheFile:
    __slots__ = ("path", "size", "mtime")

    def __init__(self, path: str, size: int, mtime: float) -> None:
        self.path = path
        self.size = size
        self.mtime = mtime


def shard_files(cache_dir: str, shard: str, *, now: float | None = None) -> list[CacheFile]:
    """Every entry and manifest of a shard; removes stale temp files on the way."""
    now = time.time() if now is None else now
    found = []
    shard_dir = os.path.join(cache_dir, shard)
    if not is_real_dir(shard_dir):
        return []  # missing, or a symlink planted in the cache: nothing there is ours
    for sub in os.listdir(shard_dir):
        sub_dir = os.path.join(shard_dir, sub)
        if len(sub) != 1 or not is_real_dir(sub_dir):
            continue
        with os.scandir(sub_dir) as entries:
            for item in entries:
                try:
                    info = item.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue
                if not stat.S_ISREG(info.st_mode):
                    continue  # a symlink's target is not ours to remove or count
                if item.name.startswith(TEMP_PREFIX):
                    if now - info.st_mtime > STALE_TEMP_SECONDS:
                        _unlink(item.path)
                    continue
                if item.name.endswith(CACHE_FILE_SUFFIXES):
                    found.append(CacheFile(item.path, info.st_size, info.st_mtime))
    return found


def _unlink(path: str) -> bool:
    try:
        os.unlink(path)
        return True
    except FileNotFoundError:
        return False


def _try_lock(path: str) -> int | None:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def clean_shard(
    cache_dir: str, shard: str, limit_bytes: int, *, older_than: float | None = None
) -> int | None:
    """Evict a shard's oldest files until it holds at most limit_bytes (and none older
    than `older_than`, a timestamp). Returns files removed, or None if another process
    is already cleaning this shard."""
    if not is_real_dir(os.path.join(cache_dir, shard)):
        return 0  # nothing stored in this shard, or a symlink: nothing of ours to touch
    lock_fd = _try_lock(os.path.join(cache_dir, shard, "clean.lock"))
    if lock_fd is None:
        return None
    try:
        files = sorted(shard_files(cache_dir, shard), key=lambda f: f.mtime)
        total = sum(f.size for f in files)
        kept = []
        removed = 0
        for item in files:
            too_old = older_than is not None and item.mtime < older_than
            if (total > limit_bytes or too_old) and _unlink(item.path):
                total -= item.size
                removed += 1
            else:
                kept.append(item)
        counters.update_shard(
            cache_dir,
            shard,
            {"evictions": removed},
            absolute={
                "bytes": sum(f.size for f in kept),
                "files": len(kept),
                # One small read per kept entry, only when a shard is cleaned.
                "compression_saved": sum(
                    store.compression_savings(f.path) for f in kept if f.path.endswith(".entry")
                ),
            },
        )
        return removed
    finally:
        os.close(lock_fd)


def clean_after_store(cache_dir: str, shard: str, shard_bytes: int, max_bytes: int) -> None:
    """Called on the hot path after a store: clean this shard only if it is over its share."""
    share = max_bytes // len(counters.SHARDS)
    if shard_bytes > share:
        clean_shard(cache_dir, shard, int(share * CLEAN_TARGET_FRACTION))
