"""Running rustc: streamed on a miss, exec'd when the cache stays out of the way."""

from __future__ import annotations

import os
import sys

from buildcache.wrapper.messages import warn, write_stream

TYPE_CHECKING = False  # typing costs ~10 ms to import on the hot path
if TYPE_CHECKING:
    from typing import Callable


def run_rustc_streaming(rustc: str, args: list[str]) -> tuple[int, bytes, bytes]:
    """Run rustc, forwarding its stderr line by line as it comes (cargo's pipelining
    starts dependents on the metadata notification) while keeping a copy of everything.

    posix_spawn, pipes and select rather than subprocess and a thread: those cost
    ~10 ms to import, paid on every miss. rustc inherits every other descriptor we
    inherited, which is how it reaches cargo's jobserver."""
    import select

    out_read, out_write = os.pipe()
    err_read, err_write = os.pipe()
    actions = [
        (os.POSIX_SPAWN_DUP2, out_write, 1),
        (os.POSIX_SPAWN_DUP2, err_write, 2),
    ]
    try:
        pid = os.posix_spawnp(rustc, [rustc, *args], os.environ, file_actions=actions)
    finally:
        os.close(out_write)
        os.close(err_write)
    stdout, stderr, pending = bytearray(), bytearray(), b""
    open_fds = [out_read, err_read]
    while open_fds:
        ready, _, _ = select.select(open_fds, [], [])
        for fd in ready:
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                open_fds.remove(fd)
                os.close(fd)
            elif fd == out_read:
                stdout += chunk
            else:
                pending += chunk
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    stderr += line + b"\n"
                    write_stream(sys.stderr, line + b"\n")
    if pending:
        stderr += pending
        write_stream(sys.stderr, pending)
    _, status = os.waitpid(pid, 0)
    exit_code = os.waitstatus_to_exitcode(status)
    if exit_code < 0:
        exit_code = 128 - exit_code  # killed by a signal: report it as a shell would
    write_stream(sys.stdout, bytes(stdout))
    return exit_code, bytes(stdout), bytes(stderr)


# Set in a launch server's child (launch/child.py): there the compiler is handed back
# to the launch client, which execs it as cargo's own child, as this process would.
HAND_BACK: list[Callable[[list[str]], None] | None] = [None]


def exec_rustc(rustc: str, args: list[str]) -> int:
    """Become rustc: same pid, same file descriptors (stdin, jobserver), its exit code."""
    try:
        sys.stdout.flush()
        sys.stderr.flush()
        hand_back = HAND_BACK[0]
        if hand_back is not None:
            hand_back([rustc, *args])  # does not return
        os.execvp(rustc, [rustc, *args])
    except OSError as error:
        warn(f"cannot run {rustc}: {error.strerror}")
        return 127
    return 127  # not reached: execvp returns only by raising
