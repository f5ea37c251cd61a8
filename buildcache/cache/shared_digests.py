"""Digests of toolchain files, shared by every cache dir of a user on this machine.

The compiler's libraries (rustc's driver and LLVM, about 350 MB), a C compiler's
programs and the system's static archives are keyed by content (rustc_identity.py,
c_family/driver.py, native_inputs.py, keys.py's linker). Each cache dir remembers
those digests (file_digests.py), but a new cache dir (every CI job with a fresh
cache, a new Codespace volume, a second cache for another project) would read them
all again: most of a second at the start of a cold build, paid once per compile that
cargo starts before the first one is done. So they are also remembered here, under
the same record name (the file's path and its inode, size, mtime and ctime), in the
user's private runtime dir (runtime_dir.py: 0700, so nobody else can plant a record;
cleared on reboot, which costs one rehash). And only one process hashes a given file
at a time: the others wait on its lock and read the record it wrote.

What a new cache dir would otherwise find out again at its first compiles is shared
the same way: the compiler's identity (two runs of rustc: rustc_identity.py), and for
each system library dir the digest of its archives and which of them are linker
scripts (native_inputs.py). Measured on the bench's cold build with a fresh cache
dir: its first two compiles, which cargo starts together, spent 35 ms each on the
identity and 50 ms each on the system archives.
"""

from __future__ import annotations

import fcntl
import os

from buildcache.cache.atomic import atomic_write
from buildcache.cache.digests import is_hex_digest
from buildcache.cache.runtime_dir import UnsafeRuntimeDir, ensure_private_dir, runtime_dir

DIGESTS_DIR = "digests"


def _directory() -> str | None:
    """The private directory of the records, or None when it cannot be used."""
    base = runtime_dir()
    try:
        ensure_private_dir(base)
        directory = os.path.join(base, DIGESTS_DIR)
        ensure_private_dir(directory)
    except (OSError, UnsafeRuntimeDir):
        return None
    return directory


# A record other than a digest (a rustc identity, a list of names) is small; more than
# this is not one of ours.
MAX_RECORD_BYTES = 1 << 20


def available() -> bool:
    """Whether the shared records can be used (a private runtime dir of this user)."""
    return _directory() is not None


def recall(name: str) -> str | None:
    digest = recall_record(name, limit=65)
    if digest is None:
        return None
    text = digest.decode("ascii", "replace")
    return text if is_hex_digest(text) else None


def recall_record(name: str, *, limit: int = MAX_RECORD_BYTES) -> bytes | None:
    """The bytes recorded under name (remember_record), or None. Callers seal what
    they record: a damaged record must not be trusted."""
    directory = _directory()
    if directory is None:
        return None
    try:
        fd = os.open(os.path.join(directory, name), os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        return os.read(fd, limit)
    except OSError:
        return None
    finally:
        os.close(fd)


def remember(name: str, digest: str) -> bool:
    """True once the record is kept (False: the caller may keep it elsewhere)."""
    return remember_record(name, digest.encode("ascii"))


def remember_record(name: str, data: bytes) -> bool:
    """True once data is kept under name."""
    directory = _directory()
    if directory is None or len(data) > MAX_RECORD_BYTES:
        return False
    try:
        atomic_write(os.path.join(directory, name), data, mode=0o600)
    except OSError:
        return False  # a record only saves time
    return True


class HashingLock:
    """Held while one process hashes a file: whoever waited for it then finds the
    record (recall again) instead of reading the same 150 MB at the same time."""

    def __init__(self, name: str) -> None:
        self.fd = -1
        directory = _directory()
        if directory is None:
            return
        try:
            self.fd = os.open(
                os.path.join(directory, name + ".lock"),
                os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK,
                0o600,
            )
            fcntl.flock(self.fd, fcntl.LOCK_EX)
        except OSError:
            self.release()

    def release(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)  # closing releases the lock; the empty file stays for reuse
            self.fd = -1
