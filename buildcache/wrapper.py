"""The rustc-wrapper hot path: `buildcache /path/to/rustc ARGS...`, once per crate.

A call ends in exactly one of:
- non_cacheable / disabled: rustc is exec'd unchanged (it becomes this process);
- hit: the outputs, dep-info and console output of an earlier identical compile are
  restored and rustc does not run at all;
- miss: rustc runs, its stderr streamed to cargo as it comes (cargo's pipelining waits
  for the metadata notification), and on success the result is stored;
- error: something in the cache failed, so rustc runs exactly as without a cache.

How a hit is found without running rustc (ccache's "direct mode"): the *base key*
hashes everything known before compiling (compiler, path-neutral arguments,
--extern contents, native libs, linker, the CARGO_* values that reach the output).
It names a manifest listing, for each earlier compile with those inputs, the source
files rustc read and the env vars it looked up (both from its dep-info) with their
digests/values. If every file and variable still matches one candidate, that
candidate's *result key* names the entry.

Incremental compilation: `-C incremental=DIR` is keyed by its presence only (it
changes how code is split into codegen units) and a hit restores outputs without
touching DIR. That is sound because DIR is rustc's private scratch space: rustc
never trusts it, it re-validates every reused result against the current inputs
and falls back to compiling afresh, so outputs are correct whatever DIR holds.
A stale or missing DIR only makes the next real compile of that crate slower.

Paths: the key holds no absolute path that cargo derives from the checkout
location. Source files are keyed as rustc names them (relative to the workspace
for workspace members), so a second checkout hits. A crate that reads a path
through env!() (CARGO_MANIFEST_DIR, OUT_DIR...) has that value in its dep-info,
so it is keyed by it and misses from another path, as it must.
"""

from __future__ import annotations

import os
import sys
import time

from buildcache import stats, store
from buildcache.config import Config, load_config
from buildcache.depinfo import (
    OUT_DIR_PLACEHOLDER,
    escape_path,
    localize,
    neutralize,
    parse_dep_info,
)
from buildcache.digests import file_digest, text_digest
from buildcache.errors import ConfigError
from buildcache.log import log_call
from buildcache.out_dir_paths import (
    PROFILE_PLACEHOLDER,
    from_placeholder,
    out_dir_only_included,
    profile_dir,
    to_placeholder,
)
from buildcache.output_identity import extern_identity, record_identity
from buildcache.rustc_args import NotCacheable, RustcCall, parse_rustc_args

# typing costs ~10 ms to import; mypy honours this spelling of TYPE_CHECKING.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable

KEY_FORMAT = "buildcache-key-v1"
# Variables cargo sets for every crate that reach its output through env!() or
# option_env!() without being path-valued. They are hashed even when the crate does
# not read them, because a proc-macro may read them without rustc noticing.
KEY_ENV_PREFIXES = ("CARGO_PKG_",)
KEY_ENV_NAMES = ("CARGO_CRATE_NAME", "CARGO_BIN_NAME", "RUSTC_BOOTSTRAP", "RUST_TARGET_PATH")
# For linked outputs: where the linker looks for libraries.
LINK_ENV_NAMES = ("LIBRARY_PATH", "LD_RUN_PATH")
# Files rustc writes beside the predicted outputs under unusual flags; seeing one
# means the entry would be incomplete.
EXTRA_OUTPUT_SUFFIXES = (".dwp", ".dwo", ".pdb", ".ll", ".s", ".bc", ".o", ".mir")


class NotStorable(Exception):
    """rustc succeeded, but storing its result could be wrong (e.g. a source changed)."""


def run_wrapper(argv: list[str]) -> int:
    """argv is [rustc, args...]. Never raises: a cache failure runs rustc unchanged."""
    started = time.perf_counter()
    rustc, args = argv[0], argv[1:]
    crate = _crate_name_of(args)
    try:
        config = load_config()
    except ConfigError as error:
        _warn(f"{error}; building without the cache")
        return _exec_rustc(rustc, args)

    def finish(result: str, detail: str = "") -> None:
        log_call(config.log, crate, result, (time.perf_counter() - started) * 1000, detail)

    if config.disabled:
        _count(config, None, {"requests": 1, "disabled": 1})
        finish("disabled")
        return _exec_rustc(rustc, args)
    try:
        if args and _is_chained_wrapper(args[0]):
            raise NotCacheable("another wrapper (RUSTC_WORKSPACE_WRAPPER) comes next")
        call = parse_rustc_args(args)
    except NotCacheable as reason:
        _count(config, None, {"requests": 1, "non_cacheable": 1})
        finish("non_cacheable", str(reason))
        return _exec_rustc(rustc, args)

    compile_state = _CompileState()
    try:
        return _compile_with_cache(config, rustc, args, call, compile_state, finish)
    except KeyboardInterrupt:
        return 130
    except BaseException as error:  # noqa: BLE001 - the cache must never fail a build
        _count(config, None, {"requests": 1, "errors": 1})
        finish("error", f"{type(error).__name__}: {error}")
        if compile_state.exit_code is not None:
            return compile_state.exit_code  # rustc already ran and said what it had to say
        return _exec_rustc(rustc, args)


