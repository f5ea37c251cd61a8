"""Read a rustc command line: is it cacheable, what goes into the key, what does it write?

Hot path: stdlib only, no regular expressions.

The key must not contain anything that differs between two checkouts of the
same workspace but cannot change the output: the `--out-dir`, the
`-L dependency=` search paths, the paths of `--extern` files and native search
dirs (their contents are hashed instead) and the `-C incremental` directory.
Everything else is kept verbatim, so an argument we do not understand can only
cause a miss. What the native-code options read is collected here and hashed by
native_inputs.py.
"""

from __future__ import annotations

import os

# Options whose value may come as the next argument instead of after `=` or glued.
_VALUE_OPTIONS = frozenset(
    {
        "--crate-name", "--edition", "--crate-type", "--emit", "--out-dir", "-o", "-C",
        "--codegen", "-L", "-l", "--extern", "--cfg", "--check-cfg", "--cap-lints",
        "--error-format", "--json", "--diagnostic-width", "--target", "-Z", "--print",
        "-W", "-A", "-D", "-F", "--warn", "--allow", "--deny", "--forbid", "--force-warn",
        "--sysroot", "--remap-path-prefix", "--color", "--explain", "--crate-attr",
    }
)  # fmt: skip
_SHORT_GLUED = ("-C", "-L", "-l", "-Z", "-W", "-A", "-D", "-F", "-o")
# Long spellings of short options: one spelling in the key, so both share entries.
_ALIASES = {"--codegen": "-C", "--warn": "-W", "--allow": "-A", "--deny": "-D", "--forbid": "-F"}

# Emit kinds whose files we know how to predict, name and restore.
CACHEABLE_EMITS = frozenset({"dep-info", "metadata", "link"})
# Codegen options that write files we would not restore, or read files we do not hash.
_UNCACHEABLE_CODEGEN = (
    "save-temps", "profile-generate", "profile-use", "incremental-verify", "llvm-args", "passes",
)  # fmt: skip
# Outputs that run when linked; the linker becomes an input of the key.
LINKED_CRATE_TYPES = frozenset({"bin", "proc-macro", "dylib", "cdylib"})


class NotCacheable(Exception):
    """This rustc call is passed through untouched; the message says why."""


class RustcCall:
    """A parsed, cacheable rustc invocation."""

    __slots__ = (
        "crate_name", "extra_filename", "crate_types", "emits", "out_dir", "input",
        "externs", "native_libs", "native_dirs", "link_args", "linker", "key_args",
        "is_test", "incremental", "target_cpu_native",
    )  # fmt: skip

    def __init__(self) -> None:
        self.crate_name = ""
        self.extra_filename = ""
        self.crate_types: list[str] = []
        self.emits: list[str] = []
        self.out_dir = ""
        self.input = ""
        self.externs: list[tuple[str, str]] = []  # (name, path)
        # (kind, name, verbatim) from `-l [KIND[:MODIFIERS]=]NAME[:RENAME]`
        self.native_libs: list[tuple[str, str, bool]] = []
        self.native_dirs: list[str] = []  # `-L native=`/`all=`/`framework=`/bare paths
        self.link_args: list[str] = []  # `-C link-arg(s)=`, `-l link-arg=`: passed to the linker
        self.linker = ""
        self.key_args: list[str] = []  # path-neutral arguments for the key
        self.is_test = False
        self.incremental = False
        self.target_cpu_native = False  # the output depends on this machine's CPU

    @property
    def links(self) -> bool:
        """True when rustc runs the linker (the output embeds native code from outside)."""
        if "link" not in self.emits:
            return False
        return self.is_test or any(kind in LINKED_CRATE_TYPES for kind in self.crate_types)

    def output_names(self) -> list[str]:
        """File names, relative to --out-dir, that rustc writes for this call (Linux naming)."""
        stem = self.crate_name + self.extra_filename
        names = []
        if "dep-info" in self.emits:
            names.append(f"{stem}.d")
        if "metadata" in self.emits:
            names.append(f"lib{stem}.rmeta")
        if "link" in self.emits:
            for kind in self.crate_types or ["bin"]:
                if kind == "bin":
                    names.append(stem)
                elif kind in ("lib", "rlib"):
                    names.append(f"lib{stem}.rlib")
                elif kind in ("proc-macro", "dylib", "cdylib"):
                    names.append(f"lib{stem}.so")
                elif kind == "staticlib":
                    names.append(f"lib{stem}.a")
        return sorted(set(names))

    @property
    def dep_info_name(self) -> str:
        return f"{self.crate_name}{self.extra_filename}.d"


def _split_options(args: list[str]) -> list[tuple[str, str | None]]:
    """[('--crate-name', 'foo'), ('--test', None), ('', 'src/lib.rs'), ...]; '' marks inputs."""
    # rustc replaces every argument starting with '@' by the lines of that file before
    # reading any option, so `--cfg @cfgs` is a response file too: its contents would
    # be missing from the key.
    if any(arg.startswith("@") for arg in args):
        raise NotCacheable("argument files (@file) are not expanded")
    pairs: list[tuple[str, str | None]] = []
    index = 0
    while index < len(args):
        arg = args[index]
        index += 1
        if arg == "-" or not arg.startswith("-"):
            pairs.append(("", arg))
            continue
        if arg.startswith("--") and "=" in arg:
            name, value = arg.split("=", 1)
            pairs.append((_ALIASES.get(name, name), value))
            continue
        if arg in _VALUE_OPTIONS:
            if index >= len(args):
                raise NotCacheable(f"{arg} has no value")
            pairs.append((_ALIASES.get(arg, arg), args[index]))
            index += 1
            continue
        glued = next((short for short in _SHORT_GLUED if arg.startswith(short)), None)
        if glued and len(arg) > len(glued):
            pairs.append((glued, arg[len(glued) :]))
            continue
        pairs.append((arg, None))
    return pairs


