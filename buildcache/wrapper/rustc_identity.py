"""Which compiler is this? `rustc -vV`, its sysroot, and the content of the compiler.

The version string alone does not identify a compiler: one rebuilt from patched
sources (a rustc developer's linked stage1 toolchain, a distro package with a
backported fix) reports the same `-vV`. So the identity also covers the content of
the rustc binary and of the compiler's libraries in `<sysroot>/lib` (the driver,
where rustc really lives, and LLVM).

Running `rustc -vV` costs tens of milliseconds and hashing the libraries more, so
the identity is cached in `<cache>/rustc/` keyed by the binary's path and validated
by the stamps (size, mtime, ctime, inode) of the binary and of those libraries: any
change to one of them re-runs the query and rehashes what changed.
A rustup proxy (the `rustc` in ~/.cargo/bin) picks its toolchain from the
environment and the directory, so for it the query runs every time; cargo
itself hands the wrapper the real toolchain binary, so builds don't pay this.
"""

from __future__ import annotations

import os

from buildcache.cache.atomic import atomic_write, makedirs
from buildcache.cache.digests import seal_text, text_digest, unseal_text
from buildcache.cache.file_digests import content_digest

# In <sysroot>/lib: librustc_driver-<hash>.so and libLLVM*.so*.
COMPILER_LIBRARY_PREFIXES = ("librustc_driver-", "libLLVM")


def _is_rustup_proxy(path: str) -> bool:
    rustup = os.path.join(os.path.dirname(path), "rustup")
    try:
        return os.path.samefile(path, rustup)
    except OSError:
        return False


def _query(rustc: str) -> str:
    import subprocess  # ~8 ms to import: only paid when a toolchain is first seen

    run = subprocess.run
    version = run([rustc, "-vV"], capture_output=True, text=True, check=True).stdout
    sysroot = run([rustc, "--print", "sysroot"], capture_output=True, text=True, check=True)
    return f"{version}sysroot: {sysroot.stdout.strip()}\n"


def locate_executable(program: str, search_path: str) -> str:
    """An absolute path for program; a bare name (older cargo passes `rustc`) is looked up
    on PATH the way exec would."""
    if "/" in program:
        return os.path.abspath(program)
    for directory in search_path.split(os.pathsep):
        candidate = os.path.join(directory or ".", program)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return os.path.abspath(candidate)
    raise FileNotFoundError(f"{program} not found on PATH")


def rustc_identity(cache_dir: str, rustc: str) -> str:
    """A digest that changes whenever the compiler (or its sysroot) changes."""
    rustc = locate_executable(rustc, os.environ.get("PATH", os.defpath))
    if _is_rustup_proxy(rustc):
        query = _query(rustc)
        return _identity(cache_dir, rustc, query, _sysroot_of(query))
    stamp = f"{os.path.abspath(rustc)} {_stamp(os.stat(rustc))}"
    record = os.path.join(cache_dir, "rustc", text_digest(stamp)[:32])
    try:
        with open(record, encoding="utf-8") as handle:
            text = unseal_text(handle.read())
        saved_stamp, sysroot, saved_libraries, identity = (text or "").split("\n")
        if (
            saved_stamp == stamp
            and saved_libraries == _library_stamps(sysroot)
            and len(identity) == 64
        ):
            return identity
    except (OSError, UnicodeDecodeError, ValueError):
        pass
    query = _query(rustc)
    sysroot = _sysroot_of(query)
    libraries = _library_stamps(sysroot)
    identity = _identity(cache_dir, rustc, query, sysroot)
    if _library_stamps(sysroot) == libraries:  # else a library changed while we hashed it
        makedirs(cache_dir, os.path.dirname(record))
        atomic_write(record, seal_text(f"{stamp}\n{sysroot}\n{libraries}\n{identity}"))
    return identity


def _stamp(info: os.stat_result) -> str:
    return f"{info.st_size} {info.st_mtime_ns} {info.st_ctime_ns} {info.st_ino}"


def _sysroot_of(query: str) -> str:
    return query.rpartition("sysroot: ")[2].strip()


def _compiler_libraries(sysroot: str) -> list[str]:
    """The shared libraries the compiler runs: the driver (rustc itself, linked into a
    small launcher) and LLVM. A compiler rebuilt from patched sources keeps its
    version string; these files are what changes."""
    directory = os.path.join(sysroot, "lib")
    try:
        names = os.listdir(directory)
    except OSError:
        return []
    wanted = [n for n in names if n.startswith(COMPILER_LIBRARY_PREFIXES) and ".so" in n]
    return [os.path.join(directory, name) for name in sorted(wanted)]


def _library_stamps(sysroot: str) -> str:
    stamps = []
    for path in _compiler_libraries(sysroot):
        try:
            stamps.append(f"{os.path.basename(path)} {_stamp(os.stat(path))}")
        except OSError:
            stamps.append(f"{os.path.basename(path)} missing")
    return "\t".join(stamps)


def _identity(cache_dir: str, rustc: str, query: str, sysroot: str) -> str:
    """-vV and the sysroot, plus the content of the compiler's binary and libraries
    (each digest remembered by its file's stamp, so a new launcher path costs no
    rehash of the 150 MB driver)."""
    parts = [query, "binary", content_digest(cache_dir, os.path.realpath(rustc), shared=True)]
    for path in _compiler_libraries(sysroot):
        parts += [os.path.basename(path), content_digest(cache_dir, path, shared=True)]
    return text_digest("rustc", *parts)
