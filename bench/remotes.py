"""The remote tiers a warm build can be served from, on servers the benchmark starts on
loopback, and where each tool keeps its entries in them.

The servers are the ones the remote-tier tests start (tests/correctness/remote_servers.py):
Debian's redis-server, nginx with WebDAV, s3s-fs (an S3 server from crates.io that
scripts/test-deps.sh builds). Each tool gets a key space of its own on a tier (a Redis
database, a URL path, a key prefix in the bucket), emptied at the start of every
repetition so that the warm build reads what that repetition's cold build wrote and
nothing older.

Adding a tier is one `Remote` subclass and one entry in `REMOTE_KINDS`: start the
server, say which URL (and variables) buildcache uses and which variables sccache reads
(or none), and how to empty and measure one tool's key space.
"""

from __future__ import annotations

import base64
import shutil
import sys
import time
from pathlib import Path

import tools

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "correctness"))

import remote_servers  # noqa: E402


class RemoteError(Exception):
    """A server cannot start; the message says why."""


class ProgramMissing(RemoteError):
    """The server's program is not installed."""


class Remote:
    """One server on loopback, shared by the tools, each in its own key space."""

    kind = ""
    label = ""  # how the table names the tier
    program = ""  # what must be installed (scripts/test-deps.sh installs it)
    # The tools benched on this tier; sccache only where the comparison is asked for.
    benched_tools: tuple[str, ...] = ("buildcache",)

    def __init__(self, directory: Path, program: str) -> None:
        raise NotImplementedError

    @classmethod
    def find_program(cls) -> str | None:
        return remote_servers.installed(cls.program)

    def buildcache_url(self) -> str:
        raise NotImplementedError

    def buildcache_env(self) -> dict[str, str]:
        """What buildcache's storage helper needs besides the URL (S3 credentials)."""
        return {}

    def sccache_env(self) -> dict[str, str]:
        """The variables that point sccache at this tier (its only tier: with one of its
        remote backends set and no SCCACHE_MULTILEVEL_CHAIN, sccache 0.16 uses no disk)."""
        raise NotImplementedError

    def clear(self, tool: str) -> None:
        """Empty the tool's key space."""
        raise NotImplementedError

    def size(self, tool: str) -> tuple[int, int]:
        """(bytes of values, entries) the tool keeps on this tier."""
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def settled_size(self, tool: str) -> tuple[int, int]:
        """size() once it stops changing: sccache's server uploads after it answers the
        compile, buildcache's helper after the wrapper exits."""
        deadline = time.monotonic() + tools.SETTLE_TIMEOUT_S
        previous = self.size(tool)
        while time.monotonic() < deadline:
            time.sleep(tools.SETTLE_S)
            current = self.size(tool)
            if current == previous:
                return current
            previous = current
        return previous


class RedisRemote(Remote):
    kind = "redis"
    label = "Redis"
    program = "redis-server"
    benched_tools = ("buildcache", "sccache")
    # A database per tool: FLUSHDB then empties one tool's entries and no other's.
    DATABASES = {"buildcache": 1, "sccache": 2}

    def __init__(self, directory: Path, program: str) -> None:
        import redis

        self.server = remote_servers.RedisServer(directory, binary=program)
        self.clients = {
            tool: redis.Redis(host="127.0.0.1", port=self.server.port, db=database)
            for tool, database in self.DATABASES.items()
        }

    def buildcache_url(self) -> str:
        return f"redis://127.0.0.1:{self.server.port}/{self.DATABASES['buildcache']}"

    def sccache_env(self) -> dict[str, str]:
        # SCCACHE_REDIS_ENDPOINT (sccache >= 0.8; SCCACHE_REDIS before, deprecated since)
        # takes no database in the URL: SCCACHE_REDIS_DB does.
        return {
            "SCCACHE_REDIS_ENDPOINT": f"redis://127.0.0.1:{self.server.port}",
            "SCCACHE_REDIS_DB": str(self.DATABASES["sccache"]),
        }

    def clear(self, tool: str) -> None:
        self.clients[tool].flushdb()

    def size(self, tool: str) -> tuple[int, int]:
        client = self.clients[tool]
        keys = list(client.scan_iter(count=1000))
        pipeline = client.pipeline(transaction=False)
        for key in keys:
            pipeline.strlen(key)
        return sum(int(length) for length in pipeline.execute()), len(keys)

    def stop(self) -> None:
        for client in self.clients.values():
            client.close()
        self.server.stop()