class _CompileState:
    """Whether rustc has already run in this call (so a later failure must not rerun it)."""

    exit_code: int | None = None


def _compile_with_cache(
    config: Config,
    rustc: str,
    args: list[str],
    call: RustcCall,
    state: _CompileState,
    finish: Callable[..., None],
) -> int:
    from buildcache.rustc_identity import rustc_identity

    cache_dir = config.cache_dir
    environ = os.environ
    cwd = os.getcwd()
    inputs = base_inputs(call, rustc_identity(cache_dir, rustc), environ, cache_dir)
    base_key = inputs_digest(inputs)
    memo: dict[str, str | None] = {}

    corrupt = 0
    try:
        candidates = store.load_manifest(cache_dir, base_key)
    except store.CorruptEntry:
        candidates, corrupt = [], 1
    result_key = find_result(candidates, cwd, environ, memo)
    if result_key is not None:
        try:
            entry = store.load_entry(cache_dir, result_key)
        except store.CorruptEntry:
            entry, corrupt = None, corrupt + 1
        if entry is not None:
            restore(entry, call, cache_dir, result_key)
            _count(config, result_key, {"requests": 1, "hits": 1, "corrupt": corrupt})
            finish("hit")
            return 0

    compile_ = _Compile(call, cache_dir, base_key, cwd, time.time_ns(), memo)
    exit_code, stdout, stderr = run_rustc_streaming(rustc, args, compile_.on_stderr_line)
    state.exit_code = exit_code
    rustc_done = time.perf_counter()
    if exit_code != 0:
        # Not a miss: nothing could have been stored. Build scripts probe the compiler
        # with snippets meant to fail; counting those as misses would make a fully
        # cached rebuild look like it missed.
        _count(config, base_key, {"requests": 1, "compile_failed": 1, "corrupt": corrupt})
        finish("compile_failed", f"rustc exited {exit_code}")
        return exit_code
    try:
        described, key = compile_.describe()
        record_outputs(cache_dir, call, key)
        added_bytes, added_files = store_result(
            config, call, inputs, base_key, described, key, stdout, stderr
        )
    except NotStorable as reason:
        _count(config, base_key, {"requests": 1, "misses": 1, "not_stored": 1, "corrupt": corrupt})
        finish("miss", f"not stored: {reason}")
        return 0
    shard_values = _count(
        config,
        key,
        {
            "requests": 1,
            "misses": 1,
            "corrupt": corrupt,
            "bytes": added_bytes,
            "files": added_files,
        },
    )
    if shard_values is not None:
        from buildcache.eviction import clean_after_store

        clean_after_store(cache_dir, store.shard_of(key), shard_values["bytes"], config.max_bytes)
    # What the cache added after rustc finished, for `make bench` and curious users.
    finish("miss", f"store_ms={(time.perf_counter() - rustc_done) * 1000:.1f}")
    return 0


class _Described:
    """What a finished (or metadata-complete) compile read, from its dep-info."""

    __slots__ = ("files", "env", "profile", "dep_text")

    def __init__(
        self,
        files: list[tuple[str, str]],
        env: list[tuple[str, str | None]],
        profile: str | None,
        dep_text: str,
    ) -> None:
        self.files = files
        self.env = env
        self.profile = profile
        self.dep_text = dep_text


class _Compile:
    """A miss in progress. Its result key is known as soon as rustc has written the
    dep-info, which happens before the metadata: so the .rmeta gets its identity
    before cargo hears of it and starts the dependents (pipelining)."""

    def __init__(
        self,
        call: RustcCall,
        cache_dir: str,
        base_key: str,
        cwd: str,
        started_ns: int,
        memo: dict[str, str | None],
    ) -> None:
        self.call = call
        self.cache_dir = cache_dir
        self.base_key = base_key
        self.cwd = cwd
        self.started_ns = started_ns
        self.memo = memo
        self.described: _Described | None = None

    def describe(self) -> tuple[_Described, str]:
        if self.described is None:
            self.described = describe_compile(self.call, self.cwd, self.started_ns, self.memo)
        described = self.described
        return described, result_digest(self.base_key, described.files, described.env)

    def on_stderr_line(self, line: bytes) -> None:
        if b'"artifact":' not in line or b'"emit":"metadata"' not in line:
            return
        try:
            _, key = self.describe()
            name = f"lib{self.call.crate_name}{self.call.extra_filename}.rmeta"
            path = os.path.join(self.call.out_dir, name)
            from buildcache.output_identity import record_identity

            record_identity(self.cache_dir, path, f"{key}/{name}")
        except Exception:  # noqa: BLE001 - dependents then key this file by its content
            self.described = None


