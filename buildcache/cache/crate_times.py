"""Per-crate time saved, for `buildcache report`: `<cache>/crates/<crate>.times`.

Each file is one fixed-width line, `hits saved_ms misses compile_ms`, rewritten in
place under an flock on the file itself. A hit pays open, lock, read, write, close on
a file no other crate touches: the lock is per crate, so concurrent builds only wait
for each other on the same crate at the same moment (an append-only log would need
no lock, but grows with every hit and needs compacting, which is where appends get
lost). A damaged record counts from zero rather than failing a build. C/C++ compiles
are recorded under their source file's name, as `explain` does. `stats --zero`
removes the records with the counters.
"""

from __future__ import annotations

import fcntl
import os

from buildcache.cache.atomic import makedirs

SUFFIX = ".times"
# Room for four counters of up to 15 digits each: written whole, never truncated.
RECORD_SIZE = 64
FIELDS = ("hits", "time_saved_ms", "misses", "compile_ms")


def crates_dir(cache_dir: str) -> str:
    return os.path.join(cache_dir, "crates")


def _is_plain_name(crate: str) -> bool:
    return bool(crate) and "/" not in crate and not crate.startswith(".") and "\0" not in crate


def _parse(data: bytes) -> list[int]:
    try:
        values = [int(word) for word in data.split()]
    except ValueError:
        return [0] * len(FIELDS)
    if len(values) != len(FIELDS) or min(values) < 0:
        return [0] * len(FIELDS)
    return values


def add(
    cache_dir: str,
    crate: str,
    *,
    hits: int = 0,
    saved_ms: int = 0,
    misses: int = 0,
    compile_ms: int = 0,
) -> None:
    """Add to crate's record. Best effort: a stats failure must not fail a build."""
    if not _is_plain_name(crate):
        return
    directory = crates_dir(cache_dir)
    try:
        makedirs(cache_dir, directory)
        fd = os.open(
            os.path.join(directory, crate + SUFFIX),
            os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK,
            0o644,
        )
    except OSError:
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        values = _parse(os.pread(fd, RECORD_SIZE, 0))
        for index, delta in enumerate((hits, saved_ms, misses, compile_ms)):
            values[index] += delta
        line = " ".join(str(value) for value in values)
        if len(line) < RECORD_SIZE:
            os.pwrite(fd, line.ljust(RECORD_SIZE - 1).encode() + b"\n", 0)
    except OSError:
        pass
    finally:
        os.close(fd)


def read_all(cache_dir: str) -> dict[str, dict[str, int]]:
    """Every crate's record: {crate: {"hits", "time_saved_ms", "misses", "compile_ms"}}."""
    directory = crates_dir(cache_dir)
    try:
        names = [name for name in os.listdir(directory) if name.endswith(SUFFIX)]
    except OSError:
        return {}
    records = {}
    for name in names:
        try:
            fd = os.open(os.path.join(directory, name), os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_SH)  # never half of a write in progress
            data = os.read(fd, RECORD_SIZE)
        except OSError:
            continue
        finally:
            os.close(fd)
        records[name[: -len(SUFFIX)]] = dict(zip(FIELDS, _parse(data)))
    return records


def remove_all(cache_dir: str) -> None:
    """Forget every record (`stats --zero`)."""
    directory = crates_dir(cache_dir)
    try:
        names = [name for name in os.listdir(directory) if name.endswith(SUFFIX)]
    except OSError:
        return
    for name in names:
        try:
            os.unlink(os.path.join(directory, name))
        except OSError:
            pass
