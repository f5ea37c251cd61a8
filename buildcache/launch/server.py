"""The launch server: a resident Python with the hot path imported, forking a child per
call of the launch client (client.c).

Started by the first call that finds none (start.py), detached from every build, with
an empty environment and `/` as its directory: it keeps nothing of the call that
started it. It only accepts and forks; each child becomes its caller (child.py) before
it runs any of buildcache, so a call behaves as it did in a process of its own.

One server per user, install and cgroup: the socket's name carries a digest of the
install (build.py) and of the caller's cgroup (client.c), in the user's private runtime
directory (cache/runtime_dir.py). A lock
file held for the server's life keeps a second from starting. It exits
- when no call came for IDLE_SECONDS;
- when its socket was removed or replaced (a cleaned /tmp, another server);
- when buildcache's files changed (an upgrade: a child of the old code would run it
  for the new install; the call that notices goes the ordinary way and starts a new
  server);
- when a child finds it cannot take its caller's niceness, rlimits or groups
  (it started in a different session of the user's); the caller starts a server of
  its own instead;
- on SIGTERM (`buildcache helper stop`, tests).
"""

from __future__ import annotations

import fcntl
import mmap
import os
import signal
import socket
import struct
import sys
import time

from buildcache.cache.runtime_dir import ensure_private_dir
from buildcache.launch import child
from buildcache.launch.request import reply
from buildcache.launch.watch import CallWatch

# sccache's server idles out after 600 s too; a start costs ~0.2 s, once.
IDLE_SECONDS = 600.0
# How often an idle server checks that its socket is still its own.
CHECK_SECONDS = 20.0
# How long a new server waits for one that is retiring to let go of the lock.
LOCK_WAIT_SECONDS = 2.0

# What each child would otherwise import for itself: the whole hot path, the store,
# the remote tier's client side and the C-family path. Not the CLI, not the helper's
# storage clients.
PRELOAD = (
    "buildcache.main",
    "buildcache.wrapper.run",
    "buildcache.wrapper.cached_compile",
    "buildcache.wrapper.hit",
    "buildcache.wrapper.miss",
    "buildcache.wrapper.detached_store",
    "buildcache.wrapper.remote_calls",
    "buildcache.wrapper.remote_tier",
    "buildcache.wrapper.native_inputs",
    "buildcache.wrapper.c_family.compile",
    "buildcache.cache.store",
    "buildcache.cache.compression",
    "buildcache.cache.ownership",
    "buildcache.cache.crate_times",
    "buildcache.remote.client",
    "buildcache.wrapper.keys",
    "buildcache.cache.eviction",
    "buildcache.cache.journal",
    # What the child itself needs (child.py) and the standard library's modules the
    # calls load lazily: each was ~0.3 to 1.5 ms of every call, imported in the child.
    "fcntl",
    "resource",
    "threading",
    "importlib.machinery",
    # OpenSSL's SHA-256: loading libcrypto costs ~1.7 ms, which a process of its own
    # pays only past 256 KiB hashed (cache/digests.py); here once, for every call.
    "_hashlib",
    # The codec of the files read with encoding="ascii" (digest records, a store's
    # oom_score_adj): looked up, and imported, by 52 of a cold build's 87 calls.
    "encodings.ascii",
)


def preload() -> None:
    """Import PRELOAD and load the zstd extension (cache/compression.py) now, once."""
    for name in PRELOAD:
        try:
            __import__(name)
        except ImportError:
            pass  # a child imports it (or does without it) as a process of its own would
    from buildcache.cache.compression import zstd

    zstd()


Stamp = tuple[tuple[str, int, int, int, int], ...]


