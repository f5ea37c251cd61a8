"""The calls in flight, as the launch server sees them: each child is tied to its client.

A served compile runs in the server's session, in a process group its child leads, so
nothing the terminal or a job-control shell does to cargo's group reaches it. The
client forwards the signals it can catch (client.c) and the child watches its
connection from a thread (child.py), but a stopped child's thread cannot run, and
SIGSTOP cannot be caught. So the server, which is never stopped by the build, keeps
its copy of each connection and, until the client hangs up:

- when the client is stopped (SIGSTOP or Ctrl-Z to cargo's group, a debugger, a
  freezer), stops the child's group, and continues it when the client continues: a
  suspended build does not go on writing into the target dir;
- when the client goes away while its child still runs (killed, even while stopped),
  kills the child's group with SIGKILL, which ends stopped processes too: nothing of a
  cancelled build goes on compiling, or holds a lock the next build waits for.

Only a call that has not answered is killed, or stopped: the child sets a byte shared
with the server before its answer, and goes on to store a miss after it
(detached_store.py) when the client, answered, exits; the hang-up of an answered call
continues its group, lest a stop the client sent in its last moments last. And should
the server itself go while a build is stopped, the children's groups are orphaned with
stopped members, so the kernel sends them SIGHUP and SIGCONT, which ends them; the
clients then see their ends.

The server reaps its children here (it does not ignore SIGCHLD): until then a child's
pid cannot be reused, so the pidfd taken right after the fork is surely the child's.
"""

from __future__ import annotations

import mmap
import os
import select
import signal
import socket

from buildcache.launch.control import process_state

# How often the clients' states are read while calls are in flight: a stopped build's
# compile stops within this, and a cancelled one's is killed within it at worst (the
# hang-up itself wakes the server at once).
WATCH_SECONDS = 0.05
HANG_UP = select.POLLHUP | select.POLLRDHUP | select.POLLERR | select.POLLNVAL


class Call:
    __slots__ = ("answered", "client", "conn", "child", "pidfd", "stopped")

    def __init__(
        self, conn: socket.socket, client: int, child: int, pidfd: int, answered: mmap.mmap
    ) -> None:
        self.conn = conn
        self.client = client
        self.child = child
        self.pidfd = pidfd
        self.answered = answered
        self.stopped = False

    def running(self) -> bool:
        """Whether the child still runs (its pidfd is not readable yet)."""
        return not select.select([self.pidfd], [], [], 0)[0]

    def signal_group(self, number: int) -> None:
        # Only while the pidfd says our child still runs: then the group it leads is
        # ours, not a reused pid's.
        if self.running():
            try:
                os.killpg(self.child, number)
            except OSError:
                pass

    def close(self) -> None:
        self.conn.close()
        if self.pidfd >= 0:  # -1: kept by the watch (CallWatch.storing)
            os.close(self.pidfd)
        self.answered.close()


class CallWatch:
    """The listener and every call's connection and child, on one poll object."""

    def __init__(self, listener: socket.socket) -> None:
        self.listener = listener
        self.poller = select.poll()
        self.poller.register(listener, select.POLLIN)
        self.by_conn: dict[int, Call] = {}
        self.by_pidfd: dict[int, Call] = {}
        # The pidfds of answered calls whose children still store a miss after their
        # clients went: watched only so that each is reaped as soon as it exits.
        self.storing: set[int] = set()

    def add(self, conn: socket.socket, client: int, child: int, answered: mmap.mmap) -> None:
        """Watch a call whose child was just forked; without a pidfd (Linux < 5.3) the
        server keeps no copy of the connection (the client must see the child's end as
        the connection's) and the child's own watcher is all there is."""
        try:
            pidfd = os.pidfd_open(child)
        except (AttributeError, OSError):
            conn.close()
            answered.close()
            return
        call = Call(conn, client, child, pidfd, answered)
        # Only the hang-up: the request's bytes are for the child, not for us.
        self.poller.register(conn, select.POLLRDHUP)
        self.poller.register(pidfd, select.POLLIN)
        self.by_conn[conn.fileno()] = call
        self.by_pidfd[pidfd] = call

    def wait(self, idle_seconds: float) -> bool:
        """Wait for a new connection (True) or for idle_seconds with no call in flight
        (False); meanwhile end the calls whose client hung up and mirror their
        clients' stops. A call is dropped when its child exits: the server's copy of
        the connection must not outlive it, or the client would wait for an end that
        never comes."""
        while True:
            timeout = WATCH_SECONDS if self.by_conn else idle_seconds
            try:
                events = self.poller.poll(timeout * 1000)
            except InterruptedError:
                events = []
            accept = False
            for fd, event in events:
                if fd == self.listener.fileno():
                    accept = True
                elif fd in self.by_pidfd:
                    self._drop(self.by_pidfd[fd])
                elif fd in self.storing:  # exited: reaped below
                    self.storing.discard(fd)
                    self.poller.unregister(fd)
                    os.close(fd)
                elif fd in self.by_conn and event & HANG_UP:
                    call = self.by_conn[fd]
                    if not call.answered[0]:
                        call.signal_group(signal.SIGKILL)
                    else:
                        # The child may be storing a miss (detached_store.py): a stop
                        # its client sent in its last moments must not outlive it.
                        call.signal_group(signal.SIGCONT)
                    self._drop(call, storing=bool(call.answered[0]))
            self._mirror_stops()
            _reap()
            if accept:
                return True
            if not events and not self.by_conn:
                return False

    def _drop(self, call: Call, storing: bool = False) -> None:
        self.poller.unregister(call.conn)
        del self.by_conn[call.conn.fileno()]
        del self.by_pidfd[call.pidfd]
        if storing and call.running():
            # Still running: its pidfd stays registered, and its exit wakes the poll.
            self.storing.add(call.pidfd)
            call.pidfd = -1
        else:
            self.poller.unregister(call.pidfd)
        call.close()

    def _mirror_stops(self) -> None:
        for call in self.by_conn.values():
            stopped = _is_stopped(call.client)
            if call.answered[0]:
                # An answered call compiles nothing: what it still does is a miss's
                # store, which a detached child would do out of reach of the build's
                # stops; so it goes on, were it stopped by us or by the client's Ctrl-Z
                # handler in its last moments (client.c), until the client goes.
                if stopped or call.stopped:
                    call.signal_group(signal.SIGCONT)
                call.stopped = False
                continue
            if stopped and not call.stopped:
                call.signal_group(signal.SIGSTOP)
            elif call.stopped and not stopped:
                call.signal_group(signal.SIGCONT)
            call.stopped = stopped


def _reap() -> None:
    """Collect every child that has exited (the dropped calls' ones, and those of calls
    never watched)."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _is_stopped(pid: int) -> bool:
    # T: stopped by a signal. Not t, the stop of a traced process at each of its system
    # calls under strace, which sampling would turn into stops and starts of the child.
    return process_state(pid) == "T"
