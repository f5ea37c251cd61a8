"""Toolchain digests shared by every cache dir of a user (buildcache/cache/shared_digests.py):
a new cache dir does not read the compiler's 350 MB again, and a changed file is
never served an old digest."""

from __future__ import annotations

import hashlib
import subprocess
import time
from pathlib import Path

import pytest

from buildcache.cache import file_digests, shared_digests
from buildcache.cache.runtime_dir import runtime_dir
from buildcache.wrapper.rustc_identity import _compiler_libraries, _sysroot_of, rustc_identity


@pytest.fixture
def private_runtime(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    base = tmp_path / "run"
    base.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(base))
    return base


@pytest.fixture
def hashed(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The files content_digest reads, in order."""
    calls: list[str] = []
    real = file_digests.file_digest

    def counting(path: str) -> str:
        calls.append(path)
        return real(path)

    monkeypatch.setattr(file_digests, "file_digest", counting)
    return calls


def old_file(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    time.sleep(file_digests.RECENT_SECONDS + 0.05)  # a record needs a settled ctime
    return path


def test_a_second_cache_dir_reuses_the_digest(
    tmp_path: Path, private_runtime: Path, hashed: list[str]
) -> None:
    tool = old_file(tmp_path / "libLLVM.so", b"compiler" * 1000)
    first = file_digests.content_digest(str(tmp_path / "a"), str(tool), shared=True)
    second = file_digests.content_digest(str(tmp_path / "b"), str(tool), shared=True)
    assert first == second == hashlib.sha256(tool.read_bytes()).hexdigest()
    assert hashed == [str(tool)]
    assert (Path(runtime_dir()) / shared_digests.DIGESTS_DIR).stat().st_mode & 0o777 == 0o700


def test_a_changed_file_is_hashed_again(
    tmp_path: Path, private_runtime: Path, hashed: list[str]
) -> None:
    tool = old_file(tmp_path / "librustc_driver.so", b"one" * 1000)
    file_digests.content_digest(str(tmp_path / "a"), str(tool), shared=True)
    old_file(tool, b"two" * 1000)  # same path and size, new content (and ctime)
    digest = file_digests.content_digest(str(tmp_path / "b"), str(tool), shared=True)
    assert digest == hashlib.sha256(b"two" * 1000).hexdigest()
    assert len(hashed) == 2


def test_files_not_marked_shared_stay_in_their_cache_dir(
    tmp_path: Path, private_runtime: Path, hashed: list[str]
) -> None:
    rlib = old_file(tmp_path / "libdep.rlib", b"crate" * 1000)
    file_digests.content_digest(str(tmp_path / "a"), str(rlib))
    file_digests.content_digest(str(tmp_path / "b"), str(rlib))
    assert len(hashed) == 2


def test_a_shared_dirs_files_get_no_record_in_each_cache_dir(
    tmp_path: Path, private_runtime: Path, hashed: list[str]
) -> None:
    """The system's archives: the dir's own record and the shared ones are enough. A
    new cache's first link would otherwise begin by writing a hundred files."""
    system = tmp_path / "usr-lib"
    system.mkdir()
    for name in ("libc.a", "libm.a", "libz.a"):
        old_file(system / name, name.encode() * 100)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    digest = file_digests.directory_digest
    first = digest(str(tmp_path / "a"), str(system), suffix=".a", shared=True)
    records = sorted(p.name for p in (tmp_path / "a").rglob("*") if p.is_file())
    assert len(records) == 1  # the dir's record
    second = digest(str(tmp_path / "b"), str(system), suffix=".a", shared=True)
    assert first == second and len(hashed) == 3  # each archive hashed once, for both


def test_a_runtime_dir_others_can_open_is_not_used(
    tmp_path: Path, private_runtime: Path, hashed: list[str]
) -> None:
    """Somebody else could plant a record there: no sharing, and still the right digest."""
    shared = Path(runtime_dir())
    shared.mkdir(mode=0o700)
    shared.chmod(0o777)
    tool = old_file(tmp_path / "cc1", b"gcc" * 1000)
    for cache in ("a", "b"):
        digest = file_digests.content_digest(str(tmp_path / cache), str(tool), shared=True)
        assert digest == hashlib.sha256(tool.read_bytes()).hexdigest()
    assert len(hashed) == 2
    assert not (shared / shared_digests.DIGESTS_DIR).exists()


def test_a_damaged_record_is_hashed_again(
    tmp_path: Path, private_runtime: Path, hashed: list[str]
) -> None:
    tool = old_file(tmp_path / "libLLVM.so", b"compiler" * 1000)
    file_digests.content_digest(str(tmp_path / "a"), str(tool), shared=True)
    records = [
        path
        for path in (Path(runtime_dir()) / shared_digests.DIGESTS_DIR).iterdir()
        if not path.name.endswith(".lock")
    ]
    assert len(records) == 1
    records[0].write_text("0" * 63 + "X")
    digest = file_digests.content_digest(str(tmp_path / "b"), str(tool), shared=True)
    assert digest == hashlib.sha256(tool.read_bytes()).hexdigest()
    assert len(hashed) == 2


@pytest.mark.cargo
def test_a_new_cache_dir_does_not_rehash_the_compiler(
    tmp_path: Path, private_runtime: Path, hashed: list[str]
) -> None:
    from tests.test_hot_path_imports import real_rustc

    rustc = real_rustc()
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = rustc_identity(str(tmp_path / "a"), rustc)
    # The first cache dir hashed the driver and LLVM, 350 MB; the second nothing.
    sysroot = subprocess.run([rustc, "--print", "sysroot"], capture_output=True, text=True)
    libraries = _compiler_libraries(_sysroot_of("sysroot: " + sysroot.stdout))
    assert libraries and set(libraries) <= set(hashed)
    hashed.clear()
    assert rustc_identity(str(tmp_path / "b"), rustc) == first
    assert hashed == []
