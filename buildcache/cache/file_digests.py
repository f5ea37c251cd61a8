"""Content digests of files we may see many times (extern crates, native libraries, a
linker), remembered so that each rustc call does not re-read hundreds of MB.

A record is addressed by the file's path *and* its stat stamp (inode, size, mtime,
ctime), and holds the digest of the content it had then. Nothing is ever validated
or updated: a file changed in any way has a new stamp (ctime moves on every write,
chmod or rename, and no user tool can set it back), so it simply has no record yet
and is hashed again. Stale records are never read again and age out of the cache
like entries (eviction.py counts `.digest` files in). A record is only written for
a file whose ctime is older than RECENT_SECONDS: a coarse clock could give a file
rewritten right after hashing the same stamp (ccache's "file too new" rule).

The digests are of the exact bytes: a dependent keyed by them identifies the very
artifact it was compiled against, which rustc requires (its crate hash covers the
working directory, so "the same" crate built in two checkouts is not interchangeable).
"""

from __future__ import annotations

import os
import time

from buildcache.cache.atomic import atomic_write, makedirs
from buildcache.cache.digests import file_digest, is_hex_digest, sha256, text_digest

TYPE_CHECKING = False  # typing costs ~10 ms to import on the hot path
if TYPE_CHECKING:
    from types import ModuleType

RECORD_SUFFIX = ".digest"
# Records written by this process, [bytes, files]: the wrapper adds them to the counters
# of the call, so the size cap sees them (eviction recounts each shard exactly).
WRITTEN = [0, 0]
# Kernel file timestamps come from a clock that advances once per tick (1-10 ms);
# a file this recent could change again without its stamp changing.
RECENT_SECONDS = 0.1


def stamp(info: os.stat_result) -> str:
    return f"{info.st_ino} {info.st_size} {info.st_mtime_ns} {info.st_ctime_ns}"


def _record_path(cache_dir: str, name: str) -> str:
    return os.path.join(cache_dir, name[0], name[1], name + RECORD_SUFFIX)


def _recall(cache_dir: str, name: str) -> str | None:
    try:
        with open(_record_path(cache_dir, name), encoding="ascii") as handle:
            digest = handle.read()
    except (OSError, UnicodeDecodeError):
        return None
    # Not sealed like the other records (they are read on every call), but a damaged
    # character is no longer lowercase hex: such a record is hashed again, not trusted.
    return digest if is_hex_digest(digest) else None


def _remember(
    cache_dir: str,
    name: str,
    digest: str | bytes,
    info: os.stat_result | None,
    *,
    written_by_us: bool = False,
    read_from_ns: int | None = None,
) -> None:
    """info: the stat of the file the digest is of (None: the record is of content,
    addressed by content, not by a stamp); read_from_ns: when its reading began."""
    if info is not None and not written_by_us and too_new(info, read_from_ns):
        return
    path = _record_path(cache_dir, name)
    try:
        makedirs(cache_dir, os.path.dirname(path))
        fresh = not os.path.exists(path)
        atomic_write(path, digest if isinstance(digest, bytes) else digest.encode("ascii"))
        if fresh:
            WRITTEN[0] += len(digest)
            WRITTEN[1] += 1
    except OSError:
        pass  # a record only saves time


def too_new(info: os.stat_result, read_from_ns: int | None = None) -> bool:
    """Whether the file had changed within RECENT_SECONDS of when its reading began (of
    now, if not told): a write in the same clock tick as the one before could leave
    its stamp as it was, so what was read may not be what the stamp stands for."""
    now = time.time_ns() if read_from_ns is None else read_from_ns
    return now - info.st_ctime_ns < RECENT_SECONDS * 1e9


# Reads of a file whose stamp moved while it was hashed, before content_digest gives up.
# cargo starts a pipelined dependent on the extern's .rmeta while the extern's own
# compile is still finishing; the stamp can move under the first read (about one call
# in 650 in the differential runs), and the file holds still a moment later.
READ_ATTEMPTS = 3


def content_digest(cache_dir: str, path: str, *, shared: bool = False) -> str:
    """sha256 of path's content; raises OSError when it cannot be read, or when it keeps
    changing while it is read. shared: a toolchain file, whose digest every cache dir of
    this user shares (shared_digests.py): where those records can be kept, they are the
    only ones used for it."""
    for attempt in range(1, READ_ATTEMPTS + 1):
        try:
            return _content_digest(cache_dir, path, shared)
        except FileChanged:
            if attempt == READ_ATTEMPTS:
                raise
            time.sleep(0.005 * attempt)
    raise AssertionError("not reached")


class FileChanged(OSError):
    """The file's stamp moved while it was read: what was read may be torn."""


def _content_digest(cache_dir: str, path: str, shared: bool) -> str:
    info = os.stat(path)
    read_from_ns = time.time_ns()
    name = text_digest("file", os.path.abspath(path), stamp(info))
    if shared and _shared_records() is not None:
        return _shared_content_digest(name, path, info, read_from_ns)
    digest = _recall(cache_dir, name)
    if digest is None:
        digest = _read_digest(path, info)
        _remember(cache_dir, name, digest, info, read_from_ns=read_from_ns)
    return digest