def parse_rustc_args(args: list[str]) -> RustcCall:
    """Parse rustc's arguments (without the rustc path); raise NotCacheable to pass through."""
    call = RustcCall()
    inputs = []
    for name, value in _split_options(args):
        if name == "":
            inputs.append(value or "")
            continue
        if name in ("--print", "-V", "--version", "-vV", "-h", "--help", "--explain"):
            raise NotCacheable(f"{name} compiles nothing")
        if name == "-o":
            raise NotCacheable("-o names an output we do not track")
        if name == "-Z":
            raise NotCacheable("unstable -Z options may read or write files we do not track")
        if name == "--sysroot":
            raise NotCacheable("--sysroot names a sysroot whose crates are not hashed")
        _parse_option(call, name, value)
    if len(inputs) != 1:
        raise NotCacheable("not exactly one input file")
    if inputs[0] == "-":
        raise NotCacheable("the source comes from stdin")
    call.input = inputs[0]
    call.key_args.append(f"input={call.input}")
    if not call.crate_name:
        raise NotCacheable("no --crate-name")
    if not call.out_dir:
        raise NotCacheable("no --out-dir")
    if not call.emits:
        call.emits = ["link"]
    if "dep-info" not in call.emits:
        raise NotCacheable("no dep-info emitted, so the source files are unknown")
    if not call.crate_types and not call.is_test:
        raise NotCacheable("crate type left to the source (#![crate_type])")
    return call


def _parse_option(call: RustcCall, name: str, value: str | None) -> None:
    """Record one option in `call`; append its path-neutral form to the key arguments."""
    value = value or ""
    if name == "--out-dir":
        call.out_dir = os.path.abspath(value)
        return
    if name == "--diagnostic-width":
        return  # rendering only: the terminal's width must not split the cache
    if name == "--crate-name":
        call.crate_name = value
    elif name == "--crate-type":
        call.crate_types.extend(kind for kind in value.split(",") if kind)
    elif name == "--test":
        call.is_test = True
    elif name == "--emit":
        for kind in value.split(","):
            if "=" in kind:
                raise NotCacheable("--emit with an explicit path")
            if kind not in CACHEABLE_EMITS:
                raise NotCacheable(f"--emit={kind} is not cached")
            call.emits.append(kind)
    elif name == "--target" and value.endswith(".json"):
        raise NotCacheable("custom target specification files are not hashed")
    elif name == "--extern":
        _parse_extern(call, value)
        return
    elif name == "-L":
        kind, sep, path = value.partition("=")
        if not sep or kind not in ("native", "all", "framework", "dependency", "crate"):
            kind, path = "all", value
        if kind == "dependency":
            return  # crates are found through --extern, whose contents are hashed
        call.native_dirs.append(path)  # hashed by content (native_inputs.py)
        call.key_args.append(f"-L {kind}")
        return
    elif name == "-l":
        _parse_native_lib(call, value)
    elif name == "-C":
        _parse_codegen(call, value)
        return
    call.key_args.append(name if value == "" else f"{name} {value}")


def _parse_native_lib(call: RustcCall, value: str) -> None:
    kind_part, sep, lib = value.partition("=")
    if not sep:
        kind_part, lib = "", value
    kind, _, modifiers = kind_part.partition(":")
    if kind == "link-arg":
        call.link_args.append(lib)
        return
    name = lib.split(":", 1)[0]
    call.native_libs.append((kind or "dylib", name, "+verbatim" in modifiers.split(",")))


def _parse_extern(call: RustcCall, value: str) -> None:
    crate, sep, path = value.partition("=")
    if sep and path:
        call.externs.append((crate, path))
        call.key_args.append(f"--extern {crate}=<file>")
    else:
        call.key_args.append(f"--extern {value}")


def _parse_codegen(call: RustcCall, value: str) -> None:
    option, _, setting = value.partition("=")
    if option in _UNCACHEABLE_CODEGEN:
        raise NotCacheable(f"-C {option} is not cached")
    if option == "split-debuginfo" and setting in ("packed", "unpacked"):
        raise NotCacheable("split debuginfo writes files we do not restore")
    if option == "incremental":
        # Only the presence counts: incremental builds partition code differently, so
        # their objects live under a separate key; the directory itself is private
        # scratch space (see wrapper.py for why a hit may ignore it).
        call.incremental = True
        call.key_args.append("-C incremental")
        return
    if option == "extra-filename":
        call.extra_filename = setting
    elif option == "linker":
        call.linker = setting
    elif option == "link-arg":
        call.link_args.append(setting)
    elif option == "link-args":
        call.link_args.extend(setting.split())
    elif option == "target-cpu" and setting == "native":
        call.target_cpu_native = True
    call.key_args.append(f"-C {value}")
