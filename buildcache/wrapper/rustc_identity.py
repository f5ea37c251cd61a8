"""Which compiler is this? `rustc -vV`, its sysroot, and the content of the compiler.

The version string alone does not identify a compiler: one rebuilt from patched
sources (a rustc developer's linked stage1 toolchain, a distro package with a
backported fix) reports the same `-vV`. So the identity also covers the content of
the rustc binary and of the compiler's libraries in `<sysroot>/lib` (the driver,
where rustc really lives, and LLVM).

Running `rustc -vV` costs tens of milliseconds and hashing the libraries more, so
the identity is cached in `<cache>/rustc/` keyed by the binary's path (as given and
resolved) and validated by the stamps (size, mtime, ctime, inode) of the binary and of
those libraries, and by what the dynamic loader would run instead of or besides them
(LD_LIBRARY_PATH, LD_PRELOAD, LD_AUDIT: _loader_inputs): any change re-runs the query
and rehashes what changed. A new cache dir
takes the record from those every cache dir of the user shares (shared_digests.py),
so a fresh CI cache does not run the query for each compile cargo starts at first.
A rustup proxy (the `rustc` in ~/.cargo/bin) picks its toolchain from the
environment and the directory, so for it the query runs every time; cargo
itself hands the wrapper the real toolchain binary, so builds don't pay this.
"""

from __future__ import annotations

import os

from buildcache.cache.atomic import atomic_write, makedirs
from buildcache.cache.digests import seal_text, text_digest, unseal_text
from buildcache.cache.file_digests import content_digest

# Its record among those every cache dir of a user shares (shared_digests.py).
SHARED_PREFIX = "rustc-identity-v2-"
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
    # By the path cargo gave and the file it leads to: a toolchain dir behind a symlink
    # swapped for another whose launcher is the same inode (hard-linked by a dedup
    # tool) has another sysroot.
    where = f"{os.path.abspath(rustc)} {os.path.realpath(rustc)}"
    stamp = f"{where} {_stamp(os.stat(rustc))}"
    name = text_digest(stamp)[:32]
    record = os.path.join(cache_dir, "rustc", name)
    try:
        with open(record, "rb") as handle:
            identity = _recorded_identity(handle.read(), stamp)
    except OSError:
        identity = None
    if identity is not None:
        return identity
    # A new cache dir: any other cache dir of this user may have found it already.
    from buildcache.cache import shared_digests

    shared = shared_digests.recall_record(SHARED_PREFIX + name)
    identity = None if shared is None else _recorded_identity(shared, stamp)
    if shared is None or identity is None:
        query = _query(rustc)
        sysroot = _sysroot_of(query)
        libraries = _library_stamps(sysroot)
        identity = _identity(cache_dir, rustc, query, sysroot)
        if _library_stamps(sysroot) != libraries:
            return identity  # a library changed while we hashed it: no record
        loader = _loader_stamps(sysroot)
        shared = seal_text(f"{stamp}\n{sysroot}\n{libraries}\n{loader}\n{identity}")
        shared_digests.remember_record(SHARED_PREFIX + name, shared)
    makedirs(cache_dir, os.path.dirname(record))
    atomic_write(record, shared)
    return identity


def _recorded_identity(record: bytes, stamp: str) -> str | None:
    """The identity a record holds, if it is whole and still holds: the binary and the
    compiler's libraries have the stamps they had when it was written, and the dynamic
    loader would take the same libraries."""
    try:
        text = unseal_text(record.decode("utf-8", "surrogateescape"))
        saved_stamp, sysroot, saved_libraries, saved_loader, identity = (text or "").split("\n")
    except (UnicodeDecodeError, ValueError):
        return None
    if saved_stamp != stamp or len(identity) != 64:
        return None
    if saved_libraries != _library_stamps(sysroot) or saved_loader != _loader_stamps(sysroot):
        return None
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
    rehash of the 150 MB driver), and of what the dynamic loader would take instead."""
    parts = [query, "binary", content_digest(cache_dir, os.path.realpath(rustc), shared=True)]
    for path in _compiler_libraries(sysroot):
        parts += [os.path.basename(path), content_digest(cache_dir, path, shared=True)]
    variables, files = _loader_inputs(sysroot)
    if variables or files:  # none, as cargo runs rustc: no change to the identity
        parts += ["loader", *variables]
        parts += [item for path in files for item in (path, content_digest(cache_dir, path))]
    return text_digest("rustc", *parts)


# What makes the dynamic loader run other code in rustc than its own libraries.
LOADER_VARIABLES = ("LD_PRELOAD", "LD_AUDIT")


def _loader_inputs(sysroot: str) -> tuple[list[str], list[str]]:
    """What the dynamic loader would run in rustc besides the sysroot's libraries: the
    values of LD_PRELOAD and LD_AUDIT with the files they name, and any file that
    LD_LIBRARY_PATH offers under the name of one of the compiler's libraries (it comes
    before rustc's RUNPATH, so `LD_LIBRARY_PATH=other/lib` runs another compiler, which
    even reports another sysroot). cargo puts the toolchain's own lib dir there: the
    very same files are not counted."""
    environ = os.environ
    variables, files = [], []
    for variable in LOADER_VARIABLES:
        value = environ.get(variable, "")
        if value.strip():
            variables.append(f"{variable}={value}")
            words = value.replace(":", " ").split()
            files += [os.path.abspath(word) for word in words if "/" in word]
    libraries = _compiler_libraries(sysroot)
    own = set()
    for path in libraries:
        try:
            info = os.stat(path)
            own.add((info.st_dev, info.st_ino))
        except OSError:
            pass
    for directory in environ.get("LD_LIBRARY_PATH", "").split(":"):
        for library in libraries:
            candidate = os.path.abspath(os.path.join(directory or ".", os.path.basename(library)))
            try:
                info = os.stat(candidate)
            except OSError:
                continue
            if (info.st_dev, info.st_ino) not in own:
                files.append(candidate)
    return variables, files


def _loader_stamps(sysroot: str) -> str:
    """_loader_inputs, as the record of an identity holds it: a change to any of them,
    or a variable set or unset, and the record no longer holds."""
    variables, files = _loader_inputs(sysroot)
    stamps = []
    for path in files:
        try:
            stamps.append(f"{path} {_stamp(os.stat(path))}")
        except OSError:
            stamps.append(f"{path} missing")
    return "\t".join(variables + stamps)
