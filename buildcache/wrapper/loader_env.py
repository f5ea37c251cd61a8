"""What the dynamic loader would run in rustc besides its toolchain's own libraries.

rustc is a small launcher; the compiler is `librustc_driver-<hash>.so` and LLVM, found
through the launcher's RUNPATH (`$ORIGIN/../lib`). But LD_LIBRARY_PATH is searched
before any RUNPATH, and in each of its dirs glibc also looks in subdirs for the CPU
(`glibc-hwcaps/x86-64-v3/`, and before glibc 2.37 `tls/`, `haswell/`, `x86_64/`...):
a driver found in any of them is another compiler, which even reports another sysroot.
LD_PRELOAD and LD_AUDIT run other code inside rustc. (/etc/ld.so.preload is root's.)

So the compiler's identity (rustc_identity.py) is remembered only where the loader
takes the compiler's libraries from the sysroot the launcher's RUNPATH leads to: the
loader itself said so when the identity was found (LD_TRACE_LOADED_OBJECTS, ldd's way,
which also names every other library it maps), and its environment is *plain* then and
at every use: nothing preloaded or audited, none of those CPU subdirs in the RUNPATH's
dir, and no LD_LIBRARY_PATH dir (cargo puts the target's deps dir and the toolchain's
lib dir there) offering another file under any of the names the loader looked up, or
having such a subdir. Otherwise the identity is found afresh on every call and covers
every file the loader says it maps; where it cannot say (a launcher it does not run, a
libc whose loader does not list) and the environment is not plain, the call is not
cached.
"""

from __future__ import annotations

import os

# Where glibc looks inside each search dir before the dir itself (hwcaps subdirs since
# 2.33; legacy platform and TLS subdirs up to 2.36), on the architectures we run on.
SEARCHED_SUBDIRS = (
    "glibc-hwcaps", "tls", "x86_64", "haswell", "xeon_phi", "avx512_1", "aarch64", "i686",
)  # fmt: skip
LOADER_VARIABLES = ("LD_PRELOAD", "LD_AUDIT")
# How long the loader's listing may take (it maps the libraries and stops).
TRACE_SECONDS = 30
# In <sysroot>/lib: librustc_driver-<hash>.so and libLLVM*.so*.
DRIVER_PREFIX = "librustc_driver-"
COMPILER_LIBRARY_PREFIXES = (DRIVER_PREFIX, "libLLVM")


def natural_dir(launcher: str) -> str:
    """Where the launcher's RUNPATH (`$ORIGIN/../lib`) leads."""
    return os.path.realpath(os.path.join(os.path.dirname(os.path.realpath(launcher)), "../lib"))


def compiler_libraries(directory: str) -> list[str]:
    """The compiler's libraries in a lib dir, sorted."""
    try:
        names = os.listdir(directory)
    except OSError:
        return []
    wanted = [n for n in names if n.startswith(COMPILER_LIBRARY_PREFIXES) and ".so" in n]
    return [os.path.join(directory, name) for name in sorted(wanted)]


def is_plain(libraries: dict[str, str], natural: str) -> bool:
    """Whether the loader, asked for each name in libraries, can only find the file
    libraries gives for it: nothing preloaded or audited, none of the CPU subdirs it
    looks in first in the natural dir (where the RUNPATH leads), and no LD_LIBRARY_PATH
    dir offering another file under one of those names or having such a subdir."""
    environ = os.environ
    if any(environ.get(name, "").strip() for name in LOADER_VARIABLES):
        return False
    if _has_searched_subdir(natural):
        return False
    if "$" in environ.get("LD_LIBRARY_PATH", ""):
        return False  # expanded by the loader ($ORIGIN, $LIB, $PLATFORM), not here
    for directory in _search_dirs():
        if _has_searched_subdir(directory):
            return False
        for name, library in libraries.items():
            # Joined, not normalized: `link/..` is where the kernel's lookup leads.
            candidate = os.path.join(directory, name)
            if os.path.lexists(candidate) and not _same_file(candidate, library):
                return False
    return True


def _search_dirs() -> list[str]:
    """LD_LIBRARY_PATH's dirs as the loader splits it (on ':' and ';'; an empty entry
    is the working directory); none when it is unset or empty."""
    search = os.environ.get("LD_LIBRARY_PATH", "")
    return [entry or "." for entry in search.replace(";", ":").split(":")] if search else []


def _has_searched_subdir(directory: str) -> bool:
    return any(os.path.lexists(os.path.join(directory, sub)) for sub in SEARCHED_SUBDIRS)


def _same_file(path: str, other: str) -> bool:
    try:
        return os.path.samestat(os.stat(path), os.stat(other))
    except OSError:
        return False


def same_files(paths: list[str], others: list[str]) -> bool:
    """Whether every path is one of others' files."""
    return all(any(_same_file(path, other) for other in others) for path in paths)


def loaded_libraries(program: str) -> dict[str, str]:
    """What the dynamic loader maps into program as it resolves it now (with this
    process's environment): each name asked for -> the file found; raises OSError
    when it cannot tell. Empty where the loader does not list (not glibc's, a static
    program) or lists another program's (a script's interpreter)."""
    import subprocess  # ~8 ms to import: only when the identity is found afresh

    # Where the variable is not heeded (a static launcher, another libc), the program
    # runs for real, with no arguments: nothing to read, and a bound on the time.
    traced = subprocess.run(
        [program],
        env={**os.environ, "LD_TRACE_LOADED_OBJECTS": "1"},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        check=False,
        timeout=TRACE_SECONDS,
    )
    if traced.returncode != 0:
        raise OSError(f"the loader could not list what {program} loads")
    found = {}
    for line in traced.stdout.decode("utf-8", "surrogateescape").splitlines():
        # "\tlibfoo.so.1 => /path/libfoo.so.1 (0x...)" or "\t/lib64/ld-linux.so.2 (0x...)"
        if "not found" in line:
            raise OSError(f"{program}: {line.strip()}")
        name, arrow, path = line.strip().partition(" => ")
        path = (path if arrow else name).rpartition(" (")[0]
        if path.startswith("/"):
            found[os.path.basename(name if arrow else path)] = path
    return found


def found_only_in(loaded: dict[str, str], natural: str) -> bool:
    """Whether the loader found every library outside LD_LIBRARY_PATH's dirs, or in the
    natural dir: a file found in another of them is not one whose stamp a record
    keeps, so its content can change under the record."""
    dirs = {os.path.realpath(directory) for directory in _search_dirs()} - {natural}
    return not any(os.path.realpath(os.path.dirname(path)) in dirs for path in loaded.values())


def compiler_part(loaded: dict[str, str]) -> list[str]:
    """The compiler's libraries among what the loader listed."""
    return [path for name, path in loaded.items() if name.startswith(COMPILER_LIBRARY_PREFIXES)]
