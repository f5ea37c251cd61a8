"""A short per-crate journal of the inputs behind each stored key, for `buildcache explain`.

`<cache>/crates/<crate name>.journal` keeps the newest JOURNAL_LENGTH records, each
the full set of inputs of one stored compile, so explain can say exactly which input
differs between a miss and the nearest earlier entry instead of guessing. Written
only on misses (a hit changes nothing worth explaining), under a lock: two builds
missing the same crate at once must not drop each other's records. Rewritten in place
under that lock and read under it shared, like the counters (counters.py says why not
a renamed temp file); a process killed mid-write leaves a journal that reads as empty.
"""

from __future__ import annotations

import fcntl
import marshal
import os
import time

from buildcache.cache.atomic import makedirs, read_all, read_locked

JOURNAL_LENGTH = 16
MARSHAL_VERSION = 4


def journal_path(cache_dir: str, crate: str) -> str:
    return os.path.join(cache_dir, "crates", f"{crate}.journal")


def read_journal(cache_dir: str, crate: str) -> list[dict[str, object]]:
    path = journal_path(cache_dir, crate)
    return _parse(read_locked(path, _lock_path(path)) or b"")


def _lock_path(path: str) -> str:
    return os.path.join(os.path.dirname(path), "journal.lock")


def _parse(data: bytes) -> list[dict[str, object]]:
    try:
        records = marshal.loads(data)
    except (EOFError, ValueError, TypeError):
        return []
    return [r for r in records if isinstance(r, dict)] if isinstance(records, list) else []


def record_inputs(
    cache_dir: str,
    crate: str,
    key: str,
    inputs: dict[str, object],
    files: list[tuple[str, str]],
    env: list[tuple[str, str | None]],
) -> None:
    record = {
        "time": time.time(),
        "key": key,
        "cwd": os.getcwd(),
        "inputs": inputs,
        "files": files,
        "env_deps": env,
    }
    path = journal_path(cache_dir, crate)
    makedirs(cache_dir, os.path.dirname(path))
    flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW
    lock_fd = os.open(_lock_path(path), flags, 0o644)
    try:
        fcntl.flock(lock_fd, fcntl.LOCK_EX)
        fd = os.open(path, flags, 0o644)
        try:
            earlier = [r for r in _parse(read_all(fd)) if r.get("key") != key]
            data = marshal.dumps([record, *earlier][:JOURNAL_LENGTH], MARSHAL_VERSION)
            if os.pwrite(fd, data, 0) != len(data):
                raise OSError(f"short write to {path}")
            os.ftruncate(fd, len(data))
        finally:
            os.close(fd)
    finally:
        os.close(lock_fd)
