"""A launch server's child: it becomes the calling client in every way a compile can
tell, then runs the ordinary wrapper (main.py) as that call.

What it takes from the client: the descriptors at the client's numbers (stdio,
cargo's jobserver; nothing else stays open), the working directory, umask, the
environment, argv, rlimits and niceness; its own process group, which the client
forwards Ctrl-C and termination signals to; and cargo's pid (detached_store.py asks
whether children outlive cargo). Python's own per-process state starts clean: the
server ran no call before forking, and `random` reseeds itself in a forked child.

What it refuses (answers F, and the client runs the ordinary Python launcher): a
client in another mount, pid, network, user, IPC or UTS namespace (it would see other
files, or the server would reach what a sandbox forbids), other groups, rlimits it
cannot take, a niceness it cannot take, a locale whose encoding is not UTF-8 (a
fresh Python would decode paths differently), anything that is not a compiler call
(the CLI wants site-packages and its own process). Where the server, not the
caller, is the odd one (groups, limits, niceness), the server retires, so the
caller's fallback starts one made like it.

Where the cache stays out of the way (a call it cannot cache, BUILDCACHE_DISABLE,
an internal error before rustc ran), the child hands the compiler back (E) and the
client execs it: rustc then runs as cargo's own child, as it does without a cache.
"""

from __future__ import annotations

import _signal  # type: ignore[import-not-found]  # no stub: the C module signal.py wraps
import mmap
import os
import signal
import socket
import sys

from buildcache.launch.request import MAX_BYTES, MAX_FDS, BadRequest, Request, parse, reply
from buildcache.wrapper.detached_store import close_quietly, let_go_of_descriptors, open_fds

NAMESPACES = ("mnt", "pid", "net", "user", "ipc", "uts")


class Refused(Exception):
    """This call is better run by the ordinary launcher; retire: the server too."""

    def __init__(self, reason: str, retire: bool = False) -> None:
        super().__init__(reason)
        self.retire = retire


def run(
    conn: socket.socket,
    listener_fd: int,
    lock_fd: int,
    peer_pid: int,
    peer_gid: int,
    answered: mmap.mmap,
) -> None:
    """The child's whole life; it ends in os._exit, never returns. `answered` is shared
    with the server (watch.py): set before this call's answer, so that the client's
    hang-up after it kills nothing (a background store may still be on its way out of
    this process group)."""
    code = 0
    server_pid = os.getppid()
    ANSWERED[0] = answered
    try:
        os.setpgid(0, 0)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        for number in (signal.SIGTERM, signal.SIGHUP):
            signal.signal(number, signal.SIG_DFL)
        os.close(listener_fd)
        os.close(lock_fd)  # the server's lock stays held by the server's copy
        conn.sendall(reply(b"P", str(os.getpid()).encode()))
        # The client sends the request only once it has our pid: one that gave up
        # waiting (client.c, ANSWER_SECONDS) has closed the connection instead.
        data, fds = _receive(conn)
        # From here on by number only: the socket object would close its number when
        # collected, and that number may be one of the client's by then.
        conn_fd = conn.detach()
    except BaseException:  # noqa: BLE001 - the client will run the call the ordinary way
        os._exit(1)
    try:
        request = parse(data)
        if len(fds) != len(request.fd_numbers) + 1:
            raise BadRequest("descriptors and their numbers do not match")
        _check(request, peer_pid, peer_gid)
        conn_fd = _adopt(request, fds, conn_fd)
        _check_call(request)
        _watch_client(conn_fd)
    except Refused as refusal:
        _finished()  # the client's hang-up after F must not kill the retiring below
        _answer(conn_fd, reply(b"F"))
        if refusal.retire and os.getppid() == server_pid:  # not whoever adopted us since
            os.kill(server_pid, signal.SIGTERM)
        os._exit(0)
    except BaseException:  # noqa: BLE001 - anything else: the ordinary way too
        _answer(conn_fd, reply(b"F"))
        os._exit(0)
    code = 1
    try:
        code = _call(conn_fd, request)
    except BaseException:  # noqa: BLE001, S110 - a forked child never returns into the server's loop
        pass
    os._exit(code)


