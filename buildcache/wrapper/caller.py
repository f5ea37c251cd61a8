"""Who called this wrapper: cargo is the parent process, unless a launch server's child
runs the call (launch/child.py), which sets the pid its client was started by."""

from __future__ import annotations

import os

# Set by launch/child.py to the client's parent pid; None in a process of its own.
CARGO_PID: list[int | None] = [None]


def cargo_pid() -> int:
    pid = CARGO_PID[0]
    return os.getppid() if pid is None else pid
