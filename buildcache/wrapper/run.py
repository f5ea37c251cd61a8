"""The rustc-wrapper hot path: `buildcache /path/to/rustc ARGS...`, once per crate.

A call ends in exactly one of:
- non_cacheable / disabled: rustc is exec'd unchanged (it becomes this process);
- hit: the outputs, dep-info and console output of an earlier identical compile are
  restored and rustc does not run at all (hit.py);
- miss: rustc runs, its stderr streamed to cargo as it comes, and on success the
  result is stored (miss.py), by a child that finishes after this process has returned
  to cargo (detached_store.py);
- error: something in the cache failed, so rustc runs exactly as without a cache.

How a hit is found without running rustc (ccache's "direct mode"): the *base key*
(keys.py) hashes everything known before compiling. It names a manifest listing, for
each earlier compile with those inputs, the source files rustc read and the env vars
it looked up (both from its dep-info) with their digests/values. If every file and
variable still matches one candidate, that candidate's *result key* names the entry.

Incremental compilation: `-C incremental=DIR` is keyed by its presence only (it
changes how code is split into codegen units) and a hit restores outputs without
touching DIR. That is sound because DIR is rustc's private scratch space: rustc
never trusts it, it re-validates every reused result against the current inputs
and falls back to compiling afresh, so outputs are correct whatever DIR holds.
"""

from __future__ import annotations

import os
import time

from buildcache.config import load_config
from buildcache.errors import ConfigError
from buildcache.wrapper.call_log import log_call
from buildcache.wrapper.compilers import is_c_family_name
from buildcache.wrapper.counting import count_call
from buildcache.wrapper.messages import warn
from buildcache.wrapper.rustc_args import NotCacheable, parse_rustc_args
from buildcache.wrapper.rustc_process import exec_rustc


class RustcRan:
    """Set once rustc has run in this call: a later failure must not run it again."""

    exit_code: int | None = None


def run_wrapper(argv: list[str], ran: RustcRan) -> int:
    """argv is [rustc, args...]. Exceptions propagate to main.py's guard, which runs
    rustc unchanged unless `ran` says it already did."""
    started = time.perf_counter()
    rustc, args = argv[0], argv[1:]
    c_family = is_c_family_name(rustc, os.environ)
    crate = _c_source_name(args) if c_family else _crate_name_of(args)
    try:
        config = load_config()
    except ConfigError as error:
        warn(f"{error}; building without the cache")
        return exec_rustc(rustc, args)

    def finish(result: str, detail: str = "") -> None:
        log_call(config.log, crate, result, (time.perf_counter() - started) * 1000, detail)

    from buildcache.cache.ownership import NotOurs, claim

    try:
        claim(config.cache_dir)
    except NotOurs as error:
        warn(f"BUILDCACHE_DIR: {error}; building without the cache")
        return exec_rustc(rustc, args)
    except OSError as error:  # cannot even create the cache dir: nowhere to count it
        finish("error", f"cache dir unusable: {error}")
        return exec_rustc(rustc, args)
    if c_family:  # cc-rs's `buildcache cc -c x.c`: counted and cached apart from rustc
        from buildcache.wrapper.c_family.compile import compile_c

        return compile_c(config, rustc, args, ran, finish)
    if config.disabled:
        count_call(config, None, {"requests": 1, "disabled": 1})
        finish("disabled")
        return exec_rustc(rustc, args)
    try:
        if args and _is_chained_wrapper(args[0]):
            raise NotCacheable("another wrapper (RUSTC_WORKSPACE_WRAPPER) comes next")
        call = parse_rustc_args(args)
    except NotCacheable as reason:
        count_call(config, None, {"requests": 1, "non_cacheable": 1})
        finish("non_cacheable", str(reason))
        return exec_rustc(rustc, args)
    # Only now the modules a compile needs: a call that compiles nothing (cargo's -vV
    # and --print probes) is done without them.
    from buildcache.wrapper.cached_compile import compile_with_cache

    try:
        return compile_with_cache(config, rustc, args, call, ran, finish)
    except KeyboardInterrupt:
        return 130
    except NotCacheable as reason:  # an input the key cannot cover, found while keying
        count_call(config, None, {"requests": 1, "non_cacheable": 1})
        finish("non_cacheable", str(reason))
        return exec_rustc(rustc, args)
    except BaseException as error:  # noqa: BLE001 - the cache must never fail a build
        count_call(config, None, {"requests": 1, "errors": 1})
        finish("error", f"{type(error).__name__}: {error}")
        raise


def _is_chained_wrapper(first_arg: str) -> bool:
    if first_arg.startswith("-") or first_arg.endswith(".rs"):
        return False
    return os.path.isfile(first_arg) and os.access(first_arg, os.X_OK)


def _crate_name_of(args: list[str]) -> str:
    for index, arg in enumerate(args):
        if arg == "--crate-name" and index + 1 < len(args):
            return args[index + 1]
        if arg.startswith("--crate-name="):
            return arg[len("--crate-name=") :]
    return "-"


def _c_source_name(args: list[str]) -> str:
    """The C call's source file name, which stands for the crate in logs and explain."""
    from buildcache.wrapper.c_family.arguments import SOURCE_SUFFIXES

    for arg in reversed(args):
        if not arg.startswith("-") and os.path.splitext(arg)[1] in SOURCE_SUFFIXES:
            return os.path.basename(arg)
    return "-"