def base_inputs(
    call: RustcCall, identity: str, environ: os._Environ[str], cache_dir: str
) -> dict[str, object]:
    """Everything known before compiling that can change the output (see module doc)."""
    env = [
        f"{name}={value}"
        for name, value in sorted(environ.items())
        if name.startswith(KEY_ENV_PREFIXES) or name in KEY_ENV_NAMES
    ]
    inputs: dict[str, object] = {
        "format": KEY_FORMAT,
        "rustc": identity,
        "args": list(call.key_args),
        "env": env,
        "externs": [(name, extern_identity(cache_dir, path)) for name, path in call.externs],
        "native": [(lib, _native_lib_digest(lib, call.native_dirs)) for lib in call.native_libs],
    }
    if call.links:
        inputs["linker"] = _linker_identity(call.linker or "cc", environ)
        inputs["link_env"] = [f"{n}={environ.get(n, '')}" for n in LINK_ENV_NAMES]
    return inputs


def inputs_digest(inputs: dict[str, object]) -> str:
    parts: list[str] = []
    for name in sorted(inputs):
        value = inputs[name]
        items = value if isinstance(value, list) else [value]
        parts.append(f"{name}:{len(items)}")
        parts.extend(str(item) for item in items)
    return text_digest(*parts)


def result_digest(
    base_key: str, files: list[tuple[str, str]], env: list[tuple[str, str | None]]
) -> str:
    return text_digest(
        base_key,
        *(f"file {path}\0{digest}" for path, digest in files),
        *(f"env {name}\0{'<unset>' if value is None else '=' + value}" for name, value in env),
    )


def _native_lib_digest(lib: str, dirs: list[str]) -> str:
    """Static and shared libraries found in the -L dirs are hashed; system ones by name."""
    for directory in dirs:
        for name in (f"lib{lib}.a", f"lib{lib}.so", f"{lib}.a"):
            path = os.path.join(directory, name)
            if os.path.isfile(path):
                return file_digest(path)
    return "system"


def _linker_identity(linker: str, environ: os._Environ[str]) -> str:
    from buildcache.rustc_identity import resolve_program

    try:
        real = os.path.realpath(resolve_program(linker, environ.get("PATH", os.defpath)))
        info = os.stat(real)
    except OSError:
        return f"missing {linker}"
    return f"{linker} {real} {info.st_size} {info.st_mtime_ns}"


def _digest_source(path: str, cwd: str, memo: dict[str, str | None]) -> str | None:
    if path not in memo:
        try:
            memo[path] = file_digest(os.path.join(cwd, path))
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
    profile = profile_dir(environ)
    for files, env, result in candidates:
        if any(_current_env(environ, name, value, profile) != value for name, value in env):
            continue
        if all(_current_digest(path, cwd, profile, memo) == digest for path, digest in files):
            return result
    return None


def _current_env(
    environ: os._Environ[str], name: str, recorded: str | None, profile: str | None
) -> str | None:
    value = environ.get(name)
    if value is not None and recorded is not None and recorded.startswith(PROFILE_PLACEHOLDER):
        return to_placeholder(value, profile)
    return value


def _current_digest(
    path: str, cwd: str, profile: str | None, memo: dict[str, str | None]
) -> str | None:
    local = from_placeholder(path, profile)
    return None if local is None else _digest_source(local, cwd, memo)


def restore(entry: store.Entry, call: RustcCall, cache_dir: str, key: str) -> None:
    """Write the entry's outputs into this build's out dir and replay rustc's output.

    Identities are recorded before the replay, because the replayed artifact
    notifications are what lets cargo start the dependents."""
    from buildcache.fsutil import atomic_write

    out_dir = call.out_dir
    profile = profile_dir(os.environ) or PROFILE_PLACEHOLDER
    for name, mode, data in entry.outputs:
        if name == call.dep_info_name:
            text = localize(bytes(data).decode("utf-8", "surrogateescape"), out_dir)
            text = text.replace(PROFILE_PLACEHOLDER + "/", escape_path(profile) + "/")
            data = text.encode("utf-8", "surrogateescape")
        path = os.path.join(out_dir, name)
        atomic_write(path, data, mode=mode)
        if name != call.dep_info_name:
            record_identity(cache_dir, path, f"{key}/{name}")
    stderr = entry.stderr.replace(OUT_DIR_PLACEHOLDER.encode(), _json_bytes(out_dir))
    stderr = stderr.replace(PROFILE_PLACEHOLDER.encode(), _json_bytes(profile))
    _write_stream(sys.stdout, entry.stdout)
    _write_stream(sys.stderr, stderr)


