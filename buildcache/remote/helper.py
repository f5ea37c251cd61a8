"""The storage helper: `python -m buildcache.remote.helper`, started by the first
wrapper call that needs a remote (client.py), one per user, cache dir and remotes.

It listens on a Unix socket in a private directory (paths.py), answers `get` from
the tiers in order (backfilling earlier writable tiers after a later one hits), queues
`put`s for every tier not marked `|read-only` and uploads them from worker threads so
the wrapper returns at once, and exits after
IDLE_SECONDS without requests (uploads drained first), on `stop`, when its socket is
replaced or removed, or when its cache dir is gone. Its log (stderr) holds only
redacted URLs, never values or credentials.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import queue
import socket
import sys
import threading
import time

from buildcache.cache import counters
from buildcache.remote.backends import Backend, open_backend
from buildcache.remote.breaker import FAILURES_BEFORE_SKIP, SKIP_SECONDS
from buildcache.remote.client import REMOTES_VARIABLE
from buildcache.remote.protocol import ProtocolError, recv_frame, send_frame
from buildcache.remote.urls import ATTRIBUTE_SEPARATOR, READ_ONLY, redact

# Exit after this long without a request: builds come in bursts, and a helper that
# stays costs a little memory and its open connections.
IDLE_SECONDS = 600.0
# Parallel uploads: enough to overlap the round trips of a parallel cargo build.
UPLOAD_WORKERS = 4
# Uploads waiting beyond this are dropped (and logged): the helper must not hold a
# whole build's artifacts in memory because the remote is slow.
MAX_PENDING_BYTES = 1 << 30
# How long `stop` and idle exit wait for queued uploads before giving up on them.
DRAIN_SECONDS = 60.0
# How often the main loop looks at idleness, its socket and its cache dir.
TICK_SECONDS = 1.0


def log(message: str) -> None:
    stamp = time.strftime("%Y-%m-%d %H:%M:%S")
    sys.stderr.write(f"{stamp} helper[{os.getpid()}] {message}\n")
    sys.stderr.flush()


class Tier:
    """A backend with its own short-lived skip after failures in a row, so a dead
    tier costs queued uploads nothing and lookups one timeout per pause."""

    def __init__(self, backend: Backend, *, read_only: bool) -> None:
        self.backend = backend
        self.read_only = read_only  # `|read-only`: never uploaded to, never backfilled
        self.failures = 0
        self.skip_until = 0.0
        self.lock = threading.Lock()

    def usable(self) -> bool:
        return time.monotonic() >= self.skip_until

    def failed(self, what: str, error: BaseException) -> None:
        with self.lock:
            self.failures += 1
            if self.failures >= FAILURES_BEFORE_SKIP:
                self.skip_until = time.monotonic() + SKIP_SECONDS
        log(f"{self.backend.label}: {what} failed: {type(error).__name__}: {error}")

    def worked(self) -> None:
        if self.failures:
            with self.lock:
                self.failures = 0


class BrokenBackend:
    """A tier whose client could not be made (a missing library, a bad option)."""

    def __init__(self, label: str, error: BaseException) -> None:
        self.label = label
        self._error = f"{type(error).__name__}: {error}"

    def get(self, name: str) -> bytes | None:
        raise OSError(self._error)

    def put(self, name: str, value: bytes) -> None:
        raise OSError(self._error)

    def delete(self, name: str) -> None:
        raise OSError(self._error)

    def close(self) -> None:
        pass


class Helper:
    def __init__(self, cache_dir: str, tiers: list[Tier]) -> None:
        self.cache_dir = cache_dir
        self.tiers = tiers
        self.uploads: queue.Queue[tuple[int, str, bytes]] = queue.Queue()
        self.pending_bytes = 0
        self.pending_lock = threading.Lock()
        self.last_request = time.monotonic()
        self.active = 0  # connections being served
        self.active_lock = threading.Lock()
        self.stopping = threading.Event()

    # --- requests ---------------------------------------------------------------

    def handle(self, message: dict[str, object]) -> dict[str, object]:
        op = message.get("op")
        if op == "get":
            return self.get(str(message["name"]), backfill=bool(message.get("backfill")))
        if op == "put":
            items = message.get("items")
            assert isinstance(items, list)
            writable = self.writable(len(self.tiers))
            for name, value in items:
                self.enqueue(writable, str(name), bytes(value))
            return {"status": "queued"}
        if op == "ping":
            return {
                "status": "ok",
                "pid": os.getpid(),
                "cache_dir": self.cache_dir,
                "tiers": [tier.backend.label for tier in self.tiers],
                "pending_uploads": self.uploads.qsize(),
            }
        if op == "stop":
            self.stopping.set()
            return {"status": "stopping", "pid": os.getpid()}
        return {"status": "error", "error": f"unknown op {op!r}"}

    def get(self, name: str, *, backfill: bool) -> dict[str, object]:
        errors = 0
        for index, tier in enumerate(self.tiers):
            if not tier.usable():
                errors += 1
                continue
            try:
                value = tier.backend.get(name)
            except Exception as error:  # noqa: BLE001 - any client failure is a miss
                tier.failed(f"get {name}", error)
                errors += 1
                continue
            tier.worked()
            if value is not None:
                if backfill and self.writable(index):
                    self.enqueue(self.writable(index), name, value)
                return {"status": "hit", "data": value, "tier": index, "errors": errors}
        if errors == len(self.tiers):
            return {"status": "error", "errors": errors, "error": "every tier failed"}
        return {"status": "miss", "errors": errors}

    # --- uploads ----------------------------------------------------------------

    def writable(self, end: int) -> list[int]:
        """Positions of the tiers before end that take uploads."""
        return [index for index in range(end) if not self.tiers[index].read_only]

    def enqueue(self, tier_indexes: list[int], name: str, value: bytes) -> None:
        total = len(value) * len(tier_indexes)
        with self.pending_lock:
            if self.pending_bytes + total > MAX_PENDING_BYTES:
                log(f"upload of {name} dropped: {self.pending_bytes} bytes already queued")
                return
            self.pending_bytes += total
        for index in tier_indexes:
            self.uploads.put((index, name, value))

    def upload_worker(self) -> None:
        while True:
            index, name, value = self.uploads.get()
            try:
                self.upload(self.tiers[index], name, value)
            finally:
                with self.pending_lock:
                    self.pending_bytes -= len(value)
                self.uploads.task_done()

    def upload(self, tier: Tier, name: str, value: bytes) -> None:
        if not tier.usable():
            self.count(name, {"remote_upload_errors": 1})
            return
        try:
            tier.backend.put(name, value)
        except Exception as error:  # noqa: BLE001 - logged and counted
            tier.failed(f"put {name}", error)
            self.count(name, {"remote_upload_errors": 1})
            return
        tier.worked()
        self.count(name, {"remote_bytes_up": len(value), "remote_uploads": 1})

    def count(self, name: str, deltas: dict[str, int]) -> None:
        try:
            counters.update_shard(self.cache_dir, name[0], deltas)
        except Exception:  # noqa: BLE001, S110 - counting must not stop uploads
            pass

    def drain(self) -> None:
        deadline = time.monotonic() + DRAIN_SECONDS
        while self.uploads.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.05)
        if self.uploads.unfinished_tasks:
            log(f"exiting with {self.uploads.unfinished_tasks} uploads not done")

    # --- connections ------------------------------------------------------------

    def serve_connection(self, conn: socket.socket) -> None:
        with conn:
            try:
                conn.settimeout(30)
                message = recv_frame(conn)
                reply = self.handle(message)
                send_frame(conn, reply)
            except (OSError, ProtocolError, KeyError, ValueError, AssertionError) as error:
                # A wrapper that timed out and left, or a malformed request.
                log(f"request failed: {type(error).__name__}: {error}")
            finally:
                self.last_request = time.monotonic()
                with self.active_lock:
                    self.active -= 1


def bind_socket(path: str) -> tuple[socket.socket, int]:
    """Listen under a temporary name, then rename into place: a client connects to a
    listening helper or finds no socket, never a half-made one. Returns the socket
    and its inode, which tells later whether the path still names it."""
    temp = f"{path}.{os.getpid()}.tmp"
    try:
        os.unlink(temp)
    except FileNotFoundError:
        pass
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(temp)
    os.chmod(temp, 0o600)
    server.listen(128)
    inode = os.stat(temp).st_ino
    os.replace(temp, path)
    return server, inode


def still_ours(path: str, inode: int) -> bool:
    try:
        return os.stat(path).st_ino == inode
    except OSError:
        return False


def serve(helper: Helper, server: socket.socket, socket_path: str, inode: int) -> None:
    server.settimeout(TICK_SECONDS)
    for _ in range(UPLOAD_WORKERS):
        threading.Thread(target=helper.upload_worker, daemon=True).start()
    while not helper.stopping.is_set():
        try:
            conn, _ = server.accept()
        except socket.timeout:
            idle = time.monotonic() - helper.last_request
            if idle > IDLE_SECONDS and not helper.active and not helper.uploads.unfinished_tasks:
                log(f"idle for {idle:.0f} s: exiting")
                break
            if not still_ours(socket_path, inode):
                log("socket replaced or removed: exiting")
                break
            if not os.path.isdir(helper.cache_dir):
                log("cache dir gone: exiting")
                break
            continue
        with helper.active_lock:
            helper.active += 1
        helper.last_request = time.monotonic()
        threading.Thread(target=helper.serve_connection, args=(conn,), daemon=True).start()
    if still_ours(socket_path, inode):
        try:
            os.unlink(socket_path)  # new wrappers start a new helper from now on
        except OSError:
            pass
    server.close()
    helper.drain()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="buildcache.remote.helper")
    parser.add_argument("--cache-dir", required=True)
    parser.add_argument("--socket", required=True)
    parser.add_argument("--alive-lock", required=True)
    parser.add_argument("--timeout", type=float, required=True)
    args = parser.parse_args(argv)
    urls = [url for url in os.environ.pop(REMOTES_VARIABLE, "").split("\n") if url]

    alive_fd = os.open(args.alive_lock, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(alive_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        log("another helper is running for this cache and these remotes: exiting")
        return 0
    tiers = []
    for url in urls:
        read_only = READ_ONLY in url.split(ATTRIBUTE_SEPARATOR)[1:]
        try:
            tiers.append(Tier(open_backend(url, args.timeout), read_only=read_only))
        except Exception as error:  # noqa: BLE001 - e.g. redis-py not installed
            # Serve anyway and answer "error" at once: a helper that exits would make
            # every wrapper wait for it to start, until the breaker skips the remote.
            log(f"{redact(url)} unusable: {type(error).__name__}: {error}")
            tiers.append(Tier(BrokenBackend(redact(url), error), read_only=read_only))
    if not tiers:
        log("no remotes given: exiting")
        return 1
    helper = Helper(args.cache_dir, tiers)
    server, inode = bind_socket(args.socket)
    log(f"serving {', '.join(tier.backend.label for tier in tiers)} on {args.socket}")
    serve(helper, server, args.socket, inode)
    for tier in tiers:
        try:
            tier.backend.close()
        except Exception:  # noqa: BLE001, S110
            pass
    log("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
