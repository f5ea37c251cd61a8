"""Which compiler a wrapped call runs: rustc (cargo's calls) or a C-family compiler.

cc-rs puts RUSTC_WRAPPER in front of its compiler when the wrapper is named
buildcache (as it does for sccache), so build scripts call `buildcache cc -c x.c
-o x.o`, often with a bare name. Recognising those calls matters twice: the CLI
must not take `cc` for a mistyped command (that failed every -sys build), and the
rustc path must not count them as rustc requests.
"""

from __future__ import annotations

import os

# gcc, g++, cc, c++, clang, clang++, with an optional cross prefix
# (x86_64-linux-gnu-gcc) and version suffix (gcc-12, clang-16, clang++-16).
_C_FAMILY = ("gcc", "g++", "cc", "c++", "clang", "clang++")
# The variables cc-rs and make read a C compiler from (also CC_<target>,
# CXX_<target>); the programs they name count too.
_COMPILER_VARIABLES = ("CC", "CXX", "HOST_CC", "HOST_CXX", "TARGET_CC", "TARGET_CXX")
_COMPILER_VARIABLE_PREFIXES = ("CC_", "CXX_")


def _strip_version(name: str) -> str:
    """`gcc-12` -> `gcc`, `clang++-16.0` -> `clang++`; other names unchanged."""
    stem, dash, version = name.rpartition("-")
    if dash and stem and version.replace(".", "").isdigit():
        return stem
    return name


def is_c_family_name(program: str, environ: os._Environ[str] | dict[str, str]) -> bool:
    name = _strip_version(os.path.basename(program))
    if name in _C_FAMILY or name.endswith(tuple("-" + known for known in _C_FAMILY)):
        return True
    base = os.path.basename(program)
    for variable, value in environ.items():
        if variable in _COMPILER_VARIABLES or variable.startswith(_COMPILER_VARIABLE_PREFIXES):
            # "ccache gcc", "gcc -m32": any word that is a program, not a flag
            words = [word for word in value.split() if not word.startswith("-")]
            if any(os.path.basename(word) == base for word in words):
                return True
    return False


def is_rustc_name(program: str) -> bool:
    name = os.path.basename(program)
    return "rustc" in name or "clippy-driver" in name
