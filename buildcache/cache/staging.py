"""Stores in flight: `<cache>/staging/`, where a miss's detached store keeps the copies
of rustc's outputs it is storing and holds `<base key>.lock` until it is done
(wrapper/detached_store.py). Lookups and `stats` wait on those locks; `trim` removes
what a killed store left behind."""

from __future__ import annotations

import fcntl
import os
import stat
import time

from buildcache.cache.atomic import is_real_dir

STAGING_DIR = "staging"
LOCK_SUFFIX = ".lock"
# How long a lookup waits for a store in flight of the entry it wants before it runs
# rustc instead. A store takes well under a second; this bounds a stuck one.
PENDING_WAIT_SECONDS = 30.0
# A staging dir this old belongs to a store that was killed: none takes an hour.
STALE_SECONDS = 3600.0
# A lock file younger than this may be one a store has created and not locked yet.
LOCK_GRACE_SECONDS = 60.0


def staging_dir(cache_dir: str) -> str:
    return os.path.join(cache_dir, STAGING_DIR)


def lock_path(cache_dir: str, base_key: str) -> str:
    return os.path.join(staging_dir(cache_dir), base_key + LOCK_SUFFIX)


def wait_for_store(cache_dir: str, base_key: str, timeout: float = PENDING_WAIT_SECONDS) -> bool:
    """Wait while a store of base_key is in flight. True when there was one (it has
    ended: look again), False when there was none or it outlasted the timeout."""
    path = lock_path(cache_dir, base_key)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return False
    try:
        deadline = time.monotonic() + timeout
        delay = 0.002
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    return False
                time.sleep(delay)
                delay = min(delay * 2, 0.05)
            except OSError:
                return False
    finally:
        os.close(fd)


def wait_for_all_stores(cache_dir: str, timeout: float = PENDING_WAIT_SECONDS) -> None:
    """Wait (at most timeout in all) for every store in flight, so counts are final."""
    try:
        names = os.listdir(staging_dir(cache_dir))
    except OSError:
        return
    deadline = time.monotonic() + timeout
    for name in names:
        if name.endswith(LOCK_SUFFIX):
            left = deadline - time.monotonic()
            if left <= 0:
                return
            wait_for_store(cache_dir, name[: -len(LOCK_SUFFIX)], left)


def remove_stale(cache_dir: str, *, now: float | None = None) -> int:
    """Remove what killed stores left behind; the number of dirs and files removed.

    A staging dir is made only while its store holds the lock of its base key (the
    dir's name starts with it), so a dir whose lock nobody holds is dead, whatever its
    age. A lock file nobody holds is removed once it is a minute old (younger, its
    store may be about to take it). Anything an hour old goes in any case."""
    staging = staging_dir(cache_dir)
    now = time.time() if now is None else now
    removed = 0
    if not is_real_dir(staging):
        return 0  # missing, or a symlink planted in the cache: nothing behind it is ours
    try:
        entries = list(os.scandir(staging))
    except OSError:
        return 0
    for entry in entries:
        try:
            info = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        age = now - info.st_mtime
        if entry.name.endswith(LOCK_SUFFIX):
            if age < LOCK_GRACE_SECONDS or (age < STALE_SECONDS and _held(entry.path)):
                continue
            try:
                os.unlink(entry.path)
                removed += 1
            except OSError:
                pass
        elif stat.S_ISDIR(info.st_mode):
            base_key = entry.name.partition(".")[0]
            if age < STALE_SECONDS and _held(lock_path(cache_dir, base_key)):
                continue
            remove_tree(entry.path)
            removed += 1
    return removed


def _held(path: str) -> bool:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return False
    except OSError:
        return True
    finally:
        os.close(fd)


def remove_tree(directory: str) -> None:
    """A staging dir holds only the copies we made: files, no subdirectories."""
    try:
        names = os.listdir(directory)
    except OSError:
        return
    for name in names:
        try:
            os.unlink(os.path.join(directory, name))
        except OSError:
            pass
    try:
        os.rmdir(directory)
    except OSError:
        pass
