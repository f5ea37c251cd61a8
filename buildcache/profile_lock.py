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
    """Lock every profile dir (sorted, so two sweeps cannot deadlock); wait if cargo runs."""
    with contextlib.ExitStack() as stack:
        for profile in sorted(set(profiles)):
            lock = profile / ".cargo-lock"
            try:
                fd = os.open(lock, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
            except OSError:
                continue  # no lock file: cargo has not built here, nothing to wait for
            stack.callback(os.close, fd)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                print(f"buildcache: waiting for the cargo build holding {lock}", file=sys.stderr)
                fcntl.flock(fd, fcntl.LOCK_EX)
        yield
