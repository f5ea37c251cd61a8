"""buildcache/cache/file_digests.py: a remembered digest is never one of other bytes."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from buildcache.cache.digests import file_digest
from buildcache.cache.file_digests import content_digest, directory_digest, remember_output


def test_a_file_rewritten_with_its_old_mtime_gets_its_new_digest(tmp_path: Path) -> None:
    cache, lib = tmp_path / "cache", tmp_path / "libfoo.rlib"
    lib.write_bytes(b"one")
    old = os.stat(lib)
    os.utime(lib, ns=(old.st_atime_ns, old.st_mtime_ns - 10**10))  # old enough to remember
    remember_output(str(cache), str(lib), b"one")
    assert content_digest(str(cache), str(lib)) == file_digest(str(lib))
    stamp = os.stat(lib)
    lib.write_bytes(b"two")  # same size, then the mtime put back as `cp -p` would
    os.utime(lib, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
    assert content_digest(str(cache), str(lib)) == file_digest(str(lib))


def test_a_damaged_record_is_not_trusted(tmp_path: Path) -> None:
    cache, lib = tmp_path / "cache", tmp_path / "libfoo.rlib"
    cache.mkdir()  # the wrapper claims (creates) the cache dir before anything is stored
    lib.write_bytes(b"one")
    remember_output(str(cache), str(lib), b"one")
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
