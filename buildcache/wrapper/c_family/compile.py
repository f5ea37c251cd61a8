"""One C/C++ object compile through the cache: key, hit, or compile and store.

The key (format, compiler identity, every argument, the working directory, the
environment variables the compiler reads, and the digest of the preprocessed
source: see preprocess.py) names the entry directly; there is no manifest, since
preprocessing already tells us everything the compile will read. The working
directory is keyed because it reaches the object's debug info (DW_AT_comp_dir) and
relative paths; the output paths are keyed because a dependency file names them.

The entry lives in the same store as rustc's (same size cap, checksums, eviction)
and the call is counted in the `c_*` counters, apart from rustc's. With remote tiers
(remote_tier.py), a local miss asks them for the entry by its key, checked as a rustc
entry is (signature, checksum, output names) and written back locally; a stored miss
is queued for upload. Since the key holds the working directory and the output paths,
a remote hit needs the same checkout path and target dir as the compile that filled it.
"""

from __future__ import annotations

import os
import sys
import time

from buildcache.cache import crate_times, store
from buildcache.cache.digests import sha256, text_digest
from buildcache.wrapper.c_family.arguments import CCall, parse_c_args
from buildcache.wrapper.c_family.driver import driver_plan
from buildcache.wrapper.c_family.preprocess import (
    check_all_inputs_visible,
    check_no_precompiled_headers,
    files_entered,
    run_preprocessor,
)
from buildcache.wrapper.counting import count_call
from buildcache.wrapper.messages import write_stream
from buildcache.wrapper.remote_calls import guarded, open_remote, with_remote
from buildcache.wrapper.rustc_args import NotCacheable
from buildcache.wrapper.rustc_process import exec_rustc, run_rustc_streaming

TYPE_CHECKING = False  # typing costs ~10 ms to import on the hot path
if TYPE_CHECKING:
    from typing import Callable

    from buildcache.config import Config
    from buildcache.wrapper.run import RustcRan

KEY_FORMAT = "buildcache-c-key-v2"
# What gcc and clang read from the environment that can change an object or the
# diagnostics replayed with it (include paths, the date, the driver's search, the
# message language).
KEYED_ENV = (
    "CPATH", "C_INCLUDE_PATH", "CPLUS_INCLUDE_PATH", "OBJC_INCLUDE_PATH", "SOURCE_DATE_EPOCH",
    "GCC_EXEC_PREFIX", "COMPILER_PATH", "LANG", "LC_ALL", "LC_CTYPE", "LC_MESSAGES",
    "GCC_COLORS", "CCC_OVERRIDE_OPTIONS",
)  # fmt: skip
# Make the compiler write files we would not restore.
REFUSED_ENV = ("DEPENDENCIES_OUTPUT", "SUNPRO_DEPENDENCIES", "GCC_COMPARE_DEBUG")


class NotStorable(Exception):
    """The compile succeeded, but what it read may not be what the key describes."""


def compile_c(
    config: Config, compiler: str, args: list[str], ran: RustcRan, finish: Callable[..., None]
) -> int:
    """Exceptions propagate to main.py's guard (the compiler runs unchanged unless `ran`
    says it already did), after being counted as errors."""
    if config.disabled:
        count_call(config, None, {"c_requests": 1, "c_disabled": 1})
        finish("disabled")
        return exec_rustc(compiler, args)
    try:
        return _compile(config, compiler, args, ran, finish)
    except KeyboardInterrupt:
        return 130
    except NotCacheable as reason:
        count_call(config, None, {"c_requests": 1, "c_non_cacheable": 1})
        finish("non_cacheable", str(reason))
        return exec_rustc(compiler, args)
    except BaseException as error:  # noqa: BLE001 - the cache must never fail a build
        count_call(config, None, {"c_requests": 1, "c_errors": 1})
        finish("error", f"{type(error).__name__}: {error}")
        raise


