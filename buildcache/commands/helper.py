"""`buildcache helper start|status|stop`: the storage helpers of this user (remote tiers),
and (status, stop) the launch servers that run compiles (launch/server.py).

A helper serves one cache dir and list of remotes; this user may have several. `start`
starts the one the current configuration's compiles would use (what the first of them
would otherwise do, inside the build), unless it is already running. `stop` first
waits for the misses of each helper's cache dir still being stored (they queue
uploads when done: wrapper/detached_store.py), then asks each helper to finish its
queued uploads and exit, and waits until they have."""

from __future__ import annotations

import argparse
import os

# `stop` waits this long for a helper to finish its uploads (the helper's own drain
# limit is 60 s) before saying it is still running.
STOP_WAIT_SECONDS = 75.0
# `start` waits this long for a new helper to listen. A compile gives up after
# client.START_SECONDS and goes on without the remote; a command can wait for a
# loaded machine to import the storage clients (boto3 alone takes ~0.5 s idle).
START_WAIT_SECONDS = 30.0


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "helper", help="start, show or stop the remote-tier storage helpers"
    )
    parser.add_argument("action", choices=("start", "status", "stop"), help="what to do")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")


def run(args: argparse.Namespace) -> int:
    if args.action == "start":
        return start(as_json=args.json)
    return status_or_stop(args.action, as_json=args.json)


def start(*, as_json: bool) -> int:
    """Start the helper of the current configuration (BUILDCACHE_DIR, BUILDCACHE_REMOTE,
    BUILDCACHE_REMOTE_TIMEOUT, the AWS settings of an s3:// tier), the very one its
    compiles will connect to, unless it is running already."""
    import json

    from buildcache.cache import ownership
    from buildcache.config import load_config
    from buildcache.errors import FatalError
    from buildcache.remote.client import start_helper
    from buildcache.remote.paths import UnsafeRuntimeDir, helper_paths
    from buildcache.remote.protocol import recv_frame, send_frame
    from buildcache.remote.urls import redact

    config = load_config()
    if not config.remotes:
        raise FatalError(
            "no remote tier is configured, so there is no storage helper to start: set "
            "BUILDCACHE_REMOTE (e.g. redis://HOST:6379/0) in the environment or the config "
            "file (`buildcache config` shows where each setting comes from)"
        )
    # The helper exits when its cache dir is gone, and a CI job may start it before the
    # first compile has made one: make (and mark) it as that compile would.
    try:
        ownership.claim(config.cache_dir)
    except (ownership.NotOurs, OSError) as error:
        raise FatalError(f"cannot use the cache dir: {error}") from None
    paths = helper_paths(config.cache_dir, config.remotes)
    try:
        sock, started = start_helper(config, paths, START_WAIT_SECONDS)
        with sock:
            sock.settimeout(5)
            send_frame(sock, {"op": "ping"})
            reply = recv_frame(sock)
    except UnsafeRuntimeDir as error:
        raise FatalError(f"cannot start the storage helper: {error}") from None
    except OSError as error:  # socket.timeout included: it never listened
        raise FatalError(
            f"the storage helper did not start ({type(error).__name__}: {error}); "
            f"its log: {paths.log}"
        ) from None
    served = reply.get("tiers")  # redacted by the helper
    tiers = [str(t) for t in served] if isinstance(served, list) else []
    tiers = tiers or [redact(url) for url in config.remotes]
    result: dict[str, object] = {
        "state": "started" if started else "already running",
        "pid": reply.get("pid"),
        "cache_dir": reply.get("cache_dir"),
        "tiers": tiers,
        "socket": paths.socket,
        "log": paths.log,
    }
    if as_json:
        print(json.dumps(result, indent=2))
        return 0
    what = "Started" if started else "Already running:"
    print(
        f"{what} the storage helper (pid {result['pid']}) for cache dir {result['cache_dir']}, "
        f"tiers {' '.join(tiers)}"
    )
    print(f"  socket {result['socket']}, log {result['log']}")
    return 0


def status_or_stop(action: str, *, as_json: bool) -> int:
    import glob
    import json

    from buildcache.remote.paths import runtime_dir

    directory = runtime_dir()
    results = []
    for socket_path in sorted(glob.glob(os.path.join(directory, "helper-*.sock"))):
        if action == "stop":
            _wait_for_stores(socket_path)
        reply = _ask(socket_path, {"op": "ping" if action == "status" else "stop"})
        result: dict[str, object] = {"socket": socket_path, "log": socket_path[:-5] + ".log"}
        if reply is None:
            result["state"] = "not running (stale socket)"
        elif action == "stop":
            stopped = _wait_until_exited(socket_path[:-5] + ".alive.lock")
            result.update(pid=reply.get("pid"), state="stopped" if stopped else "still stopping")
        else:
            result.update(
                pid=reply.get("pid"),
                state="running",
                cache_dir=reply.get("cache_dir"),
                tiers=reply.get("tiers"),  # redacted by the helper
                pending_uploads=reply.get("pending_uploads"),
            )
        results.append(result)
    launch = _launch_servers(directory, action)
    if as_json:
        print(
            json.dumps(
                {"runtime_dir": directory, "helpers": results, "launch_servers": launch}, indent=2
            )
        )
        return 0
    if not results:
        print(f"No storage helper is running (looked in {directory}).")
    for result in results + launch:
        details = ", ".join(f"{k} {v}" for k, v in result.items() if k not in ("state",))
        print(f"{result['state']}: {details}")
    return 0


def _launch_servers(directory: str, action: str) -> list[dict[str, object]]:
    """The launch servers (launch/server.py): they hold no data, so `stop` just ends
    them; the next compile starts one again."""
    from buildcache.launch import control

    servers = control.running_servers(directory)
    if action == "stop":
        control.stop_servers(directory)
    state = "stopped launch server" if action == "stop" else "running launch server"
    return [{"socket": path, "pid": pid, "state": state} for path, pid in servers.items()]


def _ask(socket_path: str, message: dict[str, object]) -> dict[str, object] | None:
    import socket

    from buildcache.remote.protocol import recv_frame, send_frame

    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(5)
            sock.connect(socket_path)
            send_frame(sock, message)
            return recv_frame(sock)
    except OSError:
        return None


def _wait_for_stores(socket_path: str) -> None:
    from buildcache.cache.staging import wait_for_all_stores

    reply = _ask(socket_path, {"op": "ping"})
    cache_dir = reply.get("cache_dir") if reply else None
    if isinstance(cache_dir, str) and os.path.isabs(cache_dir):
        wait_for_all_stores(cache_dir)


def _wait_until_exited(alive_lock: str) -> bool:
    """The helper holds an flock on its alive lock for its whole life."""
    import fcntl
    import time

    deadline = time.monotonic() + STOP_WAIT_SECONDS
    try:
        fd = os.open(alive_lock, os.O_RDWR)
    except OSError:
        return True
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                if time.monotonic() > deadline:
                    return False
                time.sleep(0.05)
    finally:
        os.close(fd)
