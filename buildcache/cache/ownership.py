"""Is this directory a buildcache cache? Only then may we write, trim or evict in it.

A cache dir is marked when buildcache creates it (or finds it empty), the way cargo
marks target dirs: a CACHEDIR.TAG (the standard that backup tools honour) whose
second line names buildcache. A directory without the mark is someone else's, even
when its files look like entries: BUILDCACHE_DIR pointed at the wrong place must not
cost the user a single file. Caches made before the mark existed are adopted when
every name at their top level is one buildcache uses.
"""

from __future__ import annotations

import os

from buildcache.cache.atomic import TEMP_PREFIX, atomic_write

TAG_NAME = "CACHEDIR.TAG"
TAG_SIGNATURE = "Signature: 8a477f597d28d172789f06886806bc55"
TAG_TEXT = (
    f"{TAG_SIGNATURE}\n"
    "# This directory is a buildcache cache (a compiler cache for Rust).\n"
    "# For information about cache directory tags see https://bford.info/cachedir/\n"
)
# What a cache of an earlier buildcache held at its top level (shards 0-f and these).
# The tag itself is ours too: a damaged one (bit rot) is rewritten, not a reason to refuse.
_LEGACY_NAMES = frozenset("0123456789abcdef") | {"rustc", "outputs", "crates", TAG_NAME}


def _only_buildcache_names(names: list[str]) -> bool:
    """True for an empty dir or a cache of an earlier buildcache (adopted, then marked)."""
    return all(name in _LEGACY_NAMES or name.startswith(TEMP_PREFIX) for name in names)


class NotOurs(Exception):
    """The directory exists, holds files, and is not marked as a buildcache cache."""


def is_marked(cache_dir: str) -> bool:
    try:
        with open(os.path.join(cache_dir, TAG_NAME), encoding="utf-8") as handle:
            head = handle.read(200)
    except (OSError, UnicodeDecodeError):
        return False
    return head.startswith(TAG_SIGNATURE) and "buildcache" in head


def claim(cache_dir: str) -> None:
    """Make sure cache_dir is a marked cache: create and mark it when missing or empty,
    adopt an unmarked cache of an earlier version; raise NotOurs for anything else."""
    if is_marked(cache_dir):
        return
    if os.path.lexists(cache_dir) and not os.path.isdir(cache_dir):
        raise NotOurs(f"{cache_dir} is not a directory")
    try:
        names = os.listdir(cache_dir)
    except (FileNotFoundError, NotADirectoryError):
        os.makedirs(cache_dir, exist_ok=True)  # OSError when it cannot be: the caller's
        names = os.listdir(cache_dir)
    if not _only_buildcache_names(names):
        raise NotOurs(
            f"{cache_dir} holds files that are not buildcache's and has no {TAG_NAME} "
            "naming buildcache; point BUILDCACHE_DIR at a new or empty directory"
        )
    atomic_write(os.path.join(cache_dir, TAG_NAME), TAG_TEXT.encode())


def refusal(cache_dir: str) -> str | None:
    """Why the CLI must not modify cache_dir, or None when it may (missing, or ours)."""
    if not os.path.lexists(cache_dir) or is_marked(cache_dir):
        return None
    if not os.path.isdir(cache_dir):
        return f"{cache_dir} is not a directory"
    try:
        names = os.listdir(cache_dir)
    except OSError as error:
        return f"{cache_dir} cannot be read ({error.strerror})"
    if _only_buildcache_names(names):
        return None
    return (
        f"{cache_dir} is not a buildcache cache (no {TAG_NAME} naming buildcache) and holds "
        "other files; refusing to touch it"
    )
