"""Hold cargo's own build lock on profile dirs while sweep deletes from them.

cargo flocks `<profile>/.cargo-lock` for the length of a build. Newer cargo
(1.97 nightly, in both layouts) locks the build dir's profile with
`.cargo-build-lock` and takes `.cargo-lock` only in the artifact dir, shared; a
separate build dir then has no `.cargo-lock` at all. Holding both exclusively means
sweep never deletes under a running build of either cargo, and a build started
meanwhile waits for sweep instead of reading half a unit.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sys
from collections.abc import Iterator
from pathlib import Path

# Every lock file a cargo build holds on a profile dir, old cargo's and new cargo's.
PROFILE_LOCKS = (".cargo-lock", ".cargo-build-lock")


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
        # Each lock file opened once: two opens of one file would block each other.
        real_profiles = sorted({Path(os.path.realpath(p)) for p in profiles})
        for lock in (profile / name for profile in real_profiles for name in PROFILE_LOCKS):
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
