"""Which compile produced this file? Identities of outputs, for keying --extern inputs.

An output's bytes are not a stable name for it: two checkouts compiling the same
crate under the same key produce equivalent files whose debug info differs (each
holds its own directory), and whichever stored last is what a later hit restores.
Keying dependents by those bytes would make them miss for no reason. So when the
wrapper writes an output (a restore) or sees rustc write one (a miss), it records
`<result key>/<file name>` as the file's identity: the key already covers every
input of that compile, so two files with one identity are interchangeable.

Records live in `<cache>/outputs/`, one small file per output path, and are only
trusted while the file's inode, size and mtime are unchanged: a file that cargo or
rustc rewrote without us falls back to its content digest.
"""

from __future__ import annotations

import os

from buildcache.digests import file_digest, seal_text, text_digest, unseal_text
from buildcache.fsutil import atomic_write, makedirs


def _record_path(cache_dir: str, path: str) -> str:
    name = text_digest(os.path.abspath(path))
    return os.path.join(cache_dir, "outputs", name[:2], name)


def _stamp(info: os.stat_result) -> str:
    return f"{info.st_ino} {info.st_size} {info.st_mtime_ns}"


def record_identity(cache_dir: str, path: str, identity: str) -> None:
    record = _record_path(cache_dir, path)
    makedirs(os.path.dirname(record))
    atomic_write(record, seal_text(f"{_stamp(os.stat(path))}\n{identity}"))


def extern_identity(cache_dir: str, path: str) -> str:
    """The recorded identity of path if it is still the file we saw, else its digest."""
    try:
        with open(_record_path(cache_dir, path), encoding="utf-8") as handle:
            text = unseal_text(handle.read())
        stamp, _, identity = (text or "").partition("\n")
        if text and stamp == _stamp(os.stat(path)) and identity:
            return "key:" + identity
    except (OSError, UnicodeDecodeError):
        pass
    return "sha256:" + file_digest(path)
