"""One cacheable rustc call, from the lookup to the miss's store (run.py decides that
a call is cacheable; the module docstring there says how a call ends).

Kept apart from run.py so that calls that compile nothing never import the store,
the remote tier or the per-crate times.
"""

from __future__ import annotations

import os
import time

from buildcache.cache import crate_times, store
from buildcache.wrapper.counting import count_call
from buildcache.wrapper.remote_calls import guarded, open_remote, with_remote

TYPE_CHECKING = False  # typing costs ~10 ms to import on the hot path
if TYPE_CHECKING:
    from typing import Callable

    from buildcache.config import Config
    from buildcache.wrapper.detached_store import Snapshot
    from buildcache.wrapper.remote_tier import RemoteTier
    from buildcache.wrapper.run import RustcRan
    from buildcache.wrapper.rustc_args import RustcCall


def compile_with_cache(
    config: Config,
    rustc: str,
    args: list[str],
    call: RustcCall,
    ran: RustcRan,
    finish: Callable[..., None],
) -> int:
    from buildcache.cache.staging import wait_for_store
    from buildcache.wrapper.hit import find_result, restore
    from buildcache.wrapper.keys import base_inputs, inputs_digest
    from buildcache.wrapper.rustc_identity import rustc_identity

    cache_dir = config.cache_dir
    environ = os.environ
    cwd = os.getcwd()
    identity = rustc_identity(cache_dir, rustc)
    inputs = base_inputs(call, identity, environ, cache_dir, cwd)
    base_key = inputs_digest(inputs)
    memo: dict[str, str | None] = {}

    corrupt = 0
    try:
        candidates = store.load_manifest(cache_dir, base_key)
    except store.CorruptEntry:
        candidates, corrupt = [], 1
    result_key = find_result(candidates, cwd, environ, memo)
    if result_key is None and wait_for_store(cache_dir, base_key):
        # An earlier miss of these arguments was still being stored: look again.
        try:
            candidates = store.load_manifest(cache_dir, base_key)
        except store.CorruptEntry:
            candidates, corrupt = [], corrupt + 1
        result_key = find_result(candidates, cwd, environ, memo)
    if result_key is not None:
        try:
            entry = store.load_entry(cache_dir, result_key)
        except store.CorruptEntry:
            entry, corrupt = None, corrupt + 1
        if entry is not None:
            store.touch_manifest(cache_dir, base_key)
            restore(entry, call, cache_dir)
            count_call(
                config,
                result_key,
                {"requests": 1, "hits": 1, "corrupt": corrupt, "time_saved_ms": entry.compile_ms},
            )
            crate_times.add(cache_dir, call.crate_name, hits=1, saved_ms=entry.compile_ms)
            finish("hit")
            return 0

    remote = None
    if config.remotes:
        remote = open_remote(config)
        found = None
        if remote is not None:
            tier, outputs = remote, call.output_names()
            found = guarded(
                tier, lambda: tier.find(base_key, result_key, cwd, environ, memo, outputs)
            )
        if found is not None:
            result_key, entry = found
            restore(entry, call, cache_dir)
            hit = {"requests": 1, "hits": 1, "corrupt": corrupt}
            deltas = with_remote(remote, {**hit, "time_saved_ms": entry.compile_ms})
            shard_values = count_call(config, result_key, deltas)
            crate_times.add(cache_dir, call.crate_name, hits=1, saved_ms=entry.compile_ms)
            if shard_values is not None and deltas.get("bytes"):
                from buildcache.cache.eviction import clean_after_store

                clean_after_store(
                    cache_dir, store.shard_of(result_key), shard_values["bytes"], config.max_bytes
                )
            finish("hit", "remote")
            return 0

    from buildcache.wrapper.detached_store import children_outlive_cargo, run_detached
    from buildcache.wrapper.miss import (
        NotStorable,
        compile_start_ns,
        describe_compile,
        snapshot_outputs,
        store_result,
    )
    from buildcache.wrapper.rustc_process import run_rustc_streaming

    started_ns = compile_start_ns()
    rustc_started = time.perf_counter()
    exit_code, stdout, stderr = run_rustc_streaming(rustc, args)
    ran.exit_code = exit_code
    rustc_done = time.perf_counter()
    compile_ms = round((rustc_done - rustc_started) * 1000)
    if exit_code != 0:
        # Not a miss: nothing could have been stored. Build scripts probe the compiler
        # with snippets meant to fail; counting those as misses would make a fully
        # cached rebuild look like it missed.
        deltas = {"requests": 1, "compile_failed": 1, "corrupt": corrupt}
        count_call(config, base_key, with_remote(remote, deltas))
        finish("compile_failed", f"rustc exited {exit_code}")
        return exit_code

    try:
        described = describe_compile(call, cwd, started_ns, memo)
        if inputs_digest(base_inputs(call, identity, environ, cache_dir, cwd)) != base_key:
            raise NotStorable("an extern crate or native input changed while rustc ran")
        detach = config.background_store and children_outlive_cargo()
        snapshot = snapshot_outputs(call, cache_dir, base_key, environ) if detach else None
    except NotStorable as reason:
        deltas = {"requests": 1, "misses": 1, "not_stored": 1, "corrupt": corrupt}
        count_call(config, base_key, with_remote(remote, deltas))
        finish("miss", f"not stored: {reason}")
        return 0
    miss = {"requests": 1, "misses": 1, "corrupt": corrupt}
    crate_times.add(cache_dir, call.crate_name, misses=1, compile_ms=compile_ms)

    def store_now(snapshot: Snapshot | None) -> tuple[str, store.Added]:
        return store_result(
            config, call, inputs, base_key, described, stdout, stderr,
            compile_ms=compile_ms, snapshot=snapshot,
        )  # fmt: skip

    def store_later() -> str:
        return _store_and_count(config, base_key, store_now, snapshot, remote, {}, background=True)

    if snapshot is not None:
        if remote is not None:  # the background store uploads through it, not starts it
            guarded(remote, remote.keep_helper)
        counted = with_remote(remote, miss)
        if run_detached(snapshot, store_later):
            count_call(config, base_key, counted)
            finish("miss", "stored in the background")
            return 0
    try:
        why_not = _store_and_count(
            config, base_key, store_now, snapshot, remote, miss, background=False
        )
    finally:
        if snapshot is not None:
            snapshot.discard()
    if why_not:
        finish("miss", f"not stored: {why_not}")
    else:  # what the cache added after rustc finished, for curious users
        finish("miss", f"store_ms={(time.perf_counter() - rustc_done) * 1000:.1f}")
    return 0