def describe_compile(
    call: RustcCall, cwd: str, started_ns: int, memo: dict[str, str | None]
) -> _Described:
    """The sources and env vars rustc read, keyed path-neutrally, from its dep-info."""
    dep_info_path = os.path.join(call.out_dir, call.dep_info_name)
    try:
        with open(dep_info_path, encoding="utf-8", errors="surrogateescape") as handle:
            dep_text = handle.read()
        info = parse_dep_info(dep_text)
    except (OSError, ValueError) as error:
        raise NotStorable(f"dep-info unreadable: {error}") from None
    profile = _neutral_profile_dir(info.files, info.env, cwd)

    files = []
    for path in info.files:
        full = os.path.join(cwd, path)
        try:
            changed_during_compile = os.stat(full).st_mtime_ns > started_ns
        except OSError:
            raise NotStorable(f"source {path} vanished") from None
        if changed_during_compile:
            raise NotStorable(f"source {path} changed while rustc ran")
        memo.pop(path, None)  # hash what rustc saw, not what the lookup saw
        digest = _digest_source(path, cwd, memo)
        if digest is None:
            raise NotStorable(f"source {path} unreadable")
        files.append((to_placeholder(path, profile), digest))
    files.sort()
    env = sorted(
        ((name, to_placeholder(value, profile) if value else value) for name, value in info.env),
        key=lambda item: item[0],
    )
    return _Described(files, env, profile, dep_text)


def record_outputs(cache_dir: str, call: RustcCall, key: str) -> None:
    for name in call.output_names():
        if name != call.dep_info_name:
            path = os.path.join(call.out_dir, name)
            if os.path.exists(path):
                record_identity(cache_dir, path, f"{key}/{name}")


def store_result(
    config: Config,
    call: RustcCall,
    inputs: dict[str, object],
    base_key: str,
    described: _Described,
    key: str,
    stdout: bytes,
    stderr: bytes,
) -> tuple[int, int]:
    """Store a successful compile; returns (bytes added, files added) for key's shard."""
    out_dir = call.out_dir
    profile = described.profile
    outputs = []
    expected = call.output_names()
    _check_no_unknown_outputs(call, expected)
    for name in expected:
        path = os.path.join(out_dir, name)
        try:
            with open(path, "rb") as handle:
                data = handle.read()
            mode = os.stat(path).st_mode & 0o777
        except FileNotFoundError:
            raise NotStorable(f"rustc did not write {name}") from None
        if name == call.dep_info_name:
            text = neutralize(described.dep_text, out_dir)
            if profile:
                text = text.replace(
                    escape_path(profile) + "/build/", PROFILE_PLACEHOLDER + "/build/"
                )
            data = text.encode("utf-8", "surrogateescape")
        outputs.append((name, mode, data))

    stored_stderr = stderr.replace(_json_bytes(out_dir) + b"/", OUT_DIR_PLACEHOLDER.encode() + b"/")
    if profile:
        stored_stderr = stored_stderr.replace(
            _json_bytes(profile) + b"/build/", PROFILE_PLACEHOLDER.encode() + b"/build/"
        )
    entry = store.Entry(outputs, stdout, stored_stderr)
    cache_dir = config.cache_dir
    entry_bytes, entry_files = store.save_entry(cache_dir, key, entry)
    candidate = (described.files, described.env, key)
    manifest_bytes, manifest_files = store.add_to_manifest(cache_dir, base_key, candidate)
    if store.shard_of(base_key) != store.shard_of(key):
        _count(config, base_key, {"bytes": manifest_bytes, "files": manifest_files})
        manifest_bytes = manifest_files = 0
    from buildcache.inputs_journal import record_inputs

    record_inputs(cache_dir, call.crate_name, key, inputs, described.files, described.env)
    return entry_bytes + manifest_bytes, entry_files + manifest_files


