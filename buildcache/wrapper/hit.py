"""A hit: find the entry whose recorded sources and env vars match now, and restore it.

Recorded sources include files that must still be absent (ABSENT)."""

from __future__ import annotations

import os
import sys

from buildcache.cache import store
from buildcache.cache.atomic import atomic_write, restored_mode
from buildcache.cache.digests import file_digest
from buildcache.cache.file_digests import remember_output, remember_written
from buildcache.wrapper.depinfo import OUT_DIR_PLACEHOLDER, localize
from buildcache.wrapper.messages import json_bytes, write_stream
from buildcache.wrapper.rustc_args import RustcCall

# The digest a manifest records for a file that must not exist. rustc's module lookup
# depends on the absence of `foo/mod.rs` as much as on the content of `foo.rs`: with
# both present, `mod foo;` fails (E0761). See miss.py.
ABSENT = "absent"


def digest_source(path: str, cwd: str, memo: dict[str, str | None]) -> str | None:
    """The file's digest; ABSENT when nothing is there (what rustc's exists() calls
    absent: no file, a dangling symlink, a non-directory on the path); None when
    something is there but cannot be read."""
    if path not in memo:
        try:
            memo[path] = file_digest(os.path.join(cwd, path))
        except (FileNotFoundError, NotADirectoryError):
            memo[path] = ABSENT
        except OSError:
            memo[path] = None
    return memo[path]


def find_result(
    candidates: list[store.Candidate],
    cwd: str,
    environ: os._Environ[str],
    memo: dict[str, str | None],
) -> str | None:
    """The result key of the first manifest candidate whose sources and env still match."""
    for files, env, result in candidates:
        if any(environ.get(name) != value for name, value in env):
            continue
        if all(digest_source(path, cwd, memo) == digest for path, digest in files):
            return result
    return None


def restore(entry: store.Entry, call: RustcCall, cache_dir: str) -> None:
    """Write the entry's outputs into this build's out dir and replay rustc's output.

    Digests are recorded before the replay, because the replayed artifact
    notifications are what lets cargo start the dependents."""
    out_dir = call.out_dir
    for name, mode, data in entry.outputs:
        if name == call.dep_info_name:
            text = localize(bytes(data).decode("utf-8", "surrogateescape"), out_dir)
            data = text.encode("utf-8", "surrogateescape")
        path = os.path.join(out_dir, name)
        # Not durable, as rustc's own replacements of its outputs are not (atomic.py).
        written = atomic_write(path, data, mode=restored_mode(mode), durable=False)
        if name == call.dep_info_name:
            continue
        digest = entry.digests.get(name)
        if digest is None:  # an entry stored before digests were kept
            remember_output(cache_dir, path, data, written)
        else:
            remember_written(cache_dir, path, digest, written)
    stderr = entry.stderr.replace(OUT_DIR_PLACEHOLDER.encode(), json_bytes(out_dir))
    write_stream(sys.stdout, entry.stdout)
    write_stream(sys.stderr, stderr)
