"""The user's private runtime directory: the storage helper's socket, log and state
(remote/paths.py) and the toolchain digests every cache dir shares (shared_digests.py).

It is `$XDG_RUNTIME_DIR/buildcache` when the session has one (systemd's per-user
tmpfs), else `/tmp/buildcache-<uid>`. Either way it must be a real directory of this
user that nobody else can open (0700): a socket, state file or record somebody else
could replace would let them answer our lookups.
"""

from __future__ import annotations

import os
import stat


class UnsafeRuntimeDir(OSError):
    """The directory exists but is not private to this user."""


def runtime_dir(environ: dict[str, str] | os._Environ[str] | None = None) -> str:
    environ = os.environ if environ is None else environ
    base = environ.get("XDG_RUNTIME_DIR", "")
    if base and os.path.isabs(base) and os.path.isdir(base):
        return os.path.join(base, "buildcache")
    return os.path.join("/tmp", f"buildcache-{os.getuid()}")


def ensure_private_dir(path: str) -> None:
    """Create path 0700, or check that the existing one is ours and private."""
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    info = os.lstat(path)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
        raise UnsafeRuntimeDir(f"{path} is not a directory of this user")
    if info.st_mode & 0o077:
        raise UnsafeRuntimeDir(f"{path} can be opened by others (mode {info.st_mode & 0o777:o})")
