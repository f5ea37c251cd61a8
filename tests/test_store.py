from __future__ import annotations

import os
from pathlib import Path

import pytest

from buildcache.cache import store


def make_entry() -> store.Entry:
    return store.Entry(
        [("libx-1.rlib", 0o644, b"rlib" * 100), ("x-1", 0o755, b"\x7fELF")], b"out", b"err"
    )


def test_an_entry_round_trips(tmp_path: Path) -> None:
    added = store.save_entry(str(tmp_path), "ab" + "0" * 62, make_entry())
    assert added[1] == 1 and added[0] > 400
    loaded = store.load_entry(str(tmp_path), "ab" + "0" * 62)
    assert loaded is not None
    assert loaded.outputs == make_entry().outputs
    assert (loaded.stdout, loaded.stderr) == (b"out", b"err")


def test_entries_are_sharded_by_leading_hex(tmp_path: Path) -> None:
    store.save_entry(str(tmp_path), "c3" + "1" * 62, make_entry())
    assert (tmp_path / "c" / "3" / ("c3" + "1" * 62 + ".entry")).is_file()


@pytest.mark.parametrize("offset", [0, 9, 20, 200, -1, -40])
def test_a_bit_flip_anywhere_is_detected_and_the_file_removed(tmp_path: Path, offset: int) -> None:
    key = "ab" + "2" * 62
    store.save_entry(str(tmp_path), key, make_entry())
    path = store.path_for(str(tmp_path), key, "entry")
    data = bytearray(Path(path).read_bytes())
    data[offset] ^= 0x01
    Path(path).write_bytes(bytes(data))
    with pytest.raises(store.CorruptEntry):
        store.load_entry(str(tmp_path), key)
    assert not os.path.exists(path)


def test_a_truncated_entry_is_corrupt(tmp_path: Path) -> None:
    key = "ab" + "3" * 62
    store.save_entry(str(tmp_path), key, make_entry())
    path = Path(store.path_for(str(tmp_path), key, "entry"))
    path.write_bytes(path.read_bytes()[:50])
    with pytest.raises(store.CorruptEntry):
        store.load_entry(str(tmp_path), key)


def test_manifest_keeps_the_newest_candidate_first_without_duplicates(tmp_path: Path) -> None:
    key = "de" + "4" * 62
    first = ([("src/lib.rs", "d1")], [("FOO", "1")], "r1")
    second = ([("src/lib.rs", "d2")], [("FOO", None)], "r2")
    store.add_to_manifest(str(tmp_path), key, first)
    store.add_to_manifest(str(tmp_path), key, second)
    store.add_to_manifest(str(tmp_path), key, first)
    assert store.load_manifest(str(tmp_path), key) == [first, second]


def test_a_corrupt_manifest_is_removed(tmp_path: Path) -> None:
    key = "de" + "5" * 62
    store.add_to_manifest(str(tmp_path), key, ([], [], "r"))
    path = Path(store.path_for(str(tmp_path), key, "manifest"))
    path.write_bytes(b"garbage")
    with pytest.raises(store.CorruptEntry):
        store.load_manifest(str(tmp_path), key)
    assert not path.exists()


def test_a_failed_write_leaves_no_file_behind(tmp_path: Path) -> None:
    class Boom(Exception):
        pass

    class ExplodingEntry(store.Entry):
        def encode(self) -> bytes:
            raise Boom

    with pytest.raises(Boom):
        store.save_entry(str(tmp_path), "ab" + "6" * 62, ExplodingEntry([], b"", b""))
    assert not list(tmp_path.rglob("*.entry"))
