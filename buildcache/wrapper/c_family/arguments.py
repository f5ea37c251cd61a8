"""Read a C/C++ compiler command line: is it one cacheable object compile?

Only one shape is cached: `-c`, one source file, one object out. Everything the
compiler could read that the preprocessed source does not show (profiles, plugins,
spec files, response files, other tools' options), and everything it could write
beside the object (listings, coverage notes, split DWARF, dumps), makes the call
not cacheable: the wrapper runs the compiler unchanged. An option not known here is
not cacheable either, so a new flag can cost a miss but never a wrong object.
Hot path: stdlib only.
"""

from __future__ import annotations

import os

from buildcache.wrapper.rustc_args import NotCacheable

# Options whose value is the next argument when not glued (`-I dir` or `-Idir`).
_VALUE_OPTIONS = frozenset(
    {
        "-o", "-I", "-D", "-U", "-include", "-imacros", "-isystem", "-iquote", "-idirafter",
        "-iprefix", "-iwithprefix", "-iwithprefixbefore", "-isysroot", "-imultilib", "-x",
        "-MF", "-MT", "-MQ", "-target", "--param", "-arch", "--sysroot",
    }
)  # fmt: skip
# Glued forms of the value options above that we accept (`-Ifoo`, `-DX=1`, `-MFx.d`).
_GLUED = ("-I", "-D", "-U", "-MF", "-MT", "-MQ", "-o")
# Dependency-file options: passed to the real compile, left out of the preprocessing run.
_DEP_FLAGS = frozenset({"-MD", "-MMD", "-MP"})
_DEP_VALUE_OPTIONS = frozenset({"-MF", "-MT", "-MQ"})
# Options that change nothing we cannot see, or that only the linker reads (not run with -c).
_PLAIN_FLAGS = frozenset(
    {
        "-c", "-w", "-ansi", "-pipe", "-pthread", "-nostdinc", "-nostdinc++", "-static",
        "-shared", "-rdynamic", "-s", "-no-canonical-prefixes", "-integrated-as",
        "-no-integrated-as", "-undef", "-trigraphs", "-traditional-cpp", "-C", "-CC",
    }
)  # fmt: skip
_PLAIN_PREFIXES = (
    "-O", "-std=", "-pedantic", "--std=", "--target=", "-W", "-g", "-m", "-f", "-l", "-L",
    "--param=", "-isystem", "-iquote", "-idirafter", "-include", "-imacros", "-isysroot",
)  # fmt: skip
# Read files the key cannot see, run other programs, or write files beside the object.
_REFUSED_PREFIXES = (
    "-Wp,", "-Xpreprocessor", "-Xassembler", "-Xlinker", "-Xclang", "-B", "-specs", "--specs",
    "-fplugin", "--config", "-resource-dir", "-mllvm", "-save-temps", "-gsplit-dwarf",
    "-fsplit-dwarf", "--coverage", "-fprofile", "-fauto-profile", "-fcs-profile",
    "-ftest-coverage", "-fcoverage", "-fdump", "-fstack-usage", "-fcallgraph-info",
    "-fsave-optimization-record", "-fopt-info", "-fmodule", "-fprebuilt-module", "-fpch",
    "-fcompare-debug", "-fsanitize-blacklist", "-fsanitize-ignorelist", "-fsanitize-coverage-",
    "-fxray-", "-fcrash-diagnostics", "-fdiagnostics-add-output", "-fdiagnostics-set-output",
    "-fdiagnostics-format=sarif-file", "-ftime-trace", "-ftime-report", "-fproc-stat-report",
    "-fthinlto-index", "-fembed-offload", "-include-pch", "-emit-pch", "-fcreate-profile",
    "--gcc-toolchain", "-gcc-toolchain", "-mafdo", "-fgnat", "-frepo",
    "-fbranch-probabilities", "-fdiagnostics-format=json-file", "-fdeps-", "-fpass-plugin",
    "-frewrite-map-file", "-fmemory-profile", "-fthin-link-bitcode", "-fbasic-block-sections=list",
    "-fvtv-", "-foptimization-record", "-fdiagnostics-format=sarif", "-fdiagnostics-plain-output=",
    "-fstack-usage", "-finstrument-functions-exclude-file-list", "-fprofile-sample-accurate",
    "-fdebug-types-section=", "-flto-partition-file", "-fmodule-file",
)  # fmt: skip
# `-f`/`-m` options whose value is a path but only rewrites paths written into the object.
_PATH_MAP_OPTIONS = (
    "-fdebug-prefix-map=", "-ffile-prefix-map=", "-fmacro-prefix-map=",
    "-fdebug-compilation-dir=", "-fcoverage-compilation-dir=",
)  # fmt: skip
# Assembler options (-Wa,...) known to read and write nothing beside the object.
_SAFE_ASSEMBLER_OPTIONS = (
    "--noexecstack", "-mrelax-relocations=", "--gdwarf", "-march=", "-mfpu=", "-mcpu=",
    "--generate-missing-build-notes=", "--compress-debug-sections", "-mbig-obj", "--64", "--32",
    "--nocompress-debug-sections", "-mno-shared", "--fatal-warnings", "-mx86-used-note=",
)  # fmt: skip
# Source languages cached, by suffix and by `-x` name. Plain assembly (.s) is not: the
# preprocessor does not see what it `.include`s.
SOURCE_SUFFIXES = {
    ".c": "c", ".cc": "c++", ".cp": "c++", ".cxx": "c++", ".cpp": "c++", ".CPP": "c++",
    ".c++": "c++", ".C": "c++", ".S": "assembler-with-cpp", ".sx": "assembler-with-cpp",
}  # fmt: skip
_LANGUAGES = frozenset({"c", "c++", "assembler-with-cpp"})


