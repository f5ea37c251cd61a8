"""Real servers on loopback for the remote-tier tests: Debian's redis-server and nginx
(WebDAV), s3s-fs from crates.io (an S3 server on a directory, built once per machine by
scripts/test-deps.sh), and a "blackhole" port that accepts connections and never answers.

Each server has the same face for the tests that run over all of them: `url` (the
BUILDCACHE_REMOTE item), `env` (what a client needs besides the URL: S3 credentials),
`stored_names()` (the cache's values it holds, by name) and `stop()`.

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


def wait_listening(server: NginxDav | S3sFs, name: str, log: Path) -> None:
    """Until the server's port takes connections; ServerDidNotStart (with its log when
    it exited) after 10 s."""
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", server.port), timeout=1).close()
            return
        except OSError:
            if server.process.poll() is not None:
                reason = log.read_text() if log.exists() else f"no {log.name}"
                raise ServerDidNotStart(f"{name} exited: {reason}") from None
            if time.monotonic() > deadline:
                server.stop()
                raise ServerDidNotStart(f"{name} did not start") from None
            time.sleep(0.05)


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

    env: dict[str, str] = {}

    def stored_keys(self) -> list[bytes]:
        return sorted(self.client.keys("*"))

    def stored_names(self) -> list[str]:
        return sorted(key.decode().removeprefix("buildcache:") for key in self.stored_keys())

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
        wait_listening(self, "nginx", directory / "error.log")

    env: dict[str, str] = {}

    def stored_files(self) -> list[str]:
        return sorted(path.name for path in (self.root / "cache").iterdir())

    stored_names = stored_files

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


# Where scripts/test-deps.sh installs the tools it builds (read before the tests move
# HOME and XDG_CACHE_HOME, as the script sees them).
TEST_TOOLS = Path(
    os.environ.get("BUILDCACHE_TEST_TOOLS")
    or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"),
        "buildcache-kit",
        "test-tools",
    )
)


def s3s_fs_binary() -> str | None:
    installed = TEST_TOOLS / "bin" / "s3s-fs"
    if os.access(installed, os.X_OK):
        return str(installed)
    return shutil.which("s3s-fs")


class S3sFs:
    """s3s-fs on loopback: a real S3 API (SigV4 auth, path-style) over a directory,
    one bucket, reached through `|endpoint=` as any S3-compatible store is."""

    BUCKET = "buildcache-tests"
    PREFIX = "shared"
    ACCESS_KEY = "AKIATESTBUILDCACHE01"
    SECRET_KEY = "s3-secret-never-shown-7d1e9c"  # noqa: S105 - a test server's

    def __init__(self, directory: Path, binary: str | None = None) -> None:
        binary = binary or s3s_fs_binary()
        if binary is None:
            import pytest

            pytest.skip(f"s3s-fs is not built (scripts/test-deps.sh builds it into {TEST_TOOLS})")
        self.root = directory / "data"
        (self.root / self.BUCKET).mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.url = f"s3://{self.BUCKET}/{self.PREFIX}|endpoint={self.endpoint}"
        self.env = {
            "AWS_ACCESS_KEY_ID": self.ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": self.SECRET_KEY,
            "AWS_REGION": "us-east-1",
            # No instance-metadata lookups when a test takes the credentials away.
            "AWS_EC2_METADATA_DISABLED": "true",
        }
        log = (directory / "s3s-fs.log").open("wb")
        self.process = subprocess.Popen(
            [binary, "--host", "127.0.0.1", "--port", str(self.port),
             "--access-key", self.ACCESS_KEY, "--secret-key", self.SECRET_KEY, str(self.root)],
            stdout=log,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        log.close()
        wait_listening(self, "s3s-fs", directory / "s3s-fs.log")

    def stored_names(self) -> list[str]:
        prefix = self.root / self.BUCKET / self.PREFIX
        return sorted(path.name for path in prefix.iterdir()) if prefix.is_dir() else []

    def stored_path(self, name: str) -> Path:
        return self.root / self.BUCKET / self.PREFIX / name

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
