"""Which compiler is this? `rustc -vV` and its sysroot, remembered per binary.

Running `rustc -vV` costs tens of milliseconds, so its answer is cached in
`<cache>/rustc/` keyed by the binary's path and validated by its size, mtime
and inode: a toolchain update replaces the file and so re-runs the query.
A rustup proxy (the `rustc` in ~/.cargo/bin) picks its toolchain from the
environment and the directory, so for it the query runs every time; cargo
itself hands the wrapper the real toolchain binary, so builds don't pay this.
"""

from __future__ import annotations

import os

from buildcache.cache.atomic import atomic_write, makedirs
from buildcache.cache.digests import seal_text, text_digest, unseal_text


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
    info = os.stat(rustc)
    if _is_rustup_proxy(rustc):
        return text_digest("rustc", _query(rustc))
    stamp = f"{os.path.abspath(rustc)}\0{info.st_size}\0{info.st_mtime_ns}\0{info.st_ino}"
    record = os.path.join(cache_dir, "rustc", text_digest(stamp)[:32])
    stamp = stamp.replace("\0", " ")
    try:
        with open(record, encoding="utf-8") as handle:
            text = unseal_text(handle.read())
        saved_stamp, _, identity = (text or "").partition("\n")
        if saved_stamp == stamp and len(identity) == 64:
            return identity
    except (FileNotFoundError, UnicodeDecodeError):
        pass
    identity = text_digest("rustc", _query(rustc))
    makedirs(cache_dir, os.path.dirname(record))
    atomic_write(record, seal_text(f"{stamp}\n{identity}"))
    return identity
