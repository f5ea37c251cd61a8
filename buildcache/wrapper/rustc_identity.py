"""Which compiler is this? `rustc -vV`, its sysroot, and the content of the compiler.

The version string alone does not identify a compiler: one rebuilt from patched
sources (a rustc developer's linked stage1 toolchain, a distro package with a
backported fix) reports the same `-vV`. So the identity also covers the content of
the rustc binary and of the compiler's libraries in `<sysroot>/lib` (the driver,
where rustc really lives, and LLVM).

Running `rustc -vV` costs tens of milliseconds and hashing the libraries more, so
the identity is cached in `<cache>/rustc/` keyed by the binary's path (as given and
resolved) and validated by the stamps (size, mtime, ctime, inode) of the binary and of
those libraries, while the dynamic loader's environment is plain (loader_env.py: no
LD_PRELOAD, no LD_LIBRARY_PATH dir offering another driver): any change re-runs the
query and rehashes what changed. A new cache dir takes the record from those every
cache dir of the user shares (shared_digests.py), so a fresh CI cache does not run
the query for each compile cargo starts at first.
A rustup proxy (the `rustc` in ~/.cargo/bin) picks its toolchain from the
environment and the directory, so for it the query runs every time; cargo
itself hands the wrapper the real toolchain binary, so builds don't pay this.
"""

from __future__ import annotations

import os

from buildcache.cache.atomic import atomic_write, makedirs
from buildcache.cache.digests import seal_text, text_digest, unseal_text
from buildcache.cache.file_digests import content_digest
from buildcache.wrapper import loader_env

# Its record among those every cache dir of a user shares (shared_digests.py).
SHARED_PREFIX = "rustc-identity-v3-"


def _is_rustup_proxy(path: str) -> bool:
    """rustup's proxy, by the name beside it or beside the file it leads to (a
    `/usr/local/bin/rustc` linked to ~/.cargo/bin/rustc)."""
    for directory in (os.path.dirname(path), os.path.dirname(os.path.realpath(path))):
        try:
            if os.path.samefile(path, os.path.join(directory, "rustup")):
                return True
        except OSError:
            pass
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
        return _found_afresh(cache_dir, rustc, proxy=True)[0]
    stamp = _binary_stamp(rustc)
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
        publish = shared_digests.available()  # then its digests come from the files
        identity, text = _found_afresh(cache_dir, rustc, proxy=False)
        if text is None or _binary_stamp(rustc) != stamp:
            return identity  # it changed while we looked, or cannot be remembered
        shared = seal_text(f"{stamp}\n{text}\n{identity}")
        if publish:
            shared_digests.remember_record(SHARED_PREFIX + name, shared)
    makedirs(cache_dir, os.path.dirname(record))
    atomic_write(record, shared)
    return identity


def _binary_stamp(rustc: str) -> str:
    """rustc by the path cargo gave, the file it leads to (a toolchain dir behind a
    symlink swapped for another whose launcher is the same inode, hard-linked by a
    dedup tool, has another sysroot) and that file's stamp."""
    return f"{os.path.abspath(rustc)} {os.path.realpath(rustc)} {_stamp(os.stat(rustc))}"


