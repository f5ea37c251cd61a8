"""Hold cargo's own build lock on profile dirs while sweep deletes from them.

cargo takes an exclusive flock on `<profile>/.cargo-lock` for the length of a
build. Holding the same lock means sweep never deletes under a running build,
and a build started meanwhile waits for sweep instead of reading half a unit.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sys
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def cargo_locks(profiles: list[Path]) -> Iterator[None]:
    """Lock every profile dir, all or nothing; wait (and say so) while cargo builds.

    cargo takes its profile locks in its own order (the host profile before
    `<triple>/<profile>`), so holding some locks while waiting for another could
    deadlock with a build doing the opposite. Instead: try them all without waiting;
    on a busy one, let go of everything, wait for that one, and start over.
    """
    with contextlib.ExitStack() as stack:
        locks = []
        # One lock per real dir: two opens of one file would block each other.
        for profile in sorted({Path(os.path.realpath(p)) for p in profiles}):
            lock = profile / ".cargo-lock"
            try:
                fd = os.open(lock, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
            except OSError:
                continue  # no lock file: cargo has not built here, nothing to wait for
            stack.callback(os.close, fd)
            locks.append((fd, lock))
        while True:
            busy = _lock_all_or_none(locks)
            if busy is None:
                break
            fd, lock = busy
            print(f"buildcache: waiting for the cargo build holding {lock}", file=sys.stderr)
            fcntl.flock(fd, fcntl.LOCK_EX)
            fcntl.flock(fd, fcntl.LOCK_UN)
        yield


def _lock_all_or_none(locks: list[tuple[int, Path]]) -> tuple[int, Path] | None:
    """Take every lock; if one is busy, release the ones taken and return the busy one."""
    taken: list[int] = []
    for fd, lock in locks:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            for held in taken:
                fcntl.flock(held, fcntl.LOCK_UN)
            return fd, lock
        taken.append(fd)
    return None
