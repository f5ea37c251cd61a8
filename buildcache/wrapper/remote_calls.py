"""The remote tier as both compile paths use it (run.py for rustc, c_family/compile.py
for C/C++ objects): opened only when remotes are configured, every call guarded so that
a bug or a surprise in the remote code is a counted remote error and a miss, never a
failed build, and its counts merged into the call's own."""

from __future__ import annotations

TYPE_CHECKING = False  # typing costs ~10 ms to import on the hot path
if TYPE_CHECKING:
    from typing import Callable, TypeVar

    from buildcache.config import Config
    from buildcache.wrapper.remote_tier import RemoteTier

    T = TypeVar("T")


def open_remote(config: Config) -> RemoteTier | None:
    try:
        from buildcache.wrapper.remote_tier import RemoteTier

        return RemoteTier(config)
    except Exception:  # noqa: BLE001 - a broken remote set-up builds without it
        return None


def guarded(remote: RemoteTier, action: Callable[[], T]) -> T | None:
    """action's result, or None after an unexpected failure, counted; the remote is not
    asked again in this call."""
    try:
        return action()
    except Exception:  # noqa: BLE001 - the local cache and the build go on without it
        remote.usable = False
        remote.counts["remote_errors"] = remote.counts.get("remote_errors", 0) + 1
        return None


def with_remote(remote: RemoteTier | None, deltas: dict[str, int]) -> dict[str, int]:
    """deltas plus what the remote counted in this call."""
    if remote is None:
        return deltas
    merged = dict(deltas)
    for name, value in remote.counts.items():
        merged[name] = merged.get(name, 0) + value
    return merged