def _compile(
    config: Config, compiler: str, args: list[str], ran: RustcRan, finish: Callable[..., None]
) -> int:
    from buildcache.wrapper.miss import compile_start_ns

    environ = os.environ
    for name in REFUSED_ENV:
        if environ.get(name):
            raise NotCacheable(f"{name} makes the compiler write another file")
    call = parse_c_args(args)
    _check_outputs_are_files(call)
    cache_dir = config.cache_dir
    started_ns = compile_start_ns()
    plan = driver_plan(compiler, args, cache_dir)
    status, text = run_preprocessor(compiler, call.preprocess_args)
    if status != 0:
        raise NotCacheable("the preprocessor failed; the compiler reports why")
    check_all_inputs_visible(text)
    entered = files_entered(text)
    check_no_precompiled_headers(entered, call.include_dirs)
    preprocessed = sha256(text).hexdigest()
    inputs = _key_inputs(call, preprocessed, plan)
    key = text_digest(*(f"{name}={value!r}" for name, value in inputs.items()))

    corrupt = 0
    try:
        entry = store.load_entry(cache_dir, key)
    except store.CorruptEntry:
        entry, corrupt = None, 1
    source_name = os.path.basename(call.source)
    if entry is not None and _restore(entry, call):
        count_call(
            config,
            key,
            {
                "c_requests": 1,
                "c_hits": 1,
                "corrupt": corrupt,
                "c_time_saved_ms": entry.compile_ms,
            },
        )
        crate_times.add(cache_dir, source_name, hits=1, saved_ms=entry.compile_ms)
        finish("hit")
        return 0

    remote = None
    if entry is None and config.remotes:
        remote = open_remote(config)
        if remote is not None:  # a remote hit is saved in the local tier too
            tier = remote
            entry = guarded(tier, lambda: tier.fetch_entry(key, _remote_outputs(call)))
        if entry is not None and _restore(entry, call):
            deltas = {
                "c_requests": 1,
                "c_hits": 1,
                "c_remote_hits": 1,
                "corrupt": corrupt,
                "c_time_saved_ms": entry.compile_ms,
            }
            deltas = with_remote(remote, deltas)
            values = count_call(config, key, deltas)
            crate_times.add(cache_dir, source_name, hits=1, saved_ms=entry.compile_ms)
            if values is not None and deltas.get("bytes"):
                from buildcache.cache.eviction import clean_after_store

                clean_after_store(cache_dir, store.shard_of(key), values["bytes"], config.max_bytes)
            finish("hit", "remote")
            return 0

    compile_started = time.perf_counter()  # the preprocessing above runs on a hit too
    exit_code, stdout, stderr = run_rustc_streaming(compiler, args)
    ran.exit_code = exit_code
    compile_ms = round((time.perf_counter() - compile_started) * 1000)
    if exit_code != 0:
        deltas = {"c_requests": 1, "c_compile_failed": 1, "corrupt": corrupt}
        count_call(config, key, with_remote(remote, deltas))
        finish("compile_failed", f"compiler exited {exit_code}")
        return exit_code
    try:
        _check_unchanged(entered, started_ns)
        _check_preprocesses_the_same(compiler, call, preprocessed)
        outputs = _collect_outputs(call)
    except NotStorable as reason:
        deltas = {"c_requests": 1, "c_misses": 1, "c_not_stored": 1, "corrupt": corrupt}
        count_call(config, key, with_remote(remote, deltas))
        finish("miss", f"not stored: {reason}")
        return 0
    added = store.save_entry(
        cache_dir,
        key,
        store.Entry(outputs, stdout, stderr, compile_ms),
        compression_level=config.compression_level,
    )
    from buildcache.cache.journal import record_inputs

    record_inputs(cache_dir, source_name, key, inputs, [], [])
    if remote is not None:
        tier = remote
        guarded(tier, lambda: tier.upload_object(key))
    deltas = {
        "c_requests": 1,
        "c_misses": 1,
        "corrupt": corrupt,
        "bytes": added.bytes,
        "files": added.files,
        "compression_saved": added.compression_saved,
    }
    values = count_call(config, key, with_remote(remote, deltas))
    crate_times.add(cache_dir, source_name, misses=1, compile_ms=compile_ms)
    if values is not None:
        from buildcache.cache.eviction import clean_after_store

        clean_after_store(cache_dir, store.shard_of(key), values["bytes"], config.max_bytes)
    finish("miss")
    return 0


