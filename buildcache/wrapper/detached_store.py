"""A miss's store, finished after the wrapper has returned.

cargo starts a crate's dependents only once the wrapper exits, yet nothing needs the
cache entry before a later build. So after rustc succeeds, the wrapper checks what can
only be checked at that moment (the sources and externs rustc read are unchanged:
miss.py), takes a snapshot of rustc's outputs in `<cache>/staging/`, and forks a child
that compresses and stores the entry from the snapshot, at a lower priority, while
cargo goes on. (A launch server's child, which exists for this one call, needs no fork:
it stores the entry itself once it has answered its client, run_after_answer.) The
miss is counted by the wrapper before it returns; the store adds the bytes it stored.

The snapshot is a copy (by sendfile: about 6.6 ms for a 24 MB rlib), made while
cargo still waits, so no later compile can change it under the
child. Not hard links, though they cost nothing: a
link (and its removal) moves the ctime of the very output in the target dir, which
invalidates every stamp-keyed digest of it (file_digests.py) and makes a dependent
hashing it at that moment see it change under it. A copy counts only if the output's
stamp (inode, size, mtime, ctime) is the same after it as before, the rule every
digest record follows; then the copy is what the output held under that stamp, and
the child, hashing the copy for the entry, records that digest for the output too, so
its dependents need not read it. (The wrapper used to hash each output before it
returned, and the child to hash the copy again to compare: two reads of every output,
the first one while cargo waited.) A killed child leaves no torn entry (every file is
renamed into place whole) and at worst a stale staging dir, which `trim` removes.

Most outputs need no copy at all: those of a dependency's library, which cargo never
links elsewhere nor touches once rustc is done (miss.py's cargo_leaves_alone), are held
open instead (a descriptor, read-only, taken while cargo waits) and read by the child
after the wrapper returned. Whatever wrote to the file since, linked it, changed its
mode, removed it or renamed another file over it (a later compile of the crate) moved
its ctime, which the child finds changed after reading it, and then stores nothing
(Snapshot._read_held); the descriptor never reads another file's bytes. The copies
were 2.8 ms of a miss on average, while cargo waited, and as many bytes written again
as the build wrote. A held output keeps its file (and the target dir's filesystem) in
use until the store is done, as a process reading it would: a `cargo clean` at that
moment frees its space only then.

A lookup that finds no entry while a store of the same base key is in flight waits
for it: the child holds an flock on `<cache>/staging/<base key>.lock` all its life,
and the kernel releases it however the child ends (cache/staging.py). So a rebuild
right after a build still hits, and `buildcache stats` and `helper stop` wait for
stores in flight.

Where no snapshot can be taken (an output that is not a regular file, a full disk),
another store of the same key is running, or fork fails, the wrapper stores before it
returns, as it always did. So it does where the child would be killed with cargo:
when cargo is, or is a child of, a PID 1 that is not an init (`docker run IMAGE cargo
build`, a Dockerfile's `RUN cargo build`: the kernel kills every process of the
namespace when its PID 1 exits), and with BUILDCACHE_BACKGROUND_STORE=0 for the
process trees this cannot see (`RUN make`, a sandbox that kills a build's cgroup).
"""

from __future__ import annotations

import fcntl
import mmap
import os
import signal
import stat
import sys

from buildcache.cache.atomic import makedirs
from buildcache.cache.digests import sha256
from buildcache.cache.file_digests import remember_written, stamp
from buildcache.cache.staging import lock_path, remove_tree, staging_dir
from buildcache.wrapper.caller import cargo_pid

TYPE_CHECKING = False  # typing costs ~10 ms to import on the hot path
if TYPE_CHECKING:
    from typing import BinaryIO, Callable

# The child's niceness: the compiles still running come first. The lowest there is,
# since a cold build has dozens of stores in flight. Not SCHED_IDLE: a store starved
# by a busy machine would hold up a lookup waiting for it. (Niceness works only within
# the compiles' scheduling group: _detach.)
CHILD_NICENESS = 19
# The child's OOM score adjustment: the highest, the first process the OOM killer takes.
OOM_SCORE_ADJ = 1000
OOM_SCORE_ADJ_FILE = ["/proc/self/oom_score_adj"]  # a list: tests point it elsewhere
# What PID 1 is on a machine or container whose orphans live on (reparented to it)
# after the process that started them exits. Anything else as PID 1 (a shell, cargo,
# tini or dumb-init running the build) ends the namespace, and its orphans, with it.
LASTING_INITS = frozenset({"systemd", "init", "runit", "runsvdir", "s6-svscan", "openrc-init"})


