"""Path-neutral OUT_DIR: a crate that only include!s generated code from its build
script's OUT_DIR may hit from a checkout with another target directory.

OUT_DIR is `<profile dir>/build/<package>-<hash>/out`; only the profile dir depends
on where the target dir is. When every mention of OUT_DIR in the crate's sources is
the path argument of include!/include_str!/include_bytes! (the path is read from,
never kept as a value), the key and the stored dep-info use a placeholder for the
profile dir. Any other use (`env!("OUT_DIR")` as a value, option_env!) keeps the
full path in the key, so such a crate misses from another target dir as it must.
What still differs is debug info and the file name in a panic location inside the
generated code: the same class of difference as the compilation directory, which
path-neutral caches (ccache's base_dir) accept.
"""

from __future__ import annotations

import os

PROFILE_PLACEHOLDER = "@BUILDCACHE_PROFILE_DIR@"
_INCLUDE_OF_OUT_DIR = (
    r'include(?:_str|_bytes)?\s*!\s*\(\s*concat\s*!\s*\(\s*env\s*!\s*\(\s*"OUT_DIR"\s*\)'
)


def profile_dir(environ: os._Environ[str] | dict[str, str]) -> str | None:
    """The profile dir behind this call's OUT_DIR, or None when there is none."""
    out_dir = environ.get("OUT_DIR", "").rstrip("/")
    parts = out_dir.rsplit("/", 3)
    if len(parts) == 4 and parts[0] and parts[1] == "build" and parts[3] == "out":
        return parts[0]
    return None


def out_dir_only_included(source_texts: list[str]) -> bool:
    """True when OUT_DIR appears in the sources only as an include!-style path."""
    import re

    pattern = re.compile(_INCLUDE_OF_OUT_DIR)
    return all(text.count("OUT_DIR") == len(pattern.findall(text)) for text in source_texts)


def to_placeholder(path: str, profile: str | None) -> str:
    if profile and path.startswith(profile + "/build/"):
        return PROFILE_PLACEHOLDER + path[len(profile) :]
    return path


def from_placeholder(path: str, profile: str | None) -> str | None:
    """Expand a placeholder path for this build; None if it cannot be expanded."""
    if path.startswith(PROFILE_PLACEHOLDER):
        return None if profile is None else profile + path[len(PROFILE_PLACEHOLDER) :]
    return path
