"""buildcache/cache/file_digests.py: a remembered digest is never one of other bytes."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from buildcache.cache.digests import file_digest
from buildcache.cache.file_digests import content_digest, directory_digest, remember_output


def test_a_file_rewritten_with_its_old_mtime_gets_its_new_digest(tmp_path: Path) -> None:
    cache, lib = tmp_path / "cache", tmp_path / "libfoo.rlib"
    lib.write_bytes(b"one")
    old = os.stat(lib)
    os.utime(lib, ns=(old.st_atime_ns, old.st_mtime_ns - 10**10))  # old enough to remember
    remember_output(str(cache), str(lib), b"one", os.stat(lib))
    assert content_digest(str(cache), str(lib)) == file_digest(str(lib))
    stamp = os.stat(lib)
    lib.write_bytes(b"two")  # same size, then the mtime put back as `cp -p` would
    os.utime(lib, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
    assert content_digest(str(cache), str(lib)) == file_digest(str(lib))


def test_a_damaged_record_is_not_trusted(tmp_path: Path) -> None:
    cache, lib = tmp_path / "cache", tmp_path / "libfoo.rlib"
    cache.mkdir()  # the wrapper claims (creates) the cache dir before anything is stored
    lib.write_bytes(b"one")
    remember_output(str(cache), str(lib), b"one", os.stat(lib))
    (record,) = cache.rglob("*.digest")
    data = bytearray(record.read_bytes())
    data[5] ^= 0x40  # the flip tests/test_wrapper_cargo.py applies to every cache file
    record.write_bytes(bytes(data))
    assert content_digest(str(cache), str(lib)) == file_digest(str(lib))


def test_a_directory_digest_follows_every_file_in_it(tmp_path: Path) -> None:
    cache, native = tmp_path / "cache", tmp_path / "out"
    native.mkdir()
    (native / "libfoo.a").write_bytes(b"archive 1")
    (native / "foo.o").write_bytes(b"object 1")
    first = directory_digest(str(cache), str(native))
    assert directory_digest(str(cache), str(native)) == first
    (native / "foo.o").write_bytes(b"object 2")
    second = directory_digest(str(cache), str(native))
    assert second != first
    (native / "extra.ld").write_text("SECTIONS {}")
    assert directory_digest(str(cache), str(native)) not in (first, second)
    shutil.rmtree(native)
    assert directory_digest(str(cache), str(native)) == "absent"


def test_a_file_that_moves_under_the_first_read_is_read_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pipelined dependent hashes its extern's .rmeta while the extern's compile is
    still finishing: the stamp can move under the first read. That was an error (rustc
    ran uncached); the digest of the file once it holds still is what it wants."""
    from buildcache.cache import file_digests

    rmeta = tmp_path / "liba.rmeta"
    rmeta.write_bytes(b"first")
    reads = []

    def read_while_written(path: str) -> str:
        reads.append(path)
        digest = file_digest(path)
        if len(reads) == 1:
            rmeta.write_bytes(b"final, longer")  # the writer finishes during the first read
        return digest

    monkeypatch.setattr(file_digests, "file_digest", read_while_written)
    assert content_digest(str(tmp_path / "cache"), str(rmeta)) == file_digest(str(rmeta))
    assert len(reads) == 2


def test_a_file_that_never_holds_still_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from buildcache.cache import file_digests

    rmeta = tmp_path / "liba.rmeta"
    rmeta.write_bytes(b"0")

    def read_while_written(path: str) -> str:
        digest = file_digest(path)
        rmeta.write_bytes(rmeta.read_bytes() + b"0")
        return digest

    monkeypatch.setattr(file_digests, "file_digest", read_while_written)
    with pytest.raises(OSError, match="changed while it was read"):
        content_digest(str(tmp_path / "cache"), str(rmeta))


def test_a_restore_records_its_digest_for_its_own_file_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file put in place by another writer between the restore's rename and the stat
    of the path must not get the entry's digest: the record is made from the stat of
    the restored file's own descriptor."""
    from buildcache.cache import atomic
    from buildcache.cache.digests import sha256
    from buildcache.cache.file_digests import remember_written

    out = tmp_path / "out"
    out.mkdir()
    lib = out / "libx.rlib"
    real_replace = os.replace

    def replace_then_overwritten(source: str, destination: str) -> None:
        real_replace(source, destination)
        other = out / "other"
        other.write_bytes(b"another writer's content")
        real_replace(other, destination)  # lands right after ours

    monkeypatch.setattr(atomic.os, "replace", replace_then_overwritten)
    written = atomic.atomic_write(str(lib), b"restored content")
    monkeypatch.undo()
    remember_written(
        str(tmp_path / "cache"), str(lib), sha256(b"restored content").hexdigest(), written
    )
    assert content_digest(str(tmp_path / "cache"), str(lib)) == file_digest(str(lib))


def test_a_list_of_names_is_recalled_whole_or_not_at_all(tmp_path: Path) -> None:
    from buildcache.cache.file_digests import recall_names, remember_names

    cache = tmp_path / "cache"
    cache.mkdir()
    name = "ab" * 32
    assert recall_names(str(cache), name) is None
    names = ["libm.a", "libc_nonshared.a", "libé.a", os.fsdecode(b"lib\xff.a"), "lib\r\n.a"]
    remember_names(str(cache), name, names)
    assert recall_names(str(cache), name) == names
    remember_names(str(cache), "cd" * 32, [])
    assert recall_names(str(cache), "cd" * 32) == []
    (record,) = [path for path in cache.rglob("*.digest") if path.name.startswith("ab")]
    record.write_bytes(record.read_bytes().replace(b"libm.a\0", b""))  # a name lost
    assert recall_names(str(cache), name) is None