class CCall:
    """One object compile: what it reads and writes, and how to preprocess it."""

    __slots__ = (
        "args", "source", "output", "dep_file", "language", "preprocess_args", "include_dirs",
    )  # fmt: skip

    def __init__(
        self,
        args: list[str],
        source: str,
        output: str,
        dep_file: str | None,
        language: str,
        preprocess_args: list[str],
    ) -> None:
        self.args = args
        self.source = source
        self.output = output
        self.dep_file = dep_file
        self.language = language
        self.preprocess_args = preprocess_args
        # Where a precompiled header could be found: the -I family, the source's dir, cwd.
        self.include_dirs = [os.path.dirname(source), ""]


def _check_flag(arg: str) -> None:
    if arg.startswith(_REFUSED_PREFIXES):
        raise NotCacheable(f"{arg} reads or writes files the cache cannot see")
    if arg.startswith("-Wa,"):
        for option in arg[4:].split(","):
            if not option.startswith(_SAFE_ASSEMBLER_OPTIONS):
                raise NotCacheable(f"assembler option {option} is not known to be safe")
        return
    if arg in ("-E", "-S", "-M", "-MM") or arg.startswith(("-print", "-dump", "--print")):
        raise NotCacheable(f"{arg}: not an object compile")
    if arg in ("-v", "-###", "-Q", "-H") or arg.startswith(("--help", "--version", "-time")):
        raise NotCacheable(f"{arg} prints what a replay would not")
    if arg.startswith(("-f", "-m")) and "=" in arg and not arg.startswith(_PATH_MAP_OPTIONS):
        _check_no_file_value(arg)
    if arg in _PLAIN_FLAGS or arg in _DEP_FLAGS or arg.startswith(_PLAIN_PREFIXES):
        return
    if arg.startswith(_GLUED) or arg.startswith("-x"):
        return
    raise NotCacheable(f"unsupported compiler option {arg}")


def _check_no_file_value(arg: str) -> None:
    """An option not known to read a file may still name one (a new gcc's `-fFOO=file`):
    a value that looks like a path or names an existing file is a read we cannot key."""
    value = arg.partition("=")[2]
    for part in value.replace(",", "=").replace(":", "=").split("="):
        if "/" in part or (part and os.path.exists(part)):
            raise NotCacheable(f"{arg} names a file the key cannot see")