class Snapshot:
    """Copies of rustc's outputs, or descriptors of those cargo leaves alone (held), the
    stat each output had while it was copied or opened, and the held lock of the store."""

    __slots__ = ("cache_dir", "directory", "held", "lock_fd", "lock_path", "originals")

    def __init__(self, cache_dir: str, directory: str, lock_fd: int, lock_path: str) -> None:
        self.cache_dir = cache_dir
        self.directory = directory
        self.originals: dict[str, tuple[str, os.stat_result]] = {}  # name -> (path, stat)
        self.held: dict[str, int] = {}  # name -> read-only descriptor of the output itself
        self.lock_fd = lock_fd
        self.lock_path = lock_path

    def fds(self) -> list[int]:
        """What the store needs open across the fork or the answer: the lock, the held
        outputs."""
        return [fd for fd in (self.lock_fd, *self.held.values()) if fd >= 0]

    def read(self, name: str) -> tuple[bytes | memoryview, str]:
        """The output's content, as copied or held, and its digest."""
        if name in self.held:
            return self._read_held(name)
        return self._read_copy(name)

    def _read_held(self, name: str) -> tuple[bytes, str]:
        """Read whole from the descriptor opened before the answer (_hold), then
        accepted only if the output's stamp is still the one it had then: whatever
        wrote to it since moved its mtime and ctime, and a hard link, chmod, touch or
        removal its ctime. Read into memory, not mapped: the bytes hashed here are the
        bytes compressed later, whatever happens to the file in between (a mapping
        would show a later write, and not every write moves the stamp: one through a
        shared mapping whose page is already dirty never does; tests/test_miss.py). The
        price is anonymous memory the size of the crate's outputs for the store's short
        life, where a mapped copy was page cache the kernel could drop (the store is the
        OOM killer's first choice: lower_priority), and its page faults: a mapping
        instead saved about 0.2 s of CPU and 75 000 faults in a cold build of the bench
        workspace, and was reverted for the entries whose blobs it let differ from
        their digests."""
        fd = self.held[name]
        path, info = self.originals[name]
        data = _read_all(fd, info.st_size)
        if len(data) != info.st_size or stamp(os.fstat(fd)) != stamp(info):
            raise OSError(f"{path} changed after rustc wrote it")
        digest = sha256(data).hexdigest()
        remember_written(self.cache_dir, path, digest, info)
        return data, digest

    def _read_copy(self, name: str) -> tuple[bytes | memoryview, str]:
        """The copy's content and its digest. Mapped rather than read: hashing and
        compressing it from the page cache spares a copy into fresh memory, and the page
        faults and unmaps that come with it, for every byte of every output (about a
        tenth of the store's CPU on a cold build). The digest also goes, as the digest
        of the output under the stamp it had while it was copied, to the records its
        dependents look up (a stamp the output no longer has is never looked up). The
        copy is private (0600 in a 0700 dir): nothing but this store touches it between
        this hash and the compression that reads it again."""
        with open(os.path.join(self.directory, name), "rb", opener=_no_follow) as handle:
            data = _mapped(handle)
        digest = sha256(data).hexdigest()
        path, info = self.originals[name]
        remember_written(self.cache_dir, path, digest, info)
        return data, digest

    def mode(self, name: str) -> int:
        """The output's mode, which its copy was given (_copy)."""
        return self.originals[name][1].st_mode & 0o777

    def discard(self) -> None:
        """Remove the copies, close the held outputs and release the lock (the lock
        file only if it is ours)."""
        remove_tree(self.directory)
        for fd in self.held.values():
            close_quietly(fd)
        self.held.clear()
        if self.lock_fd < 0:
            return  # done before, or the lock went to the child
        try:
            if os.fstat(self.lock_fd).st_ino == os.lstat(self.lock_path).st_ino:
                os.unlink(self.lock_path)
        except OSError:
            pass
        close_quietly(self.lock_fd)
        self.lock_fd = -1


def close_quietly(fd: int) -> None:
    """Close fd; one already closed (or never valid) is no error here."""
    try:
        os.close(fd)
    except OSError:
        pass


