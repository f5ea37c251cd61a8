"""The wrapper's side of the storage helper: one request, one reply, bounded in time.

The first call that finds no helper starts one (or `buildcache helper start` does,
before a build), race-free: under a lock file it checks again, then spawns
`python -m buildcache.remote.helper`, which binds its socket under a temporary name
and renames it into place once it listens, so a connect either finds a working
helper or nothing. Stdlib only, imported only when a
remote is configured and the local tier missed.
"""

from __future__ import annotations

import fcntl
import os
import socket
import sys
import time

from buildcache.remote import breaker
from buildcache.remote.paths import HelperPaths, ensure_private_dir
from buildcache.remote.protocol import recv_frame, send_frame

TYPE_CHECKING = False  # typing costs ~10 ms to import on the hot path
if TYPE_CHECKING:
    from buildcache.config import Config

# How long the first call waits for a new helper to listen (it imports its storage
# clients, ~0.2 s); past that the call goes on without the remote.
START_SECONDS = 5.0
# The helper's own deadline per storage request, as a share of the wrapper's: it must
# answer "error" before the wrapper gives up on it, or the reason is lost.
HELPER_TIMEOUT_SHARE = 0.8
# Environment variable through which the helper gets its URLs: argv is world-readable
# (ps), a process's environment is not.
REMOTES_VARIABLE = "BUILDCACHE_HELPER_REMOTES"


class RemoteUnavailable(Exception):
    """No answer from the helper: reason is 'timeout', 'error' or 'skipped'."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


# False in a background store (wrapper/detached_store.py): a helper it started would
# inherit its lowest priority (raising it again takes CAP_SYS_NICE) and answer every
# later build's lookups at it. With no helper listening, its upload is skipped.
SPAWN_HELPER = [True]


def request(config: Config, paths: HelperPaths, message: dict[str, object]) -> dict[str, object]:
    """Send message to this config's helper (starting it if needed) and return its
    reply. Failures are recorded in the shared state file that makes every process
    skip the remote for a while after several in a row."""
    if breaker.should_skip(paths.state):
        raise RemoteUnavailable("skipped", "failing recently")
    try:
        # Before connecting: a socket in a directory someone else controls could be
        # theirs, answering our lookups with their artifacts.
        ensure_private_dir(paths.directory)
        sock = _connect(paths, config.remote_timeout)
        if sock is None:
            if not SPAWN_HELPER[0]:
                raise RemoteUnavailable("skipped", "no helper listening")
            sock, _ = _start_helper(config, paths)
        with sock:
            send_frame(sock, message)
            reply = recv_frame(sock)
    except socket.timeout as error:
        breaker.record_failure(paths.state)
        raise RemoteUnavailable("timeout", str(error) or "timed out") from None
    except OSError as error:
        breaker.record_failure(paths.state)
        raise RemoteUnavailable("error", f"{type(error).__name__}: {error}") from None
    if reply.get("status") == "error":
        breaker.record_failure(paths.state)
    else:
        breaker.record_success(paths.state)
    return reply


def _connect(paths: HelperPaths, timeout: float) -> socket.socket | None:
    """A connection to a listening helper, or None when there is none."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(paths.socket)
    except (FileNotFoundError, ConnectionRefusedError):
        sock.close()
        return None
    except BaseException:
        sock.close()
        raise
    return sock


def start_helper(
    config: Config, paths: HelperPaths, wait_seconds: float
) -> tuple[socket.socket, bool]:
    """A connection to this config's helper, started unless one is listening, and
    whether this call started it (`buildcache helper start`)."""
    ensure_private_dir(paths.directory)
    sock = _connect(paths, config.remote_timeout)
    if sock is not None:
        return sock, False
    return _start_helper(config, paths, wait_seconds)


def _start_helper(
    config: Config, paths: HelperPaths, wait_seconds: float = START_SECONDS
) -> tuple[socket.socket, bool]:
    """Under the start lock: a connection to the helper, spawned unless another
    process started it meanwhile, and whether this call spawned it."""
    deadline = time.monotonic() + wait_seconds
    lock_fd = os.open(paths.start_lock, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        while True:  # several builds start at once: one starts the helper, the rest wait
            try:
                fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise socket.timeout("another process is starting the helper") from None
                time.sleep(0.01)
        sock = _connect(paths, config.remote_timeout)  # it may have started meanwhile
        if sock is not None:
            return sock, False
        _spawn(config, paths)
        while time.monotonic() < deadline:
            time.sleep(0.02)
            sock = _connect(paths, config.remote_timeout)
            if sock is not None:
                return sock, True
        raise socket.timeout(f"the helper did not start; see {paths.log}")
    finally:
        os.close(lock_fd)


def _spawn(config: Config, paths: HelperPaths) -> None:
    import subprocess

    env = dict(os.environ)
    env[REMOTES_VARIABLE] = "\n".join(config.remotes)
    # The key stays with the wrappers, which sign and verify: the helper never needs it.
    env.pop("BUILDCACHE_REMOTE_SIGNING_KEY", None)
    command = [
        sys.executable,
        "-m",
        "buildcache.remote.helper",
        "--cache-dir",
        config.cache_dir,
        "--socket",
        paths.socket,
        "--alive-lock",
        paths.alive_lock,
        "--timeout",
        f"{config.remote_timeout * HELPER_TIMEOUT_SHARE:.3f}",
    ]
    log_fd = os.open(paths.log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        # Never cargo's pipes: cargo reads a wrapper's stdout and stderr to their end,
        # and a helper holding them would hang the build. close_fds drops the jobserver.
        subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=log_fd,
            env=env,
            close_fds=True,
            start_new_session=True,
            cwd="/",
        )
    finally:
        os.close(log_fd)
