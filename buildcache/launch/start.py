"""Starting a launch server, from the call the client sent the ordinary way because
none was listening (client.c sets BUILDCACHE_LAUNCH_SOCKET for it).

The server is this install's interpreter started afresh (-IS, UTF-8 mode, the same
import path), in a session of its own, with `/` as its directory, nothing but
/dev/null open and an empty environment: it must hold none of cargo's pipes (cargo
waits for every writer of them to close) nor jobserver tokens, and keep nothing of
this call. The start costs this call one fork; the server's lock makes every start
but one a no-op when many calls find no server at once.
"""

from __future__ import annotations

import os
import signal
import sys


def start_server(path: str) -> None:
    code = (
        "import sys\n"
        f"sys.path[:] = {sys.path!r}\n"
        "from buildcache.launch.server import main\n"
        "main(sys.argv)\n"
    )
    command = [sys.executable, "-I", "-S", "-X", "utf8", "-c", code, path]
    try:
        pid = os.fork()
    except OSError:
        return
    if pid:
        try:
            os.waitpid(pid, 0)
        except OSError:
            pass
        return
    try:  # the first child: a new session, then a grandchild init adopts
        os.setsid()
        if os.fork():
            os._exit(0)
        os.chdir("/")
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(devnull, fd)
        os.closerange(3, _highest_fd() + 1)
        # Nothing of this call's signal state either: exec keeps the mask and what is
        # ignored, and each child sets both from its own caller (launch/child.py).
        signal.pthread_sigmask(signal.SIG_SETMASK, [])
        for number in signal.valid_signals():
            try:
                signal.signal(number, signal.SIG_DFL)
            except (OSError, ValueError):
                pass
        os.execve(sys.executable, command, {})
    finally:
        os._exit(0)


def _highest_fd() -> int:
    try:
        return max(int(name) for name in os.listdir("/proc/self/fd"))
    except (OSError, ValueError):
        return 1023
