"""Skip a failing remote for a while, in every process that uses it.

Each wrapper lives for one rustc call, so what one learned about a dead remote must
be on disk for the next: a small state file, `failures skip_until`, next to the
helper's socket. Written only when something fails or the first success after a
failure, so a healthy remote costs one small read per remote lookup. Lost updates
between concurrent writers only shift when skipping starts by a call or two.
"""

from __future__ import annotations

import time

from buildcache.cache.atomic import atomic_write

# Failures in a row before the remote is skipped: one timeout can be a hiccup, three
# in a row are an outage, and each costs a build step the full timeout.
FAILURES_BEFORE_SKIP = 3
# How long it is skipped before one call tries again: long enough that a dead server
# costs a build a few timeouts in all, short enough that a restarted one is used soon.
SKIP_SECONDS = 60.0


def _read(path: str) -> tuple[int, float]:
    try:
        with open(path) as handle:
            failures, skip_until = handle.read().split()
        return int(failures), float(skip_until)
    except (OSError, ValueError):
        return 0, 0.0


def should_skip(path: str) -> bool:
    return _read(path)[1] > time.time()


def record_failure(path: str) -> None:
    failures, _ = _read(path)
    failures += 1
    # The count is kept through the pause: if the first call after it fails too, the
    # remote is skipped again at once. Only a success starts counting afresh.
    skip_until = time.time() + SKIP_SECONDS if failures >= FAILURES_BEFORE_SKIP else 0.0
    _write(path, failures, skip_until)


def record_success(path: str) -> None:
    if _read(path) != (0, 0.0):
        _write(path, 0, 0.0)


def _write(path: str, failures: int, skip_until: float) -> None:
    try:
        atomic_write(path, f"{failures} {skip_until}\n".encode(), mode=0o600)
    except OSError:
        pass  # best effort: the next failure tries again
