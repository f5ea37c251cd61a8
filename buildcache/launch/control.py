"""Finding and stopping this user's launch servers (`buildcache helper stop`, tests)."""

from __future__ import annotations

import glob
import os
import signal
import time


def running_servers(directory: str) -> dict[str, int]:
    """{socket path: pid} of the launch servers whose lock files are in directory."""
    found = {}
    for lock in sorted(glob.glob(os.path.join(directory, "launch-*.sock.lock"))):
        try:
            with open(lock, encoding="ascii") as handle:
                pid = int(handle.read().strip() or 0)
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                command = handle.read()
        except (OSError, ValueError):
            continue
        if pid > 0 and b"buildcache.launch.server" in command:
            found[lock[: -len(".lock")]] = pid
    return found


def stop_servers(directory: str, wait_seconds: float = 5.0) -> list[int]:
    """SIGTERM every launch server in directory, and wait for them to exit; the pids
    that were stopped. A child serving a call finishes it: only the server exits."""
    pids = list(running_servers(directory).values())
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except OSError:
            pass
    deadline = time.monotonic() + wait_seconds
    while time.monotonic() < deadline and any(_alive(pid) for pid in pids):
        time.sleep(0.02)
    return pids


def process_state(pid: int) -> str:
    """The one-letter state of /proc/PID/stat (R, S, T stopped, Z...), "" once gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            return handle.read().rpartition(b")")[2].split()[0].decode("ascii")
    except (OSError, IndexError, UnicodeDecodeError):
        return ""


def _alive(pid: int) -> bool:
    return process_state(pid) not in ("", "Z")