def parse_c_args(args: list[str]) -> CCall:
    """The call, or NotCacheable with the reason."""
    sources: list[str] = []
    output = dep_file = None
    language = None
    compile_only = wants_deps = False
    preprocess: list[str] = []
    index = 0
    while index < len(args):
        arg = args[index]
        value = None
        if arg in _VALUE_OPTIONS:
            if index + 1 >= len(args):
                raise NotCacheable(f"{arg} without a value")
            value = args[index + 1]
            index += 2
        else:
            index += 1
        if arg.startswith("@"):
            raise NotCacheable(f"response file {arg}: its arguments are not seen")
        if not arg.startswith("-") or arg == "-":
            if arg == "-":
                raise NotCacheable("source from stdin")
            sources.append(arg)
            preprocess.append(arg)
            continue
        name, glued = _split_glued(arg, value)
        if value is None:
            _check_flag(arg)
        if name == "-o":
            output = glued
            continue
        if name == "-c":
            compile_only = True
            continue
        if name in _DEP_FLAGS:
            wants_deps = wants_deps or name != "-MP"
            continue
        if name in _DEP_VALUE_OPTIONS:
            if name == "-MF":
                dep_file = glued
            continue
        if name == "-x":
            if sources:
                raise NotCacheable("-x after the source file")
            language = glued
            if language not in _LANGUAGES and language != "none":
                raise NotCacheable(f"-x {language}: language not cached")
        preprocess.append(arg)
        if value is not None:
            preprocess.append(value)
    if not compile_only:
        raise NotCacheable("no -c: linking, or not an object compile")
    if len(sources) != 1:
        raise NotCacheable(f"{len(sources)} source files: only single-source compiles are cached")
    source = sources[0]
    if language in (None, "none"):
        suffix = os.path.splitext(source)[1]
        if suffix not in SOURCE_SUFFIXES:
            raise NotCacheable(f"source {source}: language not cached")
        language = SOURCE_SUFFIXES[suffix]
    if output is None:
        output = os.path.splitext(os.path.basename(source))[0] + ".o"
    if output == "-" or _special(output):
        raise NotCacheable(f"output {output} is not a file")
    if source.startswith(("/dev/", "/proc/")):
        raise NotCacheable(f"source {source} is not a file")
    if wants_deps and dep_file is None:
        raise NotCacheable("-MD without -MF: the dependency file's name is compiler-specific")
    if wants_deps and dep_file is not None and (dep_file == "-" or _special(dep_file)):
        # `-MF /dev/null`: a hit would put a regular file in the device's place
        raise NotCacheable(f"dependency file {dep_file} is not a file")
    call = CCall(list(args), source, output, dep_file if wants_deps else None, language, preprocess)
    call.include_dirs += _include_dirs(args)
    return call


_INCLUDE_DIR_OPTIONS = ("-I", "-iquote", "-isystem", "-idirafter")


def _special(path: str) -> bool:
    """A path into /dev or /proc however it is spelled (`//dev/null`, `../dev/null`, a
    link to a device): what a compiler writes there is not an output to restore."""
    real = os.path.realpath(path)
    return real.startswith(("/dev/", "/proc/")) or path.startswith(("/dev/", "/proc/"))


def _include_dirs(args: list[str]) -> list[str]:
    found = []
    for index, arg in enumerate(args):
        if arg in _INCLUDE_DIR_OPTIONS and index + 1 < len(args):
            found.append(args[index + 1])
        elif arg.startswith(_INCLUDE_DIR_OPTIONS) and arg not in _INCLUDE_DIR_OPTIONS:
            found.append(arg[len(next(o for o in _INCLUDE_DIR_OPTIONS if arg.startswith(o))) :])
    return found


def _split_glued(arg: str, value: str | None) -> tuple[str, str]:
    """(option name, value) for `-o x`, `-ox`, `-MF x`, `-MFx`; (arg, '') for flags."""
    if value is not None:
        return arg, value
    for option in ("-MF", "-MT", "-MQ", "-o", "-x"):
        if arg.startswith(option) and len(arg) > len(option) and arg not in _DEP_FLAGS:
            return option, arg[len(option) :]
    return arg, ""