def _receive(conn: socket.socket) -> tuple[bytes, list[int]]:
    """The request's bytes and the descriptors that came with its first bytes."""
    space = socket.CMSG_SPACE(MAX_FDS * 4)
    head, ancillary, _, _ = conn.recvmsg(4, space)
    fds: list[int] = []
    for level, kind, payload in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            whole = len(payload) - len(payload) % 4
            fds += list(memoryview(payload[:whole]).cast("i"))
    if len(head) < 4:
        head += _read_exact(conn, 4 - len(head))
    length = int.from_bytes(head, "little")
    if length > MAX_BYTES:
        raise BadRequest("request too long")
    return _read_exact(conn, length), fds


def _read_exact(conn: socket.socket, length: int) -> bytes:
    chunks, left = [], length
    while left:
        chunk = conn.recv(min(left, 1 << 20))
        if not chunk:
            raise BadRequest("the client hung up")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _check(request: Request, peer_pid: int, peer_gid: int) -> None:
    if peer_pid <= 0:
        raise Refused("the client is in another pid namespace")
    for name in NAMESPACES:
        try:
            theirs = os.readlink(f"/proc/{peer_pid}/ns/{name}")
            ours = os.readlink(f"/proc/self/ns/{name}")
        except OSError:
            raise Refused(f"cannot compare {name} namespaces") from None
        if theirs != ours:
            raise Refused(f"the client is in another {name} namespace")
    # What a sandbox confines a build with: its compiles must not run outside it.
    for path, what in (("root", "root directory (chroot)"), ("attr/current", "security label")):
        if _proc_text(peer_pid, path) != _proc_text("self", path):
            raise Refused(f"the client has another {what}")
    theirs_status, ours_status = _status(peer_pid), _status("self")
    for field in ("Seccomp", "Seccomp_filters", "NoNewPrivs"):
        if theirs_status.get(field) != ours_status.get(field):
            raise Refused(f"the client has another {field}")
    # What the server took from whoever started it: it retires for a caller unlike it.
    # (The client picks a server by a digest of these and of the I/O priority, which
    # Python cannot read: this is the guard for a server changed since it started.)
    for field in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
        if theirs_status.get(field) != ours_status.get(field):
            raise Refused(f"the client has other capabilities ({field})", retire=True)
    for field in ("Cpus_allowed_list", "Mems_allowed_list"):
        if theirs_status.get(field) != ours_status.get(field):
            raise Refused(f"the client has another {field}", retire=True)
    for path in ("cgroup", "oom_score_adj"):
        if _proc_text(peer_pid, path) != _proc_text("self", path):
            raise Refused(f"the client has another {path}", retire=True)
    try:
        policy = os.sched_getscheduler(peer_pid) == os.sched_getscheduler(0)
    except OSError:
        policy = False
    if not policy:
        raise Refused("the client has another scheduling policy", retire=True)
    if not _utf8_locale(request.environ):
        raise Refused("the caller's locale is not UTF-8")
    if peer_gid != os.getgid() or sorted(request.groups) != sorted(os.getgroups()):
        raise Refused("other groups", retire=True)


def _proc_text(pid: int | str, name: str) -> str | None:
    try:
        if name == "root":
            return os.readlink(f"/proc/{pid}/root")
        with open(f"/proc/{pid}/{name}", "rb") as handle:
            return handle.read().decode("utf-8", "replace")
    except OSError:
        return None


def _status(pid: int | str) -> dict[str, str]:
    text = _proc_text(pid, "status") or ""
    fields = {}
    for line in text.splitlines():
        name, _, value = line.partition(":")
        fields[name] = value.strip()
    return fields


def _watch_client(conn_fd: int) -> None:
    """If the client goes away before the call ends (cargo's process group killed with
    SIGKILL, which cannot be forwarded), end this call's whole process group at once:
    a compile that outlived its build would write into the target dir afterwards,
    over what a later build put there. The client sends nothing after its request, so
    any return of the read is its end."""
    import _thread  # threading's Thread costs ~0.4 ms more to start; nothing joins this one

    def watch() -> None:
        try:
            os.read(conn_fd, 1)
        except OSError:
            pass
        if not _has_answered():
            os.killpg(0, signal.SIGKILL)

    # Started with every signal blocked (a thread starts with its creator's mask), so
    # that the main thread takes each one: a signal sent to this process goes to any
    # thread not blocking it, Python runs handlers in the main thread only, and one
    # taken here leaves the main thread's select on the compiler's pipes waiting until
    # they close: a forwarded Ctrl-C would not end the call. The kernel prefers the
    # main thread, but not while this process is stopped, nor when it was just
    # continued and its threads have not run yet (a Ctrl-C right after Ctrl-Z and fg
    # on a busy machine, or after the server's poll stopped the group late): then
    # whichever thread runs first takes it. (Through _signal: _adopt_signals says why.)
    mask = _signal.pthread_sigmask(signal.SIG_BLOCK, _signal.valid_signals())
    try:
        _thread.start_new_thread(watch, ())
    finally:
        _signal.pthread_sigmask(signal.SIG_SETMASK, mask)


