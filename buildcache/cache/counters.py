"""Counters, kept in 16 small files (one per shard) so concurrent rustc processes rarely
wait for each other: `<cache>/<shard>/stats`, updated under an flock on `<shard>/stats.lock`
and read under a shared one. Rewritten in place, not replaced by a renamed temp file:
every call updates a counter, and on a filesystem without a journal each new inode
costs a scan past every recently deleted one (ext4 will not reuse an inode for 30 s),
about half a millisecond per file in a cold build. The lock is what keeps a reader
from seeing half a write. A file is never shortened: a shorter text is padded with
empty lines to the old length, so each update is a single write of one small block,
and no old line can survive past a new text's end. A damaged line counts from zero.

Each file holds `name value` lines. Event counters only grow (until `stats --zero`);
`bytes` and `files` track the shard's size so the size cap can be checked without
walking the cache, and `compression_saved` how many more bytes its files would take
uncompressed (for the compression ratio `stats` shows). They can drift if a process
dies between writing an entry and counting it; eviction and `trim` recount them from
the disk.
"""

from __future__ import annotations

import fcntl
import os

from buildcache.cache.atomic import is_real_dir, makedirs, read_all, read_locked

SHARDS = "0123456789abcdef"
EVENT_COUNTERS = (
    "requests",  # every rustc call the wrapper saw
    "hits",  # served from the cache, rustc not run
    "misses",  # cacheable, not in the cache: rustc ran (and its result was stored)
    "non_cacheable",  # passed straight to rustc (-vV, --print, stdin, unusual flags)
    "errors",  # internal failures: rustc ran unchanged instead
    "compile_failed",  # cacheable but rustc failed (not a miss: failures are never stored)
    "not_stored",  # rustc succeeded but the result was unsafe to store (a source changed)
    "corrupt",  # cache files that failed verification and were removed
    "disabled",  # calls made while BUILDCACHE_DISABLE was on
    "evictions",  # files removed to respect the size cap
    "time_saved_ms",  # on each hit, how long the compile it replaced took (rustc's)
    # The same events for C/C++ object compiles (cc-rs sends them through the wrapper).
    "c_requests",
    "c_hits",
    "c_misses",
    "c_non_cacheable",
    "c_errors",
    "c_compile_failed",
    "c_not_stored",
    "c_disabled",
    # Remote tiers (buildcache/remote). A remote hit also counts in `hits`.
    "remote_hits",  # served from a remote tier (then written back to the local one)
    "remote_misses",  # asked a remote, it had nothing usable
    "remote_errors",  # a tier or the helper failed to answer (the call went on without)
    "remote_timeouts",  # the helper did not answer within BUILDCACHE_REMOTE_TIMEOUT
    "remote_skipped",  # lookups not even tried: the remote failed repeatedly just before
    "remote_corrupt",  # remote values that failed their checksum or format checks
    "remote_rejected",  # remote values without a valid signature, with a key required
    "remote_bytes_down",  # bytes received from the helper
    "remote_bytes_up",  # bytes the helper uploaded (counted by the helper)
    "remote_uploads",  # values the helper uploaded
    "remote_upload_errors",  # uploads that failed or were skipped
    "remote_wait_ms",  # time wrappers spent waiting on the helper
    "c_time_saved_ms",
    "c_remote_hits",  # C/C++ objects served from a remote tier (also in c_hits)
    # Remote hits per tier, by position in BUILDCACHE_REMOTE (the tier that served the
    # entry). Fixed names keep the stats files' fixed format; a fifth tier and later
    # count in the last one (stats says so).
    *(f"remote_tier{number}_hits" for number in range(1, 5)),
)
# How many tiers get their own hit counter (the remote_tierN_hits above).
COUNTED_TIERS = 4
SIZE_COUNTERS = ("bytes", "files", "compression_saved")
ALL_COUNTERS = EVENT_COUNTERS + SIZE_COUNTERS


STATS_NAME = "stats"
LOCK_NAME = "stats.lock"


def _shard_dir(cache_dir: str, shard: str) -> str:
    return os.path.join(cache_dir, shard)


def _parse(text: str) -> dict[str, int]:
    values = dict.fromkeys(ALL_COUNTERS, 0)
    for line in text.splitlines():
        name, _, number = line.partition(" ")
        if name in values:
            try:
                values[name] = int(number)
            except ValueError:
                pass  # a damaged line counts from zero again rather than failing a build
    return values


def _format(values: dict[str, int]) -> bytes:
    return "".join(f"{name} {values[name]}\n" for name in ALL_COUNTERS).encode()


def read_shard(cache_dir: str, shard: str) -> dict[str, int]:
    directory = _shard_dir(cache_dir, shard)
    data = read_locked(os.path.join(directory, STATS_NAME), os.path.join(directory, LOCK_NAME))
    return _parse(data.decode("utf-8", "replace") if data else "")


def update_shard(
    cache_dir: str,
    shard: str,
    deltas: dict[str, int],
    *,
    absolute: dict[str, int] | None = None,
) -> dict[str, int]:
    """Add deltas (and set absolute values) under the shard's lock; return the new values."""
    directory = _shard_dir(cache_dir, shard)
    makedirs(cache_dir, directory)
    flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW
    lock_fd = os.open(os.path.join(directory, LOCK_NAME), flags, 0o644)
    try:
        fcntl.flock(lock_fd, fcntl.LOCK_EX)
        fd = os.open(os.path.join(directory, STATS_NAME), flags, 0o644)
        try:
            values = _parse(read_all(fd).decode("utf-8", "replace"))
            for name, delta in deltas.items():
                values[name] = values.get(name, 0) + delta
            if absolute:
                values.update(absolute)
            data = _format(values)
            data += b"\n" * (os.fstat(fd).st_size - len(data))  # never shorter: see above
            if os.pwrite(fd, data, 0) != len(data):
                raise OSError(f"short write to the {shard} shard's stats")
        finally:
            os.close(fd)
        return values
    finally:
        os.close(lock_fd)  # closing releases the flock


def read_totals(cache_dir: str) -> dict[str, int]:
    totals = dict.fromkeys(ALL_COUNTERS, 0)
    for shard in SHARDS:
        for name, value in read_shard(cache_dir, shard).items():
            totals[name] += value
    return totals


def zero_events(cache_dir: str) -> None:
    """Reset the event counters; the size counters describe the disk and are kept."""
    for shard in SHARDS:
        if is_real_dir(_shard_dir(cache_dir, shard)):
            update_shard(cache_dir, shard, {}, absolute=dict.fromkeys(EVENT_COUNTERS, 0))
