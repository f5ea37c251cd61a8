"""A short per-crate journal of the inputs behind each stored key, for `buildcache explain`.

`<cache>/crates/<crate name>.journal` keeps the newest JOURNAL_LENGTH records, each
the full set of inputs of one stored compile, so explain can say exactly which input
differs between a miss and the nearest earlier entry instead of guessing. Written
only on misses (a hit changes nothing worth explaining), under a lock: two builds
missing the same crate at once must not drop each other's records.
"""

from __future__ import annotations

import fcntl
import marshal
import os
import time

from buildcache.cache.atomic import atomic_write, makedirs

JOURNAL_LENGTH = 16
MARSHAL_VERSION = 4


def journal_path(cache_dir: str, crate: str) -> str:
    return os.path.join(cache_dir, "crates", f"{crate}.journal")


def read_journal(cache_dir: str, crate: str) -> list[dict[str, object]]:
    try:
        with open(journal_path(cache_dir, crate), "rb") as handle:
            records = marshal.loads(handle.read())
    except (FileNotFoundError, EOFError, ValueError, TypeError):
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
    lock_fd = os.open(os.path.join(os.path.dirname(path), "journal.lock"), os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(lock_fd, fcntl.LOCK_EX)
        records = [record] + [r for r in read_journal(cache_dir, crate) if r.get("key") != key]
        atomic_write(path, marshal.dumps(records[:JOURNAL_LENGTH], MARSHAL_VERSION))
    finally:
        os.close(lock_fd)