def _neutral_profile_dir(
    files: list[str], env: list[tuple[str, str | None]], cwd: str
) -> str | None:
    """The profile dir to replace by a placeholder, or None to key OUT_DIR verbatim."""
    profile = profile_dir(os.environ)
    if profile is None or not any(name == "OUT_DIR" for name, _ in env):
        return None
    texts = []
    for path in files:
        if path.endswith(".rs"):
            with open(os.path.join(cwd, path), encoding="utf-8", errors="replace") as handle:
                texts.append(handle.read())
    return profile if out_dir_only_included(texts) else None


def _json_bytes(path: str) -> bytes:
    return json_escape(path).encode("utf-8", "surrogateescape")


def _check_no_unknown_outputs(call: RustcCall, expected: list[str]) -> None:
    """Refuse to store when rustc wrote a file of this crate that we would not restore."""
    if not call.extra_filename:
        return  # without a unique stem we cannot tell this crate's files from others'
    stem = call.crate_name + call.extra_filename
    for name in os.listdir(call.out_dir):
        if name in expected or not name.startswith((stem, "lib" + stem)):
            continue
        if name.endswith(EXTRA_OUTPUT_SUFFIXES):
            raise NotStorable(f"rustc also wrote {name}")


def run_rustc_streaming(
    rustc: str, args: list[str], on_line: Callable[[bytes], None]
) -> tuple[int, bytes, bytes]:
    """Run rustc, forwarding its stderr line by line while keeping a copy of everything.
    on_line sees each line before cargo does.

    posix_spawn, pipes and select rather than subprocess and a thread: those cost
    ~10 ms to import, paid on every miss. rustc inherits every other descriptor we
    inherited, which is how it reaches cargo's jobserver."""
    import select

    out_read, out_write = os.pipe()
    err_read, err_write = os.pipe()
    actions = [
        (os.POSIX_SPAWN_DUP2, out_write, 1),
        (os.POSIX_SPAWN_DUP2, err_write, 2),
    ]
    try:
        pid = os.posix_spawnp(rustc, [rustc, *args], os.environ, file_actions=actions)
    finally:
        os.close(out_write)
        os.close(err_write)
    stdout, stderr, pending = bytearray(), bytearray(), b""
    open_fds = [out_read, err_read]
    while open_fds:
        ready, _, _ = select.select(open_fds, [], [])
        for fd in ready:
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                open_fds.remove(fd)
                os.close(fd)
            elif fd == out_read:
                stdout += chunk
            else:
                pending += chunk
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    _forward_stderr_line(line + b"\n", stderr, on_line)
    if pending:
        _forward_stderr_line(pending, stderr, on_line)
    _, status = os.waitpid(pid, 0)
    exit_code = os.waitstatus_to_exitcode(status)
    if exit_code < 0:
        exit_code = 128 - exit_code  # killed by a signal: report it as a shell would
    _write_stream(sys.stdout, bytes(stdout))
    return exit_code, bytes(stdout), bytes(stderr)


def _forward_stderr_line(line: bytes, copy: bytearray, on_line: Callable[[bytes], None]) -> None:
    copy += line
    on_line(line)
    _write_stream(sys.stderr, line)


def json_escape(text: str) -> str:
    """The form a path takes inside rustc's JSON messages (serde_json keeps non-ASCII)."""
    out = []
    for char in text:
        if char in '"\\':
            out.append("\\" + char)
        elif ord(char) < 0x20:
            out.append({"\n": "\\n", "\r": "\\r", "\t": "\\t"}.get(char, f"\\u{ord(char):04x}"))
        else:
            out.append(char)
    return "".join(out)


def _write_stream(stream: object, data: bytes) -> None:
    if not data:
        return
    try:
        buffer = stream.buffer  # type: ignore[attr-defined]
        buffer.write(data)
        buffer.flush()
    except (OSError, ValueError):
        pass  # cargo went away; nothing useful to do with the output


def _count(config: Config, key: str | None, deltas: dict[str, int]) -> dict[str, int] | None:
    """Best-effort stats update: a stats failure must not turn into a build failure."""
    shard = store.shard_of(key) if key else stats.SHARDS[os.getpid() % len(stats.SHARDS)]
    try:
        return stats.update_shard(config.cache_dir, shard, {k: v for k, v in deltas.items() if v})
    except Exception:  # noqa: BLE001
        return None


def _exec_rustc(rustc: str, args: list[str]) -> int:
    """Become rustc: same pid, same file descriptors (stdin, jobserver), its exit code."""
    try:
        sys.stdout.flush()
        sys.stderr.flush()
        os.execvp(rustc, [rustc, *args])
    except OSError as error:
        _warn(f"cannot run {rustc}: {error.strerror}")
        return 127


def _warn(message: str) -> None:
    try:
        sys.stderr.write(f"buildcache: warning: {message}\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass


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