# A page shared with the server (run() sets it up): its byte is set once this call
# has answered its client, whose hanging up is expected from then on, by the child's
# watcher thread and by the server's watch alike.
ANSWERED: list[mmap.mmap | None] = [None]


def _finished() -> None:
    shared = ANSWERED[0]
    if shared is not None:
        shared[0] = 1


def _has_answered() -> bool:
    shared = ANSWERED[0]
    return shared is not None and shared[0] == 1


def _check_call(request: Request) -> None:
    """After _adopt: whether a call is a compiler's can depend on the environment."""
    from buildcache.main import is_wrapper_call

    if not is_wrapper_call([os.fsdecode(arg) for arg in request.argv]):
        raise Refused("not a compiler call")


def _utf8_locale(environ: dict[bytes, bytes]) -> bool:
    """Whether a fresh Python with this environment would use UTF-8 for paths and
    streams, as the server does (-X utf8): C and POSIX are coerced to it."""
    for name in (b"LC_ALL", b"LC_CTYPE", b"LANG"):
        value = environ.get(name, b"")
        if value:
            lowered = value.lower().replace(b"-", b"")
            return value in (b"C", b"POSIX") or b"utf8" in lowered
    return True


def _adopt(request: Request, fds: list[int], conn_fd: int) -> int:
    """Become the client; the connection's descriptor, moved clear of the client's."""
    import resource

    def limit(value: int) -> int:  # C's unsigned RLIM_INFINITY is Python's -1
        return resource.RLIM_INFINITY if value >= 1 << 63 else value

    for number, soft, hard in request.limits:
        soft, hard = limit(soft), limit(hard)
        try:
            if resource.getrlimit(number) != (soft, hard):
                resource.setrlimit(number, (soft, hard))
        except (ValueError, OSError):
            raise Refused(f"cannot take rlimit {number}", retire=True) from None
    current = os.getpriority(os.PRIO_PROCESS, 0)
    if current != request.nice:
        try:
            os.setpriority(os.PRIO_PROCESS, 0, request.nice)
        except OSError:
            raise Refused("cannot take the caller's niceness", retire=True) from None
    cwd_fd, received = fds[0], fds[1:]
    os.fchdir(cwd_fd)
    # Out of the way of every number the client used, then into those numbers.
    floor = max([*request.fd_numbers, 2]) + 1
    conn_fd = _move_above(conn_fd, floor)
    staged = [_move_above(fd, floor) for fd in received]
    for fd in [cwd_fd, *received]:
        if fd not in staged and fd != conn_fd:
            close_quietly(fd)
    for fd in open_fds():
        if fd not in staged and fd != conn_fd:
            close_quietly(fd)
    for fd, number in zip(staged, request.fd_numbers):
        os.dup2(fd, number, inheritable=True)
        close_quietly(fd)
    os.umask(request.umask)
    environ = os.environb
    environ.clear()
    environ.update(request.environ)
    _coerce_c_locale(environ)
    # The C library read TZ once, in the server, whose environment is empty: read the
    # caller's (local times in BUILDCACHE_LOG).
    import time

    time.tzset()
    _adopt_signals(request)
    return conn_fd


