"""What the dynamic loader would run in rustc besides its toolchain's own libraries.

rustc is a small launcher; the compiler is `librustc_driver-<hash>.so` and LLVM, found
through the launcher's RUNPATH (`$ORIGIN/../lib`). But LD_LIBRARY_PATH is searched
before any RUNPATH, and in each of its dirs glibc also looks in subdirs for the CPU
(`glibc-hwcaps/x86-64-v3/`, and before glibc 2.37 `tls/`, `haswell/`, `x86_64/`...):
a driver found in any of them is another compiler, which even reports another sysroot.
LD_PRELOAD and LD_AUDIT run other code inside rustc. (/etc/ld.so.preload is root's.)

So the compiler's identity (rustc_identity.py) is remembered only where the loader can
take the compiler's libraries from nowhere but where the launcher's RUNPATH leads: the
loader itself said so when the identity was found (LD_TRACE_LOADED_OBJECTS, ldd's way),
and its environment is *plain* then and at every use: nothing preloaded or audited, and
no LD_LIBRARY_PATH dir (cargo puts the target's deps dir and the toolchain's lib dir
there) offers another file under a compiler library's name or has one of those subdirs
at all. Otherwise the identity is found afresh on every call and covers every file the
loader says it maps: slower, and exact. (A launcher that is a script, as some package
managers' rustc is, takes that slower way too.)
"""

from __future__ import annotations

import os

# Where glibc looks inside each search dir before the dir itself (hwcaps subdirs since
# 2.33; legacy platform and TLS subdirs up to 2.36), on the architectures we run on.
SEARCHED_SUBDIRS = (
    "glibc-hwcaps", "tls", "x86_64", "haswell", "xeon_phi", "avx512_1", "aarch64", "i686",
)  # fmt: skip
LOADER_VARIABLES = ("LD_PRELOAD", "LD_AUDIT")
# In <sysroot>/lib: librustc_driver-<hash>.so and libLLVM*.so*.
COMPILER_LIBRARY_PREFIXES = ("librustc_driver-", "libLLVM")


def natural_libraries(launcher: str) -> list[str]:
    """The compiler's libraries where the launcher's RUNPATH (`$ORIGIN/../lib`) leads:
    what the loader takes when nothing comes before it."""
    directory = os.path.join(os.path.dirname(os.path.realpath(launcher)), os.pardir, "lib")
    try:
        names = os.listdir(directory)
    except OSError:
        return []
    wanted = [n for n in names if n.startswith(COMPILER_LIBRARY_PREFIXES) and ".so" in n]
    return [os.path.realpath(os.path.join(directory, name)) for name in sorted(wanted)]


def is_plain(natural: list[str]) -> bool:
    """Whether the loader can only take the compiler's libraries from where the
    launcher's RUNPATH leads (natural: natural_libraries)."""
    environ = os.environ
    if not natural or any(environ.get(name, "").strip() for name in LOADER_VARIABLES):
        return False
    search = environ.get("LD_LIBRARY_PATH", "")
    if not search:
        return True
    if "$" in search:
        return False  # expanded by the loader, not here
    by_name = {os.path.basename(path): path for path in natural}
    for directory in search.replace(";", ":").split(":"):
        directory = directory or "."  # an empty entry is the working directory
        # Joined, not normalized: `link/..` is where the kernel's lookup leads.
        if any(os.path.lexists(os.path.join(directory, sub)) for sub in SEARCHED_SUBDIRS):
            return False
        for name, library in by_name.items():
            candidate = os.path.join(directory, name)
            if os.path.lexists(candidate) and not _same_file(candidate, library):
                return False
    return True


def _same_file(path: str, other: str) -> bool:
    try:
        return os.path.samestat(os.stat(path), os.stat(other))
    except OSError:
        return False


def takes_natural(loaded: list[str], natural: list[str]) -> bool:
    """Whether every compiler library among what the loader listed is a natural one
    (natural may hold more: `libLLVM-<v>.so` is a linker script for linking to LLVM)."""
    compiler = [p for p in loaded if os.path.basename(p).startswith(COMPILER_LIBRARY_PREFIXES)]
    return bool(compiler) and all(
        any(_same_file(path, library) for library in natural) for path in compiler
    )


def loaded_libraries(program: str) -> list[str]:
    """Every file the dynamic loader maps into program, as it resolves them now (with
    this process's environment); raises OSError when it cannot tell."""
    import subprocess  # ~8 ms to import: only where the environment is not plain

    traced = subprocess.run(
        [program],
        env={**os.environ, "LD_TRACE_LOADED_OBJECTS": "1"},
        capture_output=True,
        check=False,
    )
    if traced.returncode != 0:
        raise OSError(f"the loader could not list what {program} loads")
    paths = []
    for line in traced.stdout.decode("utf-8", "surrogateescape").splitlines():
        # "\tlibfoo.so.1 => /path/libfoo.so.1 (0x...)" or "\t/lib64/ld-linux.so.2 (0x...)"
        name, arrow, found = line.strip().partition(" => ")
        path = (found if arrow else name).rpartition(" (")[0]
        if "not found" in line:
            raise OSError(f"{program}: {line.strip()}")
        if path.startswith("/"):
            paths.append(path)
    return paths
