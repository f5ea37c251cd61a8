"""A miss: after rustc succeeded, find out what it read and store what it wrote.

What it read comes from its dep-info: the source files (keyed by path as rustc
names them, relative for workspace members, and by digest) and the env vars it
looked up (keyed by value). A source whose inode changed since rustc started
(ctime moves on every write and rename; tools that keep mtimes, `cp -p`, `rsync -a`,
`tar`, cannot set it back) may not be what rustc read, so nothing is stored; nor when
a symlink or directory on its path was put in place since (source_paths.py).
Beside each module file, the file `mod` would also have accepted (`foo/mod.rs` for
`foo.rs`, and the reverse) is recorded as absent: its appearance makes the module
ambiguous, and rustc fail, so it must make the entry not match.
"""

from __future__ import annotations

import os
import time

from buildcache.cache import counters, store
from buildcache.cache.file_digests import remember_output, stamp
from buildcache.wrapper.depinfo import OUT_DIR_PLACEHOLDER, neutralize, parse_dep_info
from buildcache.wrapper.detached_store import Snapshot, take_snapshot
from buildcache.wrapper.hit import ABSENT, digest_source
from buildcache.wrapper.messages import json_bytes
from buildcache.wrapper.rustc_args import RustcCall
from buildcache.wrapper.source_paths import PathChanged, PathChecker

TYPE_CHECKING = False  # typing costs ~10 ms to import on the hot path
if TYPE_CHECKING:
    from collections.abc import Mapping

    from buildcache.config import Config

# Files rustc writes beside the predicted outputs under unusual flags; seeing one
# means the entry would be incomplete.
EXTRA_OUTPUT_SUFFIXES = (".dwp", ".dwo", ".pdb", ".ll", ".s", ".bc", ".o", ".mir")


class NotStorable(Exception):
    """rustc succeeded, but storing its result could be wrong (e.g. a source changed)."""


class Described:
    """What a finished compile read, from its dep-info."""

    __slots__ = ("files", "env", "dep_text")

    def __init__(
        self, files: list[tuple[str, str]], env: list[tuple[str, str | None]], dep_text: str
    ) -> None:
        self.files = files
        self.env = env
        self.dep_text = dep_text


# Linux's number for it; Python only names it from 3.13 on.
CLOCK_REALTIME_COARSE = getattr(time, "CLOCK_REALTIME_COARSE", 5)


def compile_start_ns() -> int:
    """When rustc starts, on the clock file timestamps come from (the kernel's coarse
    clock, one tick behind at most): a file changed after this moment has a ctime at
    or after it, a file last changed before it, in an earlier tick, does not."""
    return time.clock_gettime_ns(CLOCK_REALTIME_COARSE)


def describe_compile(
    call: RustcCall, cwd: str, started_ns: int, memo: dict[str, str | None]
) -> Described:
    dep_info_path = os.path.join(call.out_dir, call.dep_info_name)
    try:
        # newline="": read what rustc wrote; a '\r' inside a path is not a line end,
        # and the dep-info stored (and restored for cargo) keeps rustc's bytes.
        with open(dep_info_path, encoding="utf-8", errors="surrogateescape", newline="") as handle:
            dep_text = handle.read()
        info = parse_dep_info(dep_text)
    except (OSError, ValueError) as error:
        raise NotStorable(f"dep-info unreadable: {error}") from None
    _check_cwd_unmoved(cwd)
    paths = PathChecker(started_ns, cwd)
    files = []
    for path in info.files:
        memo.pop(path, None)  # hash what rustc saw, not what the lookup saw
        digest = digest_source(path, cwd, memo)
        if digest is None or digest == ABSENT:
            raise NotStorable(f"source {path} unreadable")
        try:
            changed = os.stat(os.path.join(cwd, path))
        except OSError:
            raise NotStorable(f"source {path} vanished") from None
        if max(changed.st_ctime_ns, changed.st_mtime_ns) >= started_ns:
            raise NotStorable(f"source {path} changed while rustc ran")
        try:
            paths.check(path)
        except PathChanged as reason:
            raise NotStorable(f"source {path}: {reason}") from None
        files.append((path, digest))
    for alternate in _module_alternates(call.input, info.files):
        memo.pop(alternate, None)
        if digest_source(alternate, cwd, memo) != ABSENT:
            raise NotStorable(f"{alternate} exists: `mod` would now be ambiguous (E0761)")
        files.append((alternate, ABSENT))
    files.sort()
    env = sorted(info.env, key=lambda item: item[0])
    return Described(files, env, dep_text)


