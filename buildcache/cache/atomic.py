"""Small filesystem helpers shared by the store, the stats and the wrapper."""

from __future__ import annotations

import os

# Temp files carry this prefix so cleanup can find the ones a killed process left behind.
TEMP_PREFIX = ".tmp-"


def atomic_write(path: str, data: bytes | memoryview | list[bytes], *, mode: int = 0o644) -> None:
    """Write data to path so readers see the old file or the whole new one, never a torn one.

    The temp file lives in the same directory so os.replace is a rename within one
    filesystem. If anything fails, the temp file is removed and nothing is committed.
    """
    directory = os.path.dirname(path)
    temp = os.path.join(directory, f"{TEMP_PREFIX}{os.getpid()}-{os.urandom(4).hex()}")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as handle:
            for chunk in data if isinstance(data, list) else [data]:
                handle.write(chunk)
        os.chmod(temp, mode)  # the umask must not strip an executable's x bits
        os.replace(temp, path)
    except BaseException:
        try:
            os.unlink(temp)
        except OSError:
            pass
        raise


def makedirs(path: str) -> None:
    os.makedirs(path, exist_ok=True)
