"""The base key: everything known before compiling that can change the output.

- rustc's identity, the path-neutral arguments (rustc_args.py);
- every --extern file by the digest of its bytes: a dependent must name the exact
  artifact it was compiled against, because rustc's crate hash covers the working
  directory, so "the same" library built in two checkouts is not interchangeable
  (a dependent compiled against one fails with E0460 against the other);
- native code by content (native_inputs.py); the linker by content for linked outputs;
- the CPU when `-C target-cpu=native`;
- the working directory, for every crate: rustc writes it into the output's debuginfo
  and source map, so a crate built in another checkout is not the same output even
  when its sources are;
- the CARGO_* values cargo sets for the crate. A crate with dependencies may expand a
  proc-macro, and a proc-macro can read the environment without rustc noticing
  (stable Rust has no tracked env for it), so for those crates every CARGO_* value
  (CARGO_MANIFEST_DIR included), OUT_DIR and the values the build script set with
  `cargo:rustc-env` are keyed as they are. A crate without dependencies cannot run a
  proc-macro; what it reads through env!() is in its dep-info and keyed from there
  (see miss.py).
"""

from __future__ import annotations

import os

from buildcache.cache.digests import text_digest
from buildcache.cache.file_digests import content_digest
from buildcache.wrapper.native_inputs import native_inputs
from buildcache.wrapper.rustc_args import RustcCall

# v3: manifests record files that must stay absent (hit.ABSENT); v2 manifests, which
# do not, must not be found any more.
KEY_FORMAT = "buildcache-key-v3"
# Set by cargo for every crate; they reach the output through env!() or a proc-macro.
ALWAYS_KEYED_PREFIXES = ("CARGO_PKG_",)
ALWAYS_KEYED_NAMES = (
    "CARGO_CRATE_NAME",
    "CARGO_BIN_NAME",
    # Read by rustc itself, so never in a dep-info: RUSTC_BOOTSTRAP unlocks features,
    # RUST_TARGET_PATH finds target specs, RUSTC_FORCE_RUSTC_VERSION replaces the
    # version mixed into the crate's hash (and so into symbol names and TypeIds).
    "RUSTC_BOOTSTRAP",
    "RUST_TARGET_PATH",
    "RUSTC_FORCE_RUSTC_VERSION",
)
# Differs on every build (jobserver descriptors) and cannot reach an output.
NEVER_KEYED_NAMES = ("CARGO_MAKEFLAGS",)
# For linked outputs: where the linker and the compiler driver look for their parts.
LINK_ENV_NAMES = ("LIBRARY_PATH", "LD_RUN_PATH", "COMPILER_PATH", "GCC_EXEC_PREFIX")


def base_inputs(
    call: RustcCall, identity: str, environ: os._Environ[str], cache_dir: str, cwd: str
) -> dict[str, object]:
    inputs: dict[str, object] = {
        "format": KEY_FORMAT,
        "rustc": identity,
        "args": list(call.key_args),
        "env": _keyed_env(environ, expands_macros=bool(call.externs)),
        "externs": [(name, content_digest(cache_dir, path)) for name, path in call.externs],
        "native": native_inputs(call, cache_dir, environ),
        # rustc writes it into every output (DW_AT_comp_dir, the absolute source paths
        # of debuginfo and of the rmeta's source map). A --remap-path-prefix of exactly
        # cwd would take it out, but its FROM is then in the arguments keyed above;
        # a remap of a shorter prefix leaves the rest of cwd in the output.
        "cwd": cwd,
    }
    if call.externs:
        inputs["build_script_env"] = _build_script_env(environ)
    if call.links:
        inputs["linker"] = _linker_digest(call.linker or "cc", environ, cache_dir)
        inputs["link_env"] = [f"{n}={environ.get(n, '')}" for n in LINK_ENV_NAMES]
    if call.target_cpu_native:
        inputs["cpu"] = _cpu_identity()
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


def _keyed_env(environ: os._Environ[str], *, expands_macros: bool) -> list[str]:
    keyed = []
    for name, value in sorted(environ.items()):
        if name in NEVER_KEYED_NAMES:
            continue
        always = name.startswith(ALWAYS_KEYED_PREFIXES) or name in ALWAYS_KEYED_NAMES
        if always or (expands_macros and (name.startswith("CARGO") or name == "OUT_DIR")):
            keyed.append(f"{name}={value}")
    return keyed


def _build_script_env(environ: os._Environ[str]) -> list[str]:
    """The values of the variables this crate's build script set (`cargo:rustc-env`),
    read from the script's output file beside OUT_DIR."""
    out_dir = environ.get("OUT_DIR")
    if not out_dir:
        return []
    try:
        with open(
            os.path.join(os.path.dirname(out_dir.rstrip("/")), "output"),
            encoding="utf-8",
            errors="surrogateescape",
        ) as handle:
            lines = handle.read().splitlines()
    except OSError:
        return ["output: unreadable"]
    names = set()
    for line in lines:
        for prefix in ("cargo:rustc-env=", "cargo::rustc-env="):
            if line.startswith(prefix):
                names.add(line[len(prefix) :].split("=", 1)[0])
    return [f"{name}={environ.get(name, '<unset>')}" for name in sorted(names)]


def _linker_digest(linker: str, environ: os._Environ[str], cache_dir: str) -> str:
    from buildcache.wrapper.rustc_identity import locate_executable

    try:
        path = os.path.realpath(locate_executable(linker, environ.get("PATH", os.defpath)))
        return f"{linker} {content_digest(cache_dir, path, shared=True)}"
    except OSError:
        return f"missing {linker}"


def _cpu_identity() -> str:
    """What `-C target-cpu=native` compiles for: the CPU's model and feature flags."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as handle:
            lines = handle.read().split("\n\n", 1)[0].splitlines()
    except OSError:
        return "unknown"
    wanted = ("vendor_id", "cpu family", "model", "model name", "flags", "Features", "CPU part")
    return "; ".join(line for line in lines if line.split(":", 1)[0].strip() in wanted)