def _module_alternates(crate_root: str, sources: list[str]) -> list[str]:
    """The other file each source's `mod` declaration could have found: `foo/mod.rs`
    for `foo.rs` and `foo.rs` for `foo/mod.rs`. rustc only compiled because it was
    absent. (For a file that no `mod` found, `#[path]` or `include!`, recording it
    absent costs a miss if it ever appears, nothing else.)"""
    known = set(sources)
    alternates = []
    for path in sources:
        if not path.endswith(".rs") or path == crate_root:
            continue
        head, name = os.path.split(path)
        if name != "mod.rs":
            alternate = os.path.join(head, name[: -len(".rs")], "mod.rs")
        elif head and os.path.basename(head) not in ("", ".", ".."):
            alternate = head + ".rs"
        else:
            continue
        if alternate not in known:
            known.add(alternate)
            alternates.append(alternate)
    return alternates


def _check_cwd_unmoved(cwd: str) -> None:
    """rustc resolved relative paths from this process's working directory; they are
    hashed through the name `cwd`, which must still lead there."""
    try:
        named, actual = os.stat(cwd), os.stat(".")
    except OSError:
        raise NotStorable("the working directory vanished") from None
    if (named.st_dev, named.st_ino) != (actual.st_dev, actual.st_ino):
        raise NotStorable(f"{cwd} no longer names the working directory")


def collect_outputs(
    call: RustcCall, described: Described, cache_dir: str, snapshot: Snapshot | None = None
) -> tuple[list[tuple[str, int, bytes | memoryview]], dict[str, str]]:
    """rustc's outputs, read whole (from the snapshot when the store runs detached),
    with the dep-info made independent of the out dir, and the digest of each output
    but the dep-info (whose restored text depends on the out dir)."""
    out_dir = call.out_dir
    outputs: list[tuple[str, int, bytes | memoryview]] = []
    digests = {}
    expected = call.output_names()
    if snapshot is None:
        check_no_unknown_outputs(call, expected)
    for name in expected:
        if name == call.dep_info_name:
            data = neutralize(described.dep_text, out_dir).encode("utf-8", "surrogateescape")
            outputs.append((name, 0o644, data))
            continue
        if snapshot is not None:
            try:
                copy, digests[name] = snapshot.read(name)
            except OSError as error:
                raise NotStorable(f"snapshot of {name}: {error}") from None
            outputs.append((name, snapshot.mode(name), copy))
            continue
        path = os.path.join(out_dir, name)
        try:
            with open(path, "rb") as handle:
                before = os.fstat(handle.fileno())
                data = handle.read()
                after = os.fstat(handle.fileno())
        except FileNotFoundError:
            raise NotStorable(f"rustc did not write {name}") from None
        if stamp(before) != stamp(after):
            raise NotStorable(f"{name} changed while it was read")
        digests[name] = remember_output(cache_dir, path, data, after)
        outputs.append((name, after.st_mode & 0o777, data))
    return outputs, digests


def snapshot_outputs(
    call: RustcCall, cache_dir: str, base_key: str, environ: Mapping[str, str]
) -> Snapshot | None:
    """A snapshot of the outputs for a detached store (detached_store.py); None: store
    at once."""
    expected = call.output_names()
    check_no_unknown_outputs(call, expected)
    for name in expected:
        if not os.path.isfile(os.path.join(call.out_dir, name)):
            raise NotStorable(f"rustc did not write {name}")
    names = [name for name in expected if name != call.dep_info_name]
    held = frozenset(names) if cargo_leaves_alone(call, environ) else frozenset()
    return take_snapshot(cache_dir, call.out_dir, names, base_key, held)