def package_stamp() -> Stamp:
    """Every directory and file of the installed package, and the interpreter: pip
    replaces files (new inodes, directories' mtimes move), and a file overwritten in
    place (`cp` over it, a hot fix) moves its own size, mtime or ctime. About 0.15 ms
    for the ~100 entries, once per call."""
    import buildcache

    root = os.path.dirname(os.path.abspath(buildcache.__file__))
    paths = []
    for directory, subdirs, files in os.walk(root):
        subdirs[:] = sorted(name for name in subdirs if name != "__pycache__")
        paths.append(directory)
        paths += [os.path.join(directory, name) for name in sorted(files)]
    paths.append(sys.executable)
    stamp = []
    for path in paths:
        info = os.stat(path)
        stamp.append((path, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns))
    return tuple(stamp)


def current_stamp(stamp: Stamp) -> bool:
    for path, inode, size, mtime, ctime in stamp:
        try:
            info = os.stat(path)
        except OSError:
            return False
        if (info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns) != (
            inode,
            size,
            mtime,
            ctime,
        ):
            return False
    return True


def _take_lock(path: str) -> int | None:
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    deadline = time.monotonic() + LOCK_WAIT_SECONDS
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            # Who holds it, for `buildcache helper stop` and the tests.
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
            return fd
        except BlockingIOError:
            if time.monotonic() > deadline:
                os.close(fd)
                return None
            time.sleep(0.02)


def _listen(path: str) -> socket.socket:
    """Bound under a temporary name and renamed into place once it listens, so a
    client finds a working server or none."""
    temporary = f"{path}.{os.getpid()}.tmp"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        os.unlink(temporary)
    except FileNotFoundError:
        pass
    listener.bind(temporary)
    os.chmod(temporary, 0o600)
    listener.listen(128)
    os.rename(temporary, path)
    return listener


def _identity(path: str) -> tuple[int, int] | None:
    """The socket file's (device, inode); not fstat of the listener, which is sockfs's."""
    try:
        info = os.stat(path)
    except OSError:
        return None
    return info.st_dev, info.st_ino


def _peer(conn: socket.socket) -> tuple[int, int, int]:
    """(pid, uid, gid) of the connecting process, from the kernel."""
    raw = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    pid, uid, gid = struct.unpack("3i", raw)
    return pid, uid, gid


def serve(path: str) -> int:
    directory = os.path.dirname(path)
    ensure_private_dir(directory)
    lock_fd = _take_lock(f"{path}.lock")
    if lock_fd is None:
        return 0  # another server has it
    # Before the imports: files replaced while they run make the first call retire it.
    stamp = package_stamp()
    preload()
    listener = _listen(path)
    identity = _identity(path)
    # Children are reaped by the watch (watch.py), not by the kernel: a child's pid
    # stays its own until then, so the pidfd taken after the fork is surely its.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    watch = CallWatch(listener)
    last_call = time.monotonic()
    try:
        while True:
            if not watch.wait(CHECK_SECONDS):
                idle = time.monotonic() - last_call > IDLE_SECONDS
                if idle or _identity(path) != identity or not current_stamp(stamp):
                    return 0
                continue
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            last_call = time.monotonic()
            pid, uid, gid = _peer(conn)
            if uid != os.getuid():
                conn.close()
                continue  # the directory is private: only root gets here; not served
            if not current_stamp(stamp):
                with conn:
                    conn.sendall(reply(b"F"))
                return 0
            answered = mmap.mmap(-1, 1)  # shared with the child (child.run, watch.py)
            try:
                forked = os.fork()
            except OSError:
                with conn:
                    conn.sendall(reply(b"F"))
                continue
            if forked == 0:
                child.run(conn, listener.fileno(), lock_fd, pid, gid, answered)  # no return
            watch.add(conn, client=pid, child=forked, answered=answered)
    finally:
        if _identity(path) == identity:
            try:
                os.unlink(path)
            except OSError:
                pass


def main(argv: list[str]) -> None:
    if len(argv) != 2 or not os.path.isabs(argv[1]):
        sys.exit("usage: python -m buildcache.launch.server /absolute/socket/path")
    sys.exit(serve(argv[1]))


if __name__ == "__main__":
    main(sys.argv)
