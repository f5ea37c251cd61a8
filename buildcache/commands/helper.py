"""`buildcache helper status|stop`: the storage helpers of this user (remote tiers).

A helper serves one cache dir and list of remotes; this user may have several. `stop`
first waits for the misses of each helper's cache dir still being stored (they queue
uploads when done: wrapper/detached_store.py), then asks each helper to finish its
queued uploads and exit, and waits until they have."""

from __future__ import annotations

import argparse
import os

# `stop` waits this long for a helper to finish its uploads (the helper's own drain
# limit is 60 s) before saying it is still running.
STOP_WAIT_SECONDS = 75.0


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("helper", help="show or stop the remote-tier storage helpers")
    parser.add_argument("action", choices=("status", "stop"), help="what to do")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")


def run(args: argparse.Namespace) -> int:
    import glob
    import json

    from buildcache.remote.paths import runtime_dir

    directory = runtime_dir()
    results = []
    for socket_path in sorted(glob.glob(os.path.join(directory, "helper-*.sock"))):
        if args.action == "stop":
            _wait_for_stores(socket_path)
        reply = _ask(socket_path, {"op": "ping" if args.action == "status" else "stop"})
        result: dict[str, object] = {"socket": socket_path, "log": socket_path[:-5] + ".log"}
        if reply is None:
            result["state"] = "not running (stale socket)"
        elif args.action == "stop":
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
    if args.json:
        print(json.dumps({"runtime_dir": directory, "helpers": results}, indent=2))
        return 0
    if not results:
        print(f"No storage helper is running (looked in {directory}).")
    for result in results:
        details = ", ".join(f"{k} {v}" for k, v in result.items() if k not in ("state",))
        print(f"{result['state']}: {details}")
    return 0


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