# The crate types whose outputs cargo neither links elsewhere nor touches after the
# compile when their package is not a primary one (cargo's `uplift_to` and
# `link_targets`): binaries are linked into the profile dir (build scripts into their
# build dir) and dylibs too, whatever their package; a primary package's outputs may be
# a root's, linked as well. A link moves the output's ctime, which a held output's store
# would find changed (an entry lost, not a wrong one).
HELD_CRATE_TYPES = frozenset({"lib", "rlib", "proc-macro", "cdylib", "staticlib"})


def cargo_leaves_alone(call: RustcCall, environ: Mapping[str, str]) -> bool:
    """Whether the store may read the outputs themselves after the wrapper returned,
    held open, instead of copies made while cargo waits (detached_store.py). Only under
    cargo (CARGO set: what another driver does with the outputs is unknown), and not for
    a check (`--emit` without link: cargo sets the .rmeta's mtime after rustc, from 1.93
    on), a test harness, or a primary package's crate (CARGO_PRIMARY_PACKAGE)."""
    return (
        bool(environ.get("CARGO"))
        and "link" in call.emits
        and not call.is_test
        and bool(call.crate_types)
        and all(kind in HELD_CRATE_TYPES for kind in call.crate_types)
        and not environ.get("CARGO_PRIMARY_PACKAGE")
    )


def make_entry(
    call: RustcCall,
    outputs: list[tuple[str, int, bytes | memoryview]],
    stdout: bytes,
    stderr: bytes,
    *,
    compile_ms: int,
    digests: dict[str, str],
) -> store.Entry:
    neutral = stderr.replace(json_bytes(call.out_dir) + b"/", OUT_DIR_PLACEHOLDER.encode() + b"/")
    return store.Entry(outputs, stdout, neutral, compile_ms, digests)


def store_result(
    config: Config,
    call: RustcCall,
    inputs: dict[str, object],
    base_key: str,
    described: Described,
    stdout: bytes,
    stderr: bytes,
    *,
    compile_ms: int,
    snapshot: Snapshot | None = None,
) -> tuple[str, store.Added]:
    """Store a successful compile; returns (result key, what it added to the key's
    shard). The manifest's bytes are counted in its own shard."""
    from buildcache.cache.journal import record_inputs
    from buildcache.wrapper.keys import result_digest

    cache_dir = config.cache_dir
    key = result_digest(base_key, described.files, described.env)
    outputs, digests = collect_outputs(call, described, cache_dir, snapshot)
    entry = make_entry(call, outputs, stdout, stderr, compile_ms=compile_ms, digests=digests)
    added = store.save_entry(cache_dir, key, entry, compression_level=config.compression_level)
    candidate = (described.files, described.env, key)
    manifest_bytes, manifest_files = store.add_to_manifest(cache_dir, base_key, candidate)
    if store.shard_of(base_key) != store.shard_of(key):
        try:
            counters.update_shard(
                cache_dir,
                store.shard_of(base_key),
                {"bytes": manifest_bytes, "files": manifest_files},
            )
        except OSError:
            pass  # the next cleanup recounts the shard from the disk
        manifest_bytes = manifest_files = 0
    record_inputs(cache_dir, call.crate_name, key, inputs, described.files, described.env)
    added.bytes += manifest_bytes
    added.files += manifest_files
    return key, added


def check_no_unknown_outputs(call: RustcCall, expected: list[str]) -> None:
    """Refuse to store when rustc wrote a file of this crate that we would not restore."""
    if not call.extra_filename:
        return  # without a unique stem we cannot tell this crate's files from others'
    stem = call.crate_name + call.extra_filename
    for name in os.listdir(call.out_dir):
        if name in expected or not name.startswith((stem, "lib" + stem)):
            continue
        if name.endswith(EXTRA_OUTPUT_SUFFIXES):
            raise NotStorable(f"rustc also wrote {name}")
