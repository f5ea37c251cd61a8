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


def recall(name: str) -> str | None:
    directory = _directory()
    if directory is None:
        return None
    return _read(os.path.join(directory, name))


def _read(path: str) -> str | None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        digest = os.read(fd, 65).decode("ascii", "replace")
    except OSError:
        return None
    finally:
        os.close(fd)
    return digest if is_hex_digest(digest) else None


def remember(name: str, digest: str) -> bool:
    """True once the record is kept (False: the caller may keep it elsewhere)."""
    directory = _directory()
    if directory is None:
        return False
    try:
        atomic_write(os.path.join(directory, name), digest.encode("ascii"), mode=0o600)
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