def _store_and_count(
    config: Config,
    base_key: str,
    store_now: Callable[[Snapshot | None], tuple[str, store.Added]],
    snapshot: Snapshot | None,
    remote: RemoteTier | None,
    deltas: dict[str, int],
    *,
    background: bool,
) -> str:
    """Store a successful compile and count what it added (in the wrapper, or in the
    detached child that finishes it after the wrapper returned: detached_store.py,
    which counts only what it adds to the counts the wrapper made). Returns the reason
    nothing was stored, or "" when it was."""
    from buildcache.cache.eviction import clean_after_store
    from buildcache.cache.file_digests import WRITTEN
    from buildcache.cache.staging import remove_stale
    from buildcache.wrapper.miss import NotStorable

    if background:  # the wrapper counted these before the fork
        WRITTEN[0] = WRITTEN[1] = 0
        if remote is not None:
            remote.counts = {}
    try:
        key, added = store_now(snapshot)
    except NotStorable as reason:
        count_call(config, base_key, with_remote(remote, {**deltas, "not_stored": 1}))
        return str(reason) or "not storable"
    if background and snapshot is not None:
        # Stored: lookups waiting for it may go on, and what killed stores left
        # behind goes now rather than at the next trim.
        snapshot.discard()
        remove_stale(config.cache_dir)
    if remote is not None:
        tier = remote
        guarded(tier, lambda: tier.upload(base_key, key))
    added_counts = {
        "bytes": added.bytes,
        "files": added.files,
        "compression_saved": added.compression_saved,
    }
    shard_values = count_call(config, key, with_remote(remote, {**deltas, **added_counts}))
    if shard_values is not None:
        shard, size = store.shard_of(key), shard_values["bytes"]
        clean_after_store(config.cache_dir, shard, size, config.max_bytes)
    return ""
