"""The launch server's watch of the calls in flight (buildcache/launch/watch.py), with
real processes: a child that leads its own process group, the server's end of a
connection, and the client's end closed as a client that goes away closes it."""

from __future__ import annotations

import mmap
import os
import signal
import socket
import time

import pytest

from buildcache.launch.control import process_state as state
from buildcache.launch.watch import CallWatch


def a_call_in_flight(answered: bool) -> tuple[CallWatch, socket.socket, int, socket.socket]:
    """A watch with one call: (watch, the client's end, the child's pid, the listener)."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind("")  # an unused abstract name, chosen by the kernel
    listener.listen(1)
    server_end, client_end = socket.socketpair()
    child = os.fork()
    if child == 0:  # a compile in flight: its own group, as child.run makes it
        os.setpgid(0, 0)
        for held in (listener, server_end, client_end):  # only the client's going counts
            held.close()
        time.sleep(60)
        os._exit(0)
    os.setpgid(child, child)  # in both, so the group exists whichever runs first
    flag = mmap.mmap(-1, 1)
    flag[0] = 1 if answered else 0
    watch = CallWatch(listener)
    watch.add(server_end, client=os.getpid(), child=child, answered=flag)
    return watch, client_end, child, listener


def serve_briefly(watch: CallWatch, seconds: float = 0.5) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and watch.by_conn:
        watch.wait(0.1)


@pytest.mark.parametrize("answered", [False, True])
def test_a_client_that_goes_away_takes_an_unanswered_call_with_it(answered: bool) -> None:
    """Killed unanswered: the compile of a cancelled build. Left alone once answered: a
    background store may still be in the group then."""
    watch, client_end, child, listener = a_call_in_flight(answered)
    try:
        client_end.close()
        serve_briefly(watch)
        assert watch.by_conn == {}, "the call was not dropped"
        if answered:
            assert state(child) not in ("", "Z"), "an answered call's group was killed"
        else:
            deadline = time.monotonic() + 5
            while state(child) not in ("", "Z"):
                assert time.monotonic() < deadline, "the unanswered call's group lives on"
                time.sleep(0.02)
    finally:
        end(child)
        listener.close()


def end(child: int) -> None:
    """Kill and reap the child, unless the watch reaped it already."""
    try:
        os.killpg(child, signal.SIGKILL)
        os.waitpid(child, 0)
    except OSError:
        pass


def test_a_call_whose_child_exits_is_dropped_and_its_child_reaped() -> None:
    """The server's copy of the connection must not outlive the child (the client waits
    for its end), and nothing is left a zombie."""
    watch, client_end, child, listener = a_call_in_flight(answered=False)
    try:
        os.killpg(child, signal.SIGTERM)
        serve_briefly(watch)
        assert watch.by_conn == {}
        assert state(child) == "", "the child was not reaped"
        client_end.settimeout(5)
        assert client_end.recv(1) == b"", "the server's copy still holds the connection"
    finally:
        end(child)
        client_end.close()
        listener.close()
