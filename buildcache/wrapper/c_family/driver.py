"""What the compiler driver will run for this call: `cc ARGS -###`, keyed.

The program cargo names (`cc`) is only a driver. It picks the compiler proper (cc1,
clang -cc1) and the assembler (`as`, found on PATH), expands `-march=native` into
this CPU's features, and can be rewritten by its environment (clang's
CCC_OVERRIDE_OPTIONS, its config files) or be another wrapper (a ccache symlink).
`-###` prints the commands it would run without running them, so keying that text,
and the bytes of every program it names, covers all of this: a switched `cc`
alternative, another `as` first on PATH, another CPU.
"""

from __future__ import annotations

import os

from buildcache.cache.file_digests import content_digest
from buildcache.wrapper.c_family.preprocess import run_capturing
from buildcache.wrapper.rustc_args import NotCacheable
from buildcache.wrapper.rustc_identity import locate_executable

# Where clang and LLVM keep the code generator: a clang binary is a small stub.
_COMPILER_LIBRARY_PREFIXES = ("libLLVM", "libclang-cpp")


def driver_plan(compiler: str, args: list[str], cache_dir: str) -> str:
    """The normalised `-###` text plus a digest of every program it runs."""
    status, text = run_capturing(compiler, [*args, "-###"], 2)
    if status != 0:
        raise NotCacheable("the compiler driver would not say what it runs (-###)")
    lines = _without_temp_names(text.decode("utf-8", "surrogateescape"))
    search_path = os.environ.get("PATH", os.defpath)
    programs = {os.path.realpath(locate_executable(compiler, search_path))}
    for line in lines:
        if line.startswith(" ") and not line.startswith(" ("):
            program = line.split()[0].strip('"')
            try:
                programs.add(os.path.realpath(locate_executable(program, search_path)))
            except FileNotFoundError:
                raise NotCacheable(f"the driver runs {program}, which is not found") from None
    digests = []
    for program in sorted(programs):
        digests.append(f"{program} {content_digest(cache_dir, program, shared=True)}")
        digests += _library_digests(program, cache_dir)
    return "\n".join(lines + digests)


def _without_temp_names(text: str) -> list[str]:
    """gcc names its intermediate files /tmp/ccXXXXXX.s, new on every run."""
    temp_prefix = (os.environ.get("TMPDIR") or "/tmp").rstrip("/") + "/cc"
    lines = []
    for line in text.splitlines():
        words = line.split(" ")
        lines.append(
            " ".join(
                "<tmp>" if word.strip("'\"").startswith(temp_prefix) else word for word in words
            )
        )
    return lines


def _library_digests(program: str, cache_dir: str) -> list[str]:
    library_dir = os.path.join(os.path.dirname(os.path.dirname(program)), "lib")
    try:
        names = sorted(os.listdir(library_dir))
    except OSError:
        return []
    found = []
    for name in names:
        if name.startswith(_COMPILER_LIBRARY_PREFIXES) and ".so" in name:
            path = os.path.realpath(os.path.join(library_dir, name))
            if os.path.isfile(path):
                found.append(f"{path} {content_digest(cache_dir, path, shared=True)}")
    return found