def _read_all(fd: int, size: int) -> bytes:
    """The file's content from its start, up to one byte past the size it had: a file
    that grew or shrank since comes back with another length."""
    chunks = []
    offset = 0
    while offset <= size:
        chunk = os.pread(fd, size + 1 - offset, offset)
        if not chunk:
            break
        chunks.append(chunk)
        offset += len(chunk)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _mapped(handle: BinaryIO) -> bytes | memoryview:
    """The file's content, mapped (private, read-only), or read where it cannot be
    mapped (an empty file; FUSE with direct I/O refuses mappings)."""
    size = os.fstat(handle.fileno()).st_size
    if size:
        try:
            flags = mmap.MAP_PRIVATE | getattr(mmap, "MAP_POPULATE", 0)
            return memoryview(mmap.mmap(handle.fileno(), size, flags, mmap.PROT_READ))
        except (OSError, ValueError):
            pass
    return handle.read()


def _no_follow(path: str, flags: int) -> int:
    return os.open(path, flags | os.O_NOFOLLOW)


def take_snapshot(
    cache_dir: str,
    out_dir: str,
    names: list[str],
    base_key: str,
    held: frozenset[str] = frozenset(),
) -> Snapshot | None:
    """Copy each output into a fresh staging dir, but hold those in `held` open (_hold;
    miss.py's cargo_leaves_alone chooses them), or None when that cannot be done soundly
    (the caller then stores at once)."""
    staging = staging_dir(cache_dir)
    lock = lock_path(cache_dir, base_key)
    try:
        makedirs(cache_dir, staging)
        lock_fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
    except OSError:
        return None
    try:
        fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:  # the same key is being stored right now: store in the foreground
        os.close(lock_fd)
        return None
    directory = os.path.join(staging, f"{base_key}.{os.getpid()}.{os.urandom(4).hex()}")
    snapshot = Snapshot(cache_dir, directory, lock_fd, lock)
    try:
        if any(name not in held for name in names):
            os.mkdir(directory, 0o700)
        for name in names:
            # Absolute: the child records the output's digest by path from "/" (_detach).
            source = os.path.abspath(os.path.join(out_dir, name))
            if name in held:
                snapshot.originals[name] = (source, _hold(snapshot, name, source))
            else:
                snapshot.originals[name] = (source, _copy(source, os.path.join(directory, name)))
    except OSError:  # a symlink, an output changing, ENOSPC...: store in the foreground
        snapshot.discard()
        return None
    return snapshot


def _hold(snapshot: Snapshot, name: str, source: str) -> os.stat_result:
    """Open the output read-only (cargo runs build scripts and binaries, which a
    descriptor open for writing would make fail with ETXTBSY) and keep its stat."""
    fd, info = _open_regular(source)
    snapshot.held[name] = fd
    return info