class HttpRemote(Remote):
    """nginx with WebDAV PUT: the plain GET/PUT/HEAD tier. buildcache only: the issue
    compares the tools over Redis (sccache's WebDAV backend would be
    SCCACHE_WEBDAV_ENDPOINT, if a row is wanted later)."""

    kind = "http"
    label = "HTTP (nginx WebDAV)"
    program = "nginx"

    def __init__(self, directory: Path, program: str) -> None:
        self.server = remote_servers.NginxDav(directory, binary=program)

    def _store(self, tool: str) -> Path:
        return self.server.root / "cache" / tool

    def buildcache_url(self) -> str:
        return f"{self.server.url}buildcache/"

    def clear(self, tool: str) -> None:
        store = self._store(tool)
        shutil.rmtree(store, ignore_errors=True)
        store.mkdir(parents=True)

    def size(self, tool: str) -> tuple[int, int]:
        size, _disk, files = tools.directory_size(self._store(tool))
        return size, files

    def stop(self) -> None:
        self.server.stop()


class S3Remote(Remote):
    """s3s-fs: a real S3 API (SigV4, path-style requests) over a directory, one bucket,
    a key prefix per tool. sccache reaches it through its S3 backend (opendal) with
    SCCACHE_ENDPOINT, as it would MinIO."""

    kind = "s3"
    label = "S3 (s3s-fs)"
    program = "s3s-fs"
    benched_tools = ("buildcache", "sccache")
    BUCKET = remote_servers.S3sFs.BUCKET

    @classmethod
    def find_program(cls) -> str | None:
        return remote_servers.s3s_fs_binary()

    def __init__(self, directory: Path, program: str) -> None:
        self.server = remote_servers.S3sFs(directory, binary=program)

    def buildcache_url(self) -> str:
        return f"s3://{self.BUCKET}/buildcache|endpoint={self.server.endpoint}"

    def buildcache_env(self) -> dict[str, str]:
        return dict(self.server.env)

    def sccache_env(self) -> dict[str, str]:
        # The server process reads the AWS_* credentials (bench/tools.py starts it with
        # these variables); its clients only talk to it.
        return {
            "SCCACHE_BUCKET": self.BUCKET,
            "SCCACHE_ENDPOINT": self.server.endpoint,
            "SCCACHE_S3_USE_SSL": "false",
            "SCCACHE_REGION": self.server.env["AWS_REGION"],
            "SCCACHE_S3_KEY_PREFIX": "sccache",
            **self.server.env,
        }

    def _store(self, tool: str) -> Path:
        return self.server.root / self.BUCKET / tool

    def clear(self, tool: str) -> None:
        shutil.rmtree(self._store(tool), ignore_errors=True)
        # s3s-fs keeps each object's metadata beside the bucket, in files named by the
        # bucket and key in base64: those of this tool's keys go too.
        for path in self.server.root.glob(".bucket-*.object-*.json"):
            encoded = path.name.split(".object-", 1)[1].split(".", 1)[0]
            key = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
            if key.startswith(f"{tool}/".encode()):
                path.unlink(missing_ok=True)

    def size(self, tool: str) -> tuple[int, int]:
        size, _disk, files = tools.directory_size(self._store(tool))
        return size, files

    def stop(self) -> None:
        self.server.stop()


# --remote's choices, in the order the table shows them.
REMOTE_KINDS: dict[str, type[Remote]] = {
    "redis": RedisRemote,
    "http": HttpRemote,
    "s3": S3Remote,
}


def start(kind: str, directory: Path) -> Remote:
    remote_class = REMOTE_KINDS[kind]
    program = remote_class.find_program()
    if program is None:
        raise ProgramMissing(
            f"{remote_class.program} is not installed (`scripts/test-deps.sh` installs it)"
        )
    try:
        return remote_class(directory / kind, program)
    except (remote_servers.ServerDidNotStart, OSError) as error:
        raise RemoteError(f"the {kind} server did not start: {error}") from error