def _found_afresh(cache_dir: str, rustc: str, *, proxy: bool) -> tuple[str, str | None]:
    """The identity, from the query and the files; and what a record of it is validated
    by, or None when it must not be recorded: a library changed while it was hashed, or
    the loader took or could take the compiler's libraries from anywhere but the
    sysroot the launcher's RUNPATH leads to (loader_env.py), before or after."""
    query = _query(rustc)
    sysroot = _sysroot_of(query)
    # A rustup proxy runs the toolchain's rustc: that is the launcher the loader loads.
    launcher = os.path.join(sysroot, "bin", "rustc") if proxy else rustc
    natural = loader_env.natural_dir(launcher)
    natural_libraries = loader_env.compiler_libraries(natural)
    loaded = loader_env.loaded_libraries(launcher)
    compiler = loader_env.compiler_part(loaded)
    # A distribution's rustc keeps its driver in the system's lib dir, not the sysroot's:
    # then the libraries are those the loader found.
    libraries = _compiler_libraries(sysroot) or sorted(compiler)
    stamps = _library_stamps(libraries)
    # Asked for by name: what the loader looked up (a script's interpreter's, where the
    # launcher is a script), and the compiler's libraries by their file names.
    asked = {**loaded, **{os.path.basename(path): path for path in libraries}}
    plain = loader_env.is_plain(asked, natural)
    recordable = (
        not proxy
        and plain
        and bool(libraries)
        and (not natural_libraries or loader_env.same_files(libraries, natural_libraries))
        # The program cargo gave maps the driver itself (not a script or a dispatcher
        # that picks a toolchain when it runs), found where the libraries are, under
        # their names, and nothing in another dir of LD_LIBRARY_PATH: the stamps the
        # record keeps are of what was loaded.
        and any(os.path.basename(path).startswith(loader_env.DRIVER_PREFIX) for path in compiler)
        and all(_beside(path, libraries) for path in compiler)
        and loader_env.found_only_in(loaded, natural)
    )
    if not recordable and not plain and not compiler:
        raise OSError(f"cannot tell which compiler the loader runs for {launcher}")
    extra = None if recordable else [launcher] * proxy + sorted(loaded.values())
    identity = _identity(cache_dir, rustc, query, libraries, extra)
    if not recordable or _library_stamps(libraries) != stamps:
        return identity, None
    if not loader_env.is_plain(asked, natural):
        return identity, None
    names = "\t".join(f"{name}\0{path}" for name, path in sorted(asked.items()))
    return identity, f"{sysroot}\n{stamps}\n{natural}\n{names}"


def _beside(path: str, libraries: list[str]) -> bool:
    """Whether path is one of libraries, by directory and name."""
    where = (os.path.realpath(os.path.dirname(path)), os.path.basename(path))
    return any(
        (os.path.realpath(os.path.dirname(library)), os.path.basename(library)) == where
        for library in libraries
    )


def _recorded_identity(record: bytes, stamp: str) -> str | None:
    """The identity a record holds, if it is whole and still holds: the binary and the
    compiler's libraries have the stamps they had when it was written, and the loader
    would find every library where it did (loader_env.is_plain)."""
    try:
        text = unseal_text(record.decode("utf-8", "surrogateescape"))
        saved_stamp, sysroot, saved_libraries, natural, names, identity = (text or "").split("\n")
        asked = dict(item.split("\0") for item in names.split("\t")) if names else {}
    except (UnicodeDecodeError, ValueError):
        return None
    if saved_stamp != stamp or len(identity) != 64:
        return None
    paths = [item.partition("\0")[0] for item in saved_libraries.split("\t")]
    if saved_libraries != _library_stamps(paths):
        return None
    return identity if loader_env.is_plain(asked, natural) else None


def _stamp(info: os.stat_result) -> str:
    return f"{info.st_size} {info.st_mtime_ns} {info.st_ctime_ns} {info.st_ino}"


def _sysroot_of(query: str) -> str:
    return query.rpartition("sysroot: ")[2].strip()


def _compiler_libraries(sysroot: str) -> list[str]:
    """The shared libraries the compiler runs: the driver (rustc itself, linked into a
    small launcher) and LLVM. A compiler rebuilt from patched sources keeps its
    version string; these files are what changes."""
    return loader_env.compiler_libraries(os.path.join(sysroot, "lib"))


def _library_stamps(libraries: list[str]) -> str:
    stamps = []
    for path in libraries:
        try:
            stamps.append(f"{path}\0{_stamp(os.stat(path))}")
        except OSError:
            stamps.append(f"{path}\0missing")
    return "\t".join(stamps)


def _identity(
    cache_dir: str, rustc: str, query: str, libraries: list[str], extra: list[str] | None
) -> str:
    """-vV and the sysroot, plus the content of the compiler's binary and libraries
    (each digest remembered by its file's stamp, so a new launcher path costs no
    rehash of the 150 MB driver); where the identity is not remembered, the content
    of every file the loader says it maps too (extra), and a rustup proxy's launcher."""
    parts = [query, "binary", content_digest(cache_dir, os.path.realpath(rustc), shared=True)]
    for path in libraries:
        parts += [os.path.basename(path), content_digest(cache_dir, path, shared=True)]
    if extra is not None:
        parts.append("loaded")
        parts += [x for path in extra for x in (path, content_digest(cache_dir, path, shared=True))]
    return text_digest("rustc", *parts)
