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


def a_call_in_flight(
    answered: bool, client: int = 0
) -> tuple[CallWatch, socket.socket, int, socket.socket]:
    """A watch with one call: (watch, the client's end, the child's pid, the listener).
    The client is this process unless another pid is given."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind("")  # an unused abstract name, chosen by the kernel
    listener.listen(1)
    server_end, client_end = socket.socketpair()
    ready_read, ready_write = os.pipe()
    child = os.fork()
    if child == 0:  # a compile in flight: its own group, as child.run makes it
        os.setpgid(0, 0)
        for held in (listener, server_end, client_end):  # only the client's going counts
            held.close()
        os.write(ready_write, b"r")
        time.sleep(60)
        os._exit(0)
    os.setpgid(child, child)  # in both, so the group exists whichever runs first
    os.close(ready_write)
    assert os.read(ready_read, 1) == b"r"  # a test may stop it from now on
    os.close(ready_read)
    flag = mmap.mmap(-1, 1)
    flag[0] = 1 if answered else 0
    watch = CallWatch(listener)
    watch.add(server_end, client=client or os.getpid(), child=child, answered=flag)
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


def a_stopped_client() -> int:
    client = os.fork()
    if client == 0:
        os.setpgid(0, 0)  # so that end() takes it
        os.closerange(3, 1024)
        time.sleep(60)
        os._exit(0)
    os.setpgid(client, client)
    os.kill(client, signal.SIGSTOP)
    deadline = time.monotonic() + 5
    while state(client) != "T":
        assert time.monotonic() < deadline, "the client did not stop"
        time.sleep(0.01)
    return client


@pytest.mark.parametrize("answered", [False, True])
def test_a_stopped_client_stops_its_call_until_it_has_answered(answered: bool) -> None:
    """Ctrl-Z stops a compile with its build; an answered call's child may be storing a
    miss (detached_store.py), which goes on as a detached store would, even when the
    client's own Ctrl-Z handler stopped it in its last moments (client.c)."""
    client = a_stopped_client()
    watch, client_end, child, listener = a_call_in_flight(answered, client=client)
    try:
        if answered:
            os.killpg(child, signal.SIGSTOP)
        for _ in range(3):  # what each turn of the watch's loop does with a call in flight
            watch._mirror_stops()
            time.sleep(0.05)
        assert (state(child) == "T") == (not answered), state(child)
    finally:
        end(child)
        end(client)
        client_end.close()
        listener.close()


def test_the_hang_up_of_an_answered_call_continues_its_group() -> None:
    """A client stopped by Ctrl-Z after its answer has stopped the child's group itself
    (client.c); killed then, it must not leave the child's store stopped for good."""
    watch, client_end, child, listener = a_call_in_flight(answered=True)
    try:
        os.killpg(child, signal.SIGSTOP)
        deadline = time.monotonic() + 5
        while state(child) != "T":
            assert time.monotonic() < deadline, "the child did not stop"
            time.sleep(0.01)
        client_end.close()
        serve_briefly(watch)
        assert watch.by_conn == {}
        deadline = time.monotonic() + 5
        while state(child) == "T":
            assert time.monotonic() < deadline, "the answered call's group stays stopped"
            time.sleep(0.01)
    finally:
        end(child)
        listener.close()


def test_an_answered_call_that_goes_on_storing_is_reaped_when_it_exits() -> None:
    """Its client gone, the call is dropped, but its child still stores a miss: its
    exit must wake the watch, not leave a zombie until the next idle check (20 s)."""
    import threading

    watch, client_end, child, listener = a_call_in_flight(answered=True)
    waiting = threading.Thread(target=watch.wait, args=(10.0,), daemon=True)
    try:
        client_end.close()
        serve_briefly(watch)
        assert watch.by_conn == {} and state(child) == "S"
        waiting.start()
        time.sleep(0.2)  # the watch is in its idle wait
        os.killpg(child, signal.SIGTERM)
        deadline = time.monotonic() + 3
        while state(child) != "":
            assert time.monotonic() < deadline, f"not reaped: {state(child)!r}"
            time.sleep(0.02)
        assert watch.storing == set()
    finally:
        end(child)
        # A connection ends the wait (it returns to accept), and with it the thread,
        # which would otherwise go on reaping children of the tests that follow.
        if waiting.ident is not None:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as knock:
                knock.connect(listener.getsockname())
                waiting.join(timeout=10)
        listener.close()
        assert not waiting.is_alive()
