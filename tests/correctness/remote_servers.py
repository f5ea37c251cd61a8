"""Real servers on loopback for the remote-tier tests: Debian's redis-server, nginx with
WebDAV, and a "blackhole" port that accepts connections and never answers.

The benchmark (bench/remotes.py) starts its servers with these classes too, so this
module needs no pytest unless a server's program is missing: a test then skips (which
fails in CI, see tests/conftest.py); the benchmark finds the program itself
(`installed`) and passes it in.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path


class ServerDidNotStart(RuntimeError):
    """The server's process exited or never listened; the message says which."""


def installed(program: str) -> str | None:
    """The program's path: on PATH, or in /usr/sbin (nginx), which a user's PATH may lack."""
    return shutil.which(program) or shutil.which(f"/usr/sbin/{program}")


def installed_or_skip(program: str) -> str:
    found = installed(program)
    if found is None:
        import pytest

        pytest.skip(f"{program} is not installed (scripts/test-deps.sh installs it)")
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    def __init__(self, directory: Path, *, binary: str | None = None) -> None:
        binary = binary or installed_or_skip("redis-server")
        directory.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(directory)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        import redis

        self.client = redis.Redis(host="127.0.0.1", port=self.port)
        deadline = time.monotonic() + 10
        while True:
            try:
                self.client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise ServerDidNotStart("redis-server did not start") from None
                time.sleep(0.05)

    def stored_keys(self) -> list[bytes]:
        return sorted(self.client.keys("*"))

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


class Blackhole:
    """Accepts every connection and never sends a byte."""

    def __init__(self) -> None:
        self.server = socket.socket()
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(64)
        self.port = self.server.getsockname()[1]
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.held: list[socket.socket] = []
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.closed:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            self.held.append(conn)

    def close(self) -> None:
        self.closed = True
        self.server.close()
        for conn in self.held:
            conn.close()


class NginxDav:
    """nginx with WebDAV PUT on loopback: the plain HTTP GET/PUT tier."""

    def __init__(self, directory: Path, *, binary: str | None = None) -> None:
        binary = binary or installed_or_skip("nginx")
        root = directory / "store"
        root.mkdir(parents=True, exist_ok=True)
        self.root = root
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/cache/"
        (root / "cache").mkdir()
        user = "user root;" if os.geteuid() == 0 else ""  # workers must write the store
        config = directory / "nginx.conf"
        config.write_text(
            f"""
            {user}
            daemon off;
            pid {directory}/nginx.pid;
            error_log {directory}/error.log;
            events {{ worker_connections 64; }}
            http {{
                access_log off;
                client_body_temp_path {directory}/body;
                proxy_temp_path {directory}/proxy;
                fastcgi_temp_path {directory}/fastcgi;
                uwsgi_temp_path {directory}/uwsgi;
                scgi_temp_path {directory}/scgi;
                server {{
                    listen 127.0.0.1:{self.port};
                    root {root};
                    client_max_body_size 0;
                    location /cache/ {{ dav_methods PUT; create_full_put_path on; }}
                }}
            }}
            """
        )
        self.process = subprocess.Popen(
            [binary, "-c", str(config), "-p", str(directory)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                if self.process.poll() is not None:
                    error_log = directory / "error.log"
                    reason = error_log.read_text() if error_log.exists() else "no error.log"
                    raise ServerDidNotStart(f"nginx exited: {reason}") from None
                if time.monotonic() > deadline:
                    self.stop()
                    raise ServerDidNotStart("nginx did not start") from None
                time.sleep(0.05)

    def stored_files(self) -> list[str]:
        return sorted(path.name for path in (self.root / "cache").iterdir())

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