def _shared_content_digest(name: str, path: str, info: os.stat_result, read_from_ns: int) -> str:
    """From the shared records or from reading the file, never from a cache dir's own
    records: what this returns goes into records every cache dir trusts (a directory's
    digest, the compiler's identity), and a record planted in one cache dir, which
    others than this user may write, must not reach them. One process reads a file at a
    time; the others wait for its lock and take the record it wrote."""
    from buildcache.cache import shared_digests

    digest = shared_digests.recall(name)
    if digest is not None:
        return digest
    lock = shared_digests.HashingLock(name)
    try:
        digest = shared_digests.recall(name)  # read by whoever held the lock
        if digest is None:
            digest = _read_digest(path, info)
            if not too_new(info, read_from_ns):
                shared_digests.remember(name, digest)
    finally:
        lock.release()
    return digest


def _read_digest(path: str, info: os.stat_result) -> str:
    """The digest of path's content, read whole; raises FileChanged when its stamp is no
    longer info's after the read."""
    digest = file_digest(path)
    if stamp(os.stat(path)) != stamp(info):
        raise FileChanged(f"{path} changed while it was read")
    return digest


def remember_output(
    cache_dir: str, path: str, data: bytes | memoryview, info: os.stat_result
) -> str:
    """Record the digest of an output we just wrote (a restore) or just read whole
    after rustc wrote it (a miss), so its dependents need not read it again. info is
    the stat of the very file the data was written to or read from. Returns the digest
    (the entry keeps it: a hit then records it without hashing)."""
    from buildcache.cache.digests import sha256

    digest = sha256(data).hexdigest()
    remember_written(cache_dir, path, digest, info)
    return digest


def remember_written(cache_dir: str, path: str, digest: str, info: os.stat_result) -> None:
    """Record digest for the output at path whose stat is info: its content when we wrote
    it, as the entry it came from says (the entry's checksum covers the digest). info
    comes from the file's own descriptor, not from path again: a file put at path since
    by someone else must not get our digest."""
    name = text_digest("file", os.path.abspath(path), stamp(info))
    _remember(cache_dir, name, digest, info, written_by_us=True)


def recall_names(cache_dir: str, name: str, *, shared: bool = False) -> list[str] | None:
    """A list of file names remembered under name (remember_names), or None. Names go
    as the file system has them (os.fsencode), whatever the locale's encoding.
    shared: one that any cache dir of this user remembered will do (shared_digests.py)."""
    try:
        with open(_record_path(cache_dir, name), "rb") as handle:
            names = _unseal_names(handle.read())
    except OSError:
        names = None
        if shared:
            from buildcache.cache import shared_digests

            record = shared_digests.recall_record(name)
            if record is not None and (names := _unseal_names(record)) is not None:
                _remember(cache_dir, name, record, None)  # the next call opens one file
    return names


def remember_names(cache_dir: str, name: str, names: list[str], *, shared: bool = False) -> None:
    """Record a list of file names, sealed by its digest."""
    body = b"\0".join(os.fsencode(item) for item in names)
    record = sha256(body).hexdigest().encode("ascii") + b"\n" + body
    if shared:
        from buildcache.cache import shared_digests

        shared_digests.remember_record(name, record)
    _remember(cache_dir, name, record, None)


def _unseal_names(record: bytes) -> list[str] | None:
    seal, _, body = record.partition(b"\n")
    if seal != sha256(body).hexdigest().encode("ascii"):
        return None  # damaged: found again, not trusted
    return [os.fsdecode(item) for item in body.split(b"\0")] if body else []


def directory_digest(
    cache_dir: str, directory: str, *, suffix: str = "", shared: bool = False
) -> str:
    """One digest of the names and contents of every regular file directly in directory
    whose name ends with suffix (what a library search path can hand the linker).
    A missing directory is 'absent'. shared: a system dir, whose digest every cache dir
    of this user shares (shared_digests.py): where those records can be kept, they are
    the only ones used for it and its files (see _shared_content_digest)."""
    try:
        with os.scandir(directory) as entries:
            files = sorted(
                (item.name, item.stat())
                for item in entries
                if item.name.endswith(suffix) and item.is_file()  # follows symlinks, as ld
            )
    except (FileNotFoundError, NotADirectoryError):
        return "absent"
    read_from_ns = time.time_ns()
    stamps = "\n".join(f"{file_name} {stamp(info)}" for file_name, info in files)
    name = text_digest("dir", os.path.abspath(directory), suffix, stamps)
    records = _shared_records() if shared else None
    digest = _recall(cache_dir, name) if records is None else records.recall(name)
    if digest is not None:
        return digest
    parts = []
    for file_name, _ in files:
        path = os.path.join(directory, file_name)
        parts += [file_name, content_digest(cache_dir, path, shared=records is not None)]
    digest = text_digest(*parts)
    newest = max((info for _, info in files), key=lambda info: info.st_ctime_ns, default=None)
    if newest is None or not too_new(newest, read_from_ns):
        if records is not None:
            records.remember(name, digest)
        else:
            _remember(cache_dir, name, digest, os.stat(directory), read_from_ns=read_from_ns)
    return digest


def _shared_records() -> ModuleType | None:
    """shared_digests, where its records can be kept; None where they cannot."""
    from buildcache.cache import shared_digests

    return shared_digests if shared_digests.available() else None