def _open_regular(source: str) -> tuple[int, os.stat_result]:
    """A read-only descriptor of the regular file at source (not a symlink) and its
    stat. Not blocking: a FIFO put in an output's place would hold the open until a
    writer came."""
    fd = os.open(source, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise OSError(f"{source} is not a regular file")
    except OSError:
        close_quietly(fd)
        raise
    return fd, info


def _copy(source: str, destination: str) -> os.stat_result:
    """A private copy of a regular file; returns the source's stat, which must be the
    same after the copy as before it.

    Copied by sendfile: the kernel moves the data from the source's page cache into
    the copy's through the generic read and write paths (a splice), the ones read()
    and write() take, so there is no buffer in this process (whose fresh pages cost
    more to fault in than a small output costs to copy: 1.0 against 0.35 ms for a
    small crate's rlib and rmeta, measured here) and one pass over the data instead
    of two (a 24 MB rlib: 10 against 6.6 ms). Not copy_file_range, which hands the
    copy to the filesystem: offloaded copies are where filesystems have corrupted
    data (OpenZFS 2.2.0's block cloning; CIFS copying on the server before flushing
    the source), and the copy is all the entry and the output's digest record are
    made from. Where sendfile refuses a file, plain reads and writes copy it."""
    source_fd, info = _open_regular(source)
    try:
        target_fd = os.open(destination, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            copied = _send(source_fd, target_fd)
            if copied != info.st_size or stamp(os.fstat(source_fd)) != stamp(info):
                raise OSError(f"{source} changed while it was copied")
            os.fchmod(target_fd, info.st_mode & 0o777)  # the mode the entry records
        finally:
            os.close(target_fd)
    finally:
        os.close(source_fd)
    return info


# What one sendfile call is asked to copy (the kernel stops a call short of 2 GB).
SEND_CHUNK = 1 << 30


def _send(source_fd: int, target_fd: int) -> int:
    """Copy from source_fd's start to target_fd; the number of bytes copied. A refusal
    before anything was copied (a filesystem that cannot splice, a sandbox that forbids
    the call) makes it a copy by reads and writes, from the start again; an error
    after some bytes went is the caller's."""
    copied = 0
    try:
        while count := os.sendfile(target_fd, source_fd, None, SEND_CHUNK):
            copied += count
    except OSError:
        if copied:
            raise
        os.lseek(source_fd, 0, os.SEEK_SET)
        os.ftruncate(target_fd, 0)
        os.lseek(target_fd, 0, os.SEEK_SET)
        return _read_and_write(source_fd, target_fd)
    return copied


def _read_and_write(source_fd: int, target_fd: int) -> int:
    copied = 0
    while chunk := os.read(source_fd, 1 << 20):
        view = memoryview(chunk)
        while view:
            view = view[os.write(target_fd, view) :]
        copied += len(chunk)
    return copied


def children_outlive_cargo() -> bool:
    """False when a child left behind would die as soon as cargo exits."""
    cargo = cargo_pid()
    if cargo <= 1:
        return False  # cargo is PID 1 (or we were orphaned already)
    try:
        with open(f"/proc/{cargo}/stat", "rb") as handle:
            # "pid (comm) state ppid ...": comm may hold spaces and parentheses.
            cargo_parent = int(handle.read().rpartition(b")")[2].split()[1])
    except (OSError, ValueError, IndexError):
        return True  # no /proc: nothing to tell, keep the faster path
    if cargo_parent != 1:
        return True
    try:
        with open("/proc/1/comm", encoding="utf-8", errors="replace") as handle:
            init = handle.read().strip()
    except OSError:
        return False
    return init in LASTING_INITS


# Set to a list by a launch server's child for its call (launch/child.py): that process
# exists for this one call and is done once it has answered its client, so it runs the
# store itself after the answer (run_after_answer) rather than fork a child for it.
# The fork, and the copies of the pages the wrapper writes after it, were 1.3 ms of a
# miss's CPU, and 4.5 ms of its time on a loaded machine, while cargo waited.
AFTER_ANSWER: list[list[tuple[Snapshot, Callable[[], object]]] | None] = [None]


def run_detached(snapshot: Snapshot, job: Callable[[], object]) -> bool:
    """Fork a child that runs job() in the background, then discards the snapshot and
    exits. True in the parent once the child exists; False when fork failed. In a
    launch server's child, job() is kept for run_after_answer instead (True)."""
    deferred = AFTER_ANSWER[0]
    if deferred is not None:
        deferred.append((snapshot, job))
        return True
    return _fork_detached(snapshot, job)


def _fork_detached(snapshot: Snapshot, job: Callable[[], object]) -> bool:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()  # nothing buffered may be written twice
        except (OSError, ValueError, AttributeError):
            pass
    try:
        pid = os.fork()
    except OSError:
        return False
    if pid:
        for fd in snapshot.fds():
            close_quietly(fd)  # the child's copies hold the lock and the outputs now
        snapshot.lock_fd = -1
        snapshot.held.clear()
        return True
    try:
        _detach(keep=set(snapshot.fds()))
        job()
    except BaseException:  # noqa: BLE001, S110 - the build already has its result
        pass
    finally:
        try:
            snapshot.discard()
        finally:
            os._exit(0)
    return False  # not reached


def fork_deferred() -> None:
    """The jobs kept for run_after_answer, forked now after all (the launch child could
    not let go of cargo's descriptors, so cargo would wait for its store); a job whose
    fork fails runs here, before the answer, as a store without a snapshot would."""
    deferred = AFTER_ANSWER[0] or []
    AFTER_ANSWER[0] = None
    for snapshot, job in deferred:
        if not _fork_detached(snapshot, job):
            _store(snapshot, job)


# What a launch client forwards to its child's group (client.c's HANDLED, but SIGTSTP,
# which it turns into a SIGSTOP that the server undoes for an answered call: watch.py).
FORWARDED_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)


def ignore_forwarded_signals() -> None:
    """Before a launch child answers a call whose store it keeps: the client forwards
    Ctrl-C and termination signals to this group until it exits, which the store, were
    it a detached child, would never have seen."""
    for number in FORWARDED_SIGNALS:
        signal.signal(number, signal.SIG_IGN)


def deferred_fds() -> list[int]:
    """What the jobs kept for run_after_answer keep open until each is done: their
    store locks and held outputs."""
    return [fd for snapshot, _ in AFTER_ANSWER[0] or [] for fd in snapshot.fds()]


def run_after_answer() -> None:
    """In a launch server's child, once its client has the answer and cargo's
    descriptors are closed (launch/child.py): the stores its call kept, as a detached
    child would run them. The process already leads a group of its own in the server's
    session, out of reach of cargo's signals and terminal, and its client is gone; what
    is left is the rest of _detach."""
    deferred = AFTER_ANSWER[0]
    AFTER_ANSWER[0] = None
    if not deferred:
        return
    ignore_forwarded_signals()  # done before the answer already; a caller may not have
    _settle()
    for snapshot, job in deferred:
        _store(snapshot, job)


def _store(snapshot: Snapshot, job: Callable[[], object]) -> None:
    """job(), then the snapshot discarded, whatever job raised."""
    try:
        job()
    except BaseException:  # noqa: BLE001, S110 - the build already has its result
        pass
    finally:
        snapshot.discard()


def _detach(keep: set[int]) -> None:
    """Leave cargo's process group, its pipes and its directory: cargo reads the
    wrapper's stdout and stderr until every writer has closed them, and a child that
    kept the package dir as its cwd would keep a checkout's filesystem busy.

    A group of its own, not a session: Linux's autogroup scheduling (on by default in
    Debian's, Ubuntu's and Fedora's kernels) gives each session a scheduling group of
    its own whose weight is a whole compile's, and niceness counts only within a
    group. A child in a session of its own (setsid) took as much CPU as every compile
    of the build together, its niceness 19 notwithstanding: two busy processes kept
    about half of their throughput beside one such busy child and a tenth beside eight,
    against 0.93-0.97 beside eight left in their session (measured here, the same
    every way but the session). In its own group it is out of reach of Ctrl-C,
    Ctrl-Z and a terminal's hang-up (which reach the foreground group and the session
    leader) and of the signals the launch client forwards to its child's group; it
    ignores SIGHUP as well, for whatever else sends it to a session's processes."""
    os.setpgid(0, 0)
    if not let_go_of_descriptors(keep):
        raise OSError("no /dev/null to put in place of cargo's pipes")  # no store, then
    _settle()


def let_go_of_descriptors(keep: set[int]) -> bool:
    """Stdio pointed at /dev/null and every other descriptor closed but `keep`: nothing
    of cargo's (its pipes, which it reads to their end, its jobserver) stays open here.
    False, nothing changed, when /dev/null cannot be opened: closed instead, stdio's
    numbers would go to the next files opened, and a stray write into one of them."""
    try:
        devnull = os.open(os.devnull, os.O_RDWR)
    except OSError:
        return False
    for fd in (0, 1, 2):
        try:
            os.dup2(devnull, fd)
        except OSError:
            pass
    for fd in open_fds():
        if fd > 2 and fd not in keep:
            close_quietly(fd)
    return True


def _settle() -> None:
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    os.chdir("/")  # every path the store uses is absolute
    lower_priority()


def lower_priority() -> None:
    """The compiles come first from now on, for the CPU and for memory: should the
    machine or the build's cgroup run out, the kernel's OOM killer takes a store (an
    entry lost) before a compile (a build failed); a compressing store holds a window
    of up to 128 MiB (cache/store.py) while dozens may be in flight. And no storage
    helper is started from here (remote/client.py), since it would inherit both."""
    client = sys.modules.get("buildcache.remote.client")  # opened before the fork, if at all
    if client is not None:
        client.SPAWN_HELPER[0] = False
    try:
        os.nice(CHILD_NICENESS)
    except OSError:
        pass
    try:  # raising it needs no privilege
        with open(OOM_SCORE_ADJ_FILE[0], "w", encoding="ascii") as handle:
            handle.write(str(OOM_SCORE_ADJ))
    except OSError:
        pass


def open_fds() -> list[int]:
    """The fds this process has open: listed, not guessed up to a limit that can be a
    billion in a container (closing each in turn would take minutes)."""
    try:
        return [int(name) for name in os.listdir("/proc/self/fd")]
    except (OSError, ValueError):
        return list(range(3, 1024))