def _remote_outputs(call: CCall) -> list[str]:
    """The outputs a remote entry must hold for this call to be restored from it."""
    return ["object"] if call.dep_file is None else ["object", "depfile"]


def _key_inputs(call: CCall, preprocessed: str, plan: str) -> dict[str, object]:
    """Everything the object can depend on. The compiler is keyed by the driver's plan
    (driver.py): the program its name resolves to and what it runs (cc1, as,
    clang -cc1), each by content, with which expanded options."""
    return {
        "format": KEY_FORMAT,
        "driver_plan": plan,
        "args": call.args,
        "cwd": os.getcwd(),
        "env": [f"{name}={os.environ.get(name, '')}" for name in KEYED_ENV],
        "language": call.language,
        "source": call.source,
        "preprocessed": preprocessed,
    }


def _restore(entry: store.Entry, call: CCall) -> bool:
    """Write the object (and dependency file) and replay the compiler's output; False
    when the entry does not hold what this call writes (then it is compiled)."""
    files = {name: (mode, data) for name, mode, data in entry.outputs}
    wanted = {"object": call.output}
    if call.dep_file is not None:
        wanted["depfile"] = call.dep_file
    if set(files) != set(wanted):
        return False
    if not all(os.path.isdir(os.path.dirname(path) or ".") for path in wanted.values()):
        return False  # the compiler runs, and fails as it would have without us
    from buildcache.cache.atomic import atomic_write, restored_mode

    for name, path in wanted.items():
        mode, data = files[name]
        # The mode the compiler would give it under this umask; not durable, as the
        # compiler's own output is not (atomic.py)
        atomic_write(path, data, mode=restored_mode(mode), durable=False)
    write_stream(sys.stdout, entry.stdout)
    write_stream(sys.stderr, entry.stderr)
    return True


def _check_outputs_are_files(call: CCall) -> None:
    """The compiler writes through a symlink at -o or -MF; a restore would replace it."""
    for path in (call.output, call.dep_file):
        if path is not None and os.path.islink(path):
            raise NotCacheable(f"output {path} is a symlink")


def _check_unchanged(paths: list[str], started_ns: int) -> None:
    """Every file the preprocessor entered is a regular file older than the start of
    preprocessing: one changed since may have been read with other contents by the
    compile, and a pipe or device (/dev/stdin) reads differently each time. A
    directory (gcc's `-g` marker for the working directory) is not an input."""
    import stat

    for path in paths:
        try:
            info = os.stat(path)
        except OSError:
            raise NotStorable(f"{path} vanished during the compile") from None
        if stat.S_ISDIR(info.st_mode):
            continue
        if not stat.S_ISREG(info.st_mode):
            raise NotStorable(f"{path} is not a regular file")
        if max(info.st_ctime_ns, info.st_mtime_ns) >= started_ns:
            raise NotStorable(f"{path} changed during the compile")


def _check_preprocesses_the_same(compiler: str, call: CCall, preprocessed: str) -> None:
    """Preprocess again after the compile: a header that appeared in an earlier include
    dir, a retargeted symlink or a renamed directory between the first `-E` and the
    compile shows as another text (ctimes alone cannot see a new file shadowing an old
    one). One more preprocessor run per miss; hits do not pay it."""
    status, text = run_preprocessor(compiler, call.preprocess_args)
    if status != 0 or sha256(text).hexdigest() != preprocessed:
        raise NotStorable("the sources preprocess differently after the compile")


def _collect_outputs(call: CCall) -> list[tuple[str, int, bytes]]:
    outputs = []
    for name, path in (("object", call.output), ("depfile", call.dep_file)):
        if path is None:
            continue
        try:
            with open(path, "rb") as handle:
                data = handle.read()
            mode = os.stat(path).st_mode & 0o777
        except OSError:
            raise NotStorable(f"the compiler did not write {path}") from None
        outputs.append((name, mode, data))
    return outputs