def _adopt_signals(request: Request) -> None:
    """Dispositions and mask as a Python started by the client would have them: what
    cargo ignored stays ignored (nohup), Python's own SIGINT handler unless SIGINT was
    ignored, SIGPIPE and SIGXFSZ ignored (Python's start-up does that), the rest
    default; and the client's blocked signals blocked. Through _signal, the C module
    signal.py wraps: its enum conversions of every number and handler cost 0.12 ms of
    each call, against 4 us."""
    ignore, default = _signal.SIG_IGN, _signal.SIG_DFL
    for number in _signal.valid_signals():
        if number in (signal.SIGKILL, signal.SIGSTOP):
            continue
        if number in request.ignored or number in (signal.SIGPIPE, signal.SIGXFSZ):
            handler: object = ignore
        elif number == signal.SIGINT:
            handler = _signal.default_int_handler
        else:
            handler = default
        try:
            # Python's own record of each disposition (it reads the inherited ones at
            # start-up): a system call only for the few that differ.
            if _signal.getsignal(number) != handler:
                _signal.signal(number, handler)
        except (OSError, ValueError):
            pass  # a signal Python will not touch (real-time ones it reserves)
    _signal.pthread_sigmask(signal.SIG_SETMASK, request.blocked)


def _coerce_c_locale(environ: os._Environ[bytes]) -> None:
    """Python coerces a C or POSIX locale to C.UTF-8 at start-up and says so in its
    environment (PEP 538), which rustc and compilers then inherit: so here too."""
    if environ.get(b"LC_ALL"):
        return
    effective = environ.get(b"LC_CTYPE") or environ.get(b"LANG") or b""
    if effective in (b"", b"C", b"POSIX"):
        environ[b"LC_CTYPE"] = b"C.UTF-8"


def _move_above(fd: int, floor: int) -> int:
    import fcntl

    moved = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, floor)
    if fd >= floor:
        # An fd the kernel already placed above the floor stays where it is.
        os.close(moved)
        os.set_inheritable(fd, False)
        return fd
    close_quietly(fd)
    return moved


def _call(conn_fd: int, request: Request) -> int:
    """Run the wrapper as the client's call; tell the client how it ended."""
    from buildcache import main
    from buildcache.wrapper import caller, detached_store, rustc_process

    caller.CARGO_PID[0] = request.parent
    detached_store.AFTER_ANSWER[0] = []  # a miss's store runs here, after the answer

    def hand_back(argv: list[str]) -> None:
        # Never returns: whatever fails here (a MemoryError under the caller's limits,
        # a forwarded Ctrl-C) ends this child without an answer, and the client runs
        # the call once, the ordinary way; returning would let main's last resort make
        # this child the compiler, unwatched.
        try:
            _flush()
            message = reply(b"E", b"".join(os.fsencode(arg) + b"\0" for arg in argv))
            _let_go_of_callers_fds(conn_fd)
            _finished()
            _answer(conn_fd, message)
        finally:
            os._exit(0 if _has_answered() else 1)

    rustc_process.HAND_BACK[0] = hand_back
    argv = [os.fsdecode(arg) for arg in request.argv]
    sys.argv = ["buildcache", *argv[1:]]
    try:
        code = main.main(["buildcache", *argv[1:]])
    except SystemExit as end:
        code = end.code if isinstance(end.code, int) else 1
    except BaseException:  # noqa: BLE001 - main's own guard hands rustc back; this is past it
        code = 1
    _flush()
    if detached_store.AFTER_ANSWER[0]:
        # A store follows: the signals the client may still forward to this group in
        # its last moments must not end it (a detached store never saw them).
        detached_store.ignore_forwarded_signals()
    if not _let_go_of_callers_fds(conn_fd, keep=detached_store.deferred_fds()):
        detached_store.fork_deferred()  # cargo must not wait for the store
    _finished()
    _answer(conn_fd, reply(b"X", str(code).encode()))
    detached_store.run_after_answer()
    return code


def _let_go_of_callers_fds(conn_fd: int, keep: list[int] | None = None) -> bool:
    """Before the answer: cargo reads the compiler's output to its end, which comes when
    the last copy of its pipes closes. Left to the exit, that is once this process is
    torn down too (0.9 ms of a hit, measured here), after the client has gone; so stdio
    becomes /dev/null and every other descriptor closes now but the connection and
    `keep` (the locks and held outputs of the stores that run after the answer:
    detached_store.py).
    False when that cannot be done (no /dev/null: closing stdio instead would let a later
    open get its number): cargo then waits for this process's end."""
    return let_go_of_descriptors({conn_fd, *(keep or [])})


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass


def _answer(conn_fd: int, message: bytes) -> None:
    try:
        while message:
            sent = os.write(conn_fd, message)
            message = message[sent:]
    except OSError:
        pass  # the client is gone; nothing else to tell
