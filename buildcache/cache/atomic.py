"""Small filesystem helpers shared by the store, the stats and the wrapper."""

from __future__ import annotations

import errno
import fcntl
import os
import stat

# Temp files carry this prefix so cleanup can find the ones a killed process left behind.
TEMP_PREFIX = ".tmp-"


def atomic_write(
    path: str,
    data: bytes | memoryview | list[bytes | memoryview],
    *,
    mode: int = 0o644,
    durable: bool = True,
) -> os.stat_result:
    """Write data to path so readers see the old file or the whole new one, never a torn one.

    The temp file lives in the same directory so os.replace is a rename within one
    filesystem. If anything fails, the temp file is removed and nothing is committed.
    Returns the stat of the file written, once in place (taken from its own descriptor:
    whatever another process may have put at path since, this is ours).

    durable=False removes what is at path before the rename, as rustc does with the
    outputs it replaces (its `non_durable_rename`): a rename over an existing file makes
    ext4 and btrfs write the new file's data back before the rename returns (their
    auto_da_alloc, for programs that forgot an fsync), 0.6 ms a file on an idle machine
    here and 2.5 to 4 ms under load, most of a hit's time. Readers then see the old
    file, no file, or the whole new one; never a torn one.
    """
    directory = os.path.dirname(path)
    temp = os.path.join(directory, f"{TEMP_PREFIX}{os.getpid()}-{os.urandom(4).hex()}")
    # Raw writes to the descriptor: a buffered file object would add an fstat, an
    # ioctl and lseeks per file, and copy what it buffers.
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode)
    try:
        for chunk in data if isinstance(data, list) else [data]:
            view = memoryview(chunk)
            while view:
                view = view[os.write(fd, view) :]
        os.fchmod(fd, mode)  # the umask must not strip an executable's x bits
        if not durable:
            _remove_regular(path)
        os.replace(temp, path)
        return os.fstat(fd)  # after the rename, which moves the ctime
    except BaseException:
        try:
            os.unlink(temp)
        except OSError:
            pass
        raise
    finally:
        os.close(fd)


def _remove_regular(path: str) -> None:
    """Remove the file at path, which a restore replaces; refuse anything else there
    (a device, a FIFO, a directory: `-MF /dev/null` restored as root must not put a
    regular file in the device's place). A symlink is replaced as a rename would."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return
    if not (stat.S_ISREG(info.st_mode) or stat.S_ISLNK(info.st_mode)):
        raise OSError(errno.EEXIST, "not a regular file: left alone", path)
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def read_locked(path: str, lock_path: str) -> bytes | None:
    """A small file rewritten in place under an flock on lock_path (the counters, the
    journals): read whole under a shared lock on it, or None when it cannot be opened.
    Without a lock file (never written yet) or flock (ENOLCK), read without the lock."""
    try:
        lock_fd = os.open(lock_path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        lock_fd = -1
    try:
        if lock_fd >= 0:
            try:
                fcntl.flock(lock_fd, fcntl.LOCK_SH)
            except OSError:
                pass
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        except OSError:
            return None
        try:
            return read_all(fd)
        finally:
            os.close(fd)
    finally:
        if lock_fd >= 0:
            os.close(lock_fd)


def read_all(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 1 << 16):
        chunks.append(chunk)
    return b"".join(chunks)


def restored_mode(stored_mode: int) -> int:
    """The mode rustc itself would give an output now: files it writes get 0o666 and
    executables the linker writes 0o777, less this process's umask. The stored mode only
    says which of the two it is; the umask of the build that stored it must not leak
    (0o755 restored for a user whose umask 077 gives 0o700, or the reverse)."""
    return (0o777 if stored_mode & 0o111 else 0o666) & ~process_umask()


_UMASK: list[int] = []


def process_umask() -> int:
    """Read once per process: the only way to read it is to set it, then set it back."""
    if not _UMASK:
        current = os.umask(0o022)
        os.umask(current)
        _UMASK.append(current)
    return _UMASK[0]


def makedirs(cache_dir: str, path: str) -> None:
    """Create the dirs from cache_dir down to path. Every one must be a real dir: a
    symlink planted in the cache (or a file) raises OSError rather than let a store
    write through it into someone else's files. cache_dir itself may be a link."""
    relative = os.path.relpath(path, cache_dir)
    if relative == os.pardir or relative.startswith(os.pardir + os.sep):
        raise OSError(errno.EINVAL, "outside the cache", path)
    current = cache_dir
    for part in relative.split(os.sep):
        if part in ("", os.curdir):
            continue
        current = os.path.join(current, part)
        try:
            os.mkdir(current)  # never follows a symlink: an existing one is EEXIST
            continue
        except FileExistsError:
            pass
        if not is_real_dir(current):
            raise OSError(errno.ENOTDIR, "not a directory of the cache (a symlink?)", current)


def is_real_dir(path: str) -> bool:
    """A directory that is not a symlink to one (eviction and stores never follow links)."""
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except OSError:
        return False
