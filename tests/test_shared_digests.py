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
from tests.test_rustc_identity import build_driver, fake_toolchain


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
    """The system's archives: the shared records are enough. A new cache's first link
    would otherwise begin by writing a hundred files."""
    system = tmp_path / "usr-lib"
    system.mkdir()
    for name in ("libc.a", "libm.a", "libz.a"):
        old_file(system / name, name.encode() * 100)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    digest = file_digests.directory_digest
    first = digest(str(tmp_path / "a"), str(system), suffix=".a", shared=True)
    assert [p for p in (tmp_path / "a").rglob("*") if p.is_file()] == []
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


def test_a_second_cache_dir_takes_a_shared_dirs_digest_whole(
    tmp_path: Path, private_runtime: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A new cache's first links would otherwise look up each of a hundred archives."""
    system = tmp_path / "usr-lib"
    system.mkdir()
    for name in ("libc.a", "libm.a"):
        old_file(system / name, name.encode() * 100)
    for cache in "abc":
        (tmp_path / cache).mkdir()
    digest = file_digests.directory_digest
    first = digest(str(tmp_path / "a"), str(system), suffix=".a", shared=True)
    looked_up: list[str] = []
    real = file_digests.content_digest
    monkeypatch.setattr(
        file_digests, "content_digest", lambda *a, **k: looked_up.append(a[1]) or real(*a, **k)
    )
    assert digest(str(tmp_path / "b"), str(system), suffix=".a", shared=True) == first
    assert looked_up == []
    # A changed archive is a new listing of stamps: no record of it anywhere yet.
    old_file(system / "libm.a", b"other" * 100)
    changed = digest(str(tmp_path / "c"), str(system), suffix=".a", shared=True)
    assert changed != first and sorted(looked_up) == [
        str(system / "libc.a"),
        str(system / "libm.a"),
    ]


def test_names_recorded_for_every_cache_dir_are_found_by_a_new_one(
    tmp_path: Path, private_runtime: Path
) -> None:
    name, names = "ab" * 32, ["libm.a", "libpthread.a"]
    for cache in "abc":
        (tmp_path / cache).mkdir()
    file_digests.remember_names(str(tmp_path / "a"), name, names, shared=True)
    assert file_digests.recall_names(str(tmp_path / "b"), name) is None  # not asked to share
    assert file_digests.recall_names(str(tmp_path / "b"), name, shared=True) == names
    # A damaged shared record is not trusted.
    shared = Path(runtime_dir()) / shared_digests.DIGESTS_DIR / name
    shared.write_bytes(shared.read_bytes().replace(b"libm", b"libX"))
    assert file_digests.recall_names(str(tmp_path / "c"), name, shared=True) is None


def test_a_new_cache_dir_does_not_query_the_compiler_again(
    tmp_path: Path, private_runtime: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from buildcache.wrapper import rustc_identity as identity_module

    rustc, library = fake_toolchain(tmp_path / "toolchain")
    queries: list[str] = []
    real_query = identity_module._query
    monkeypatch.setattr(identity_module, "_query", lambda r: queries.append(r) or real_query(r))
    for cache in "abcd":
        (tmp_path / cache).mkdir()
    first = rustc_identity(str(tmp_path / "a"), rustc)
    assert rustc_identity(str(tmp_path / "b"), rustc) == first
    assert queries == [rustc]
    # The compiler's library rebuilt in place: the shared record no longer holds.
    build_driver(library.parent, "two")
    assert rustc_identity(str(tmp_path / "c"), rustc) != first
    assert len(queries) == 2
    # A damaged shared record is not trusted either.
    (record,) = (Path(runtime_dir()) / shared_digests.DIGESTS_DIR).glob("rustc-identity-*")
    record.write_bytes(record.read_bytes().replace(b"toolchain", b"toolchaim"))
    assert rustc_identity(str(tmp_path / "d"), rustc) == rustc_identity(str(tmp_path / "c"), rustc)
    assert len(queries) == 3


def test_a_record_planted_in_one_cache_dir_reaches_no_other(
    tmp_path: Path, private_runtime: Path
) -> None:
    """A cache dir may be writable by others than this user (a group's shared cache);
    the shared records must come from reading the files themselves, or a false digest
    planted in one cache dir would be served to every cache dir of the user."""
    system = tmp_path / "usr-lib"
    system.mkdir()
    archive = old_file(system / "libz.a", b"the real archive" * 100)
    planted = tmp_path / "planted"
    for cache in ("planted", "other"):
        (tmp_path / cache).mkdir()
    false = "0" * 64
    file_name = file_digests.text_digest("file", str(archive), file_digests.stamp(archive.stat()))
    file_digests._remember(str(planted), file_name, false, None)
    assert file_digests._recall(str(planted), file_name) == false
    true = hashlib.sha256(archive.read_bytes()).hexdigest()
    assert file_digests.content_digest(str(planted), str(archive), shared=True) == true
    assert file_digests.content_digest(str(tmp_path / "other"), str(archive), shared=True) == true
    # The same for the digest of the whole dir.
    stamps = f"libz.a {file_digests.stamp(archive.stat())}"
    dir_name = file_digests.text_digest("dir", str(system), ".a", stamps)
    file_digests._remember(str(planted), dir_name, false, None)
    first = file_digests.directory_digest(str(planted), str(system), suffix=".a", shared=True)
    other = file_digests.directory_digest(
        str(tmp_path / "other"), str(system), suffix=".a", shared=True
    )
    assert first == other != false


def test_a_file_changed_just_before_its_long_read_gets_no_shared_record(
    tmp_path: Path, private_runtime: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Too new is judged when the read begins: a file changed in the tick before could
    change again without its stamp moving, however long the read of 150 MB takes."""
    tool = tmp_path / "libLLVM.so"
    tool.write_bytes(b"fresh" * 1000)
    real = file_digests.file_digest

    def slow(path: str) -> str:
        time.sleep(file_digests.RECENT_SECONDS * 2)
        return real(path)

    monkeypatch.setattr(file_digests, "file_digest", slow)
    (tmp_path / "a").mkdir()
    file_digests.content_digest(str(tmp_path / "a"), str(tool), shared=True)
    shared = Path(runtime_dir()) / shared_digests.DIGESTS_DIR
    assert [p for p in shared.iterdir() if not p.name.endswith(".lock")] == []
