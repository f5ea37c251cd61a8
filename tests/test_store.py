from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from buildcache.cache import compression, store
from buildcache.cache.digests import sha256

# The levels entries are written at: off, and zstd's default.
LEVELS = [0, 3]

# An entry as buildcache wrote it before entries were compressed or timed: the old
# magic and no compile_ms in its header. It must still be a hit.
OLD_FORMAT_ENTRY = bytes.fromhex(
    "4243454e545259315a00000000000000fbda076f7574707574735b020000002903fa0d6c69626f6c642d312e"
    "726c6962e9a4010000e9240000002903fa076f6c642d312e647203000000e912000000da067374646f7574e9"
    "0a000000da06737464657272e90d000000306f6c6420726c6962206f6c6420726c6962206f6c6420726c6962"
    "206f6c6420726c6962206f6c642d313a207372632f6c69622e72730a7b226f7574223a317d0a7761726e696e"
    "673a206f6c640a10b32459707d2e72f67c87ed9b6c51bd39cb773e5cb8f150a2cce28db242149a"
)


def make_entry() -> store.Entry:
    return store.Entry(
        [("libx-1.rlib", 0o644, b"rlib" * 100), ("x-1", 0o755, b"\x7fELF")],
        b"out",
        b"err",
        compile_ms=1234,
    )


def save(cache: Path, key: str, entry: store.Entry, level: int = 3) -> store.Added:
    return store.save_entry(str(cache), key, entry, compression_level=level)


@pytest.mark.parametrize("level", LEVELS)
def test_an_entry_round_trips(tmp_path: Path, level: int) -> None:
    added = save(tmp_path, "ab" + "0" * 62, make_entry(), level)
    assert added.files == 1 and added.bytes > 100
    loaded = store.load_entry(str(tmp_path), "ab" + "0" * 62)
    assert loaded is not None
    assert loaded.outputs == make_entry().outputs
    assert (loaded.stdout, loaded.stderr, loaded.compile_ms) == (b"out", b"err", 1234)


def test_compressed_entries_are_smaller_and_count_what_they_save(tmp_path: Path) -> None:
    plain = save(tmp_path, "ab" + "0" * 62, make_entry(), level=0)
    packed = save(tmp_path, "ab" + "1" * 62, make_entry(), level=3)
    path = Path(store.path_for(str(tmp_path), "ab" + "1" * 62, "entry"))
    assert path.read_bytes().startswith(store.COMPRESSED_ENTRY_MAGIC)
    assert packed.bytes < plain.bytes and plain.compression_saved == 0
    assert packed.compression_saved == plain.bytes - packed.bytes
    assert store.compression_savings(str(path)) == packed.compression_saved


def metadata_entry(rlib_size: int = 3_000_000, rmeta_size: int = 1_500_000) -> store.Entry:
    """Outputs as rustc writes a library: the rlib (listed first, as sorted names are)
    carries a copy of the .rmeta as its first member. Incompressible bytes, so only
    the match between the two copies can save anything."""
    metadata = random.Random(7).randbytes(rmeta_size)
    code = random.Random(8).randbytes(rlib_size - rmeta_size - 4096)
    rlib = b"!<arch>\n" + bytes(4088) + metadata + code
    return store.Entry(
        [("libx-1.rlib", 0o644, rlib), ("libx-1.rmeta", 0o644, metadata)],
        b"",
        b"",
        compile_ms=1,
        digests={"libx-1.rlib": "a" * 64, "libx-1.rmeta": "b" * 64},
    )


def test_the_metadata_an_rlib_carries_is_stored_once(tmp_path: Path) -> None:
    """An rlib holds a copy of the crate's metadata, which the entry also holds as the
    .rmeta: further away than the fast levels' window reaches."""
    entry = metadata_entry()
    added = save(tmp_path, "ab" + "2" * 62, entry, level=1)
    assert added.bytes < 3_000_000 + 100_000  # the rlib's bytes; the .rmeta's come free
    loaded = store.load_entry(str(tmp_path), "ab" + "2" * 62)
    assert loaded is not None
    assert sorted(loaded.outputs) == sorted(entry.outputs)
    assert loaded.digests == entry.digests


def test_the_long_window_covers_the_metadata_not_the_whole_entry(tmp_path: Path) -> None:
    """The window is memory of the compressing process: sized to reach over the .rmeta
    (stored first) into the rlib, not to the entry's size."""
    zstd = compression.zstd()
    assert zstd is not None
    save(tmp_path, "ab" + "3" * 62, metadata_entry(rlib_size=24_000_000), level=1)
    data = Path(store.path_for(str(tmp_path), "ab" + "3" * 62, "entry")).read_bytes()
    frame = data[len(store.COMPRESSED_ENTRY_MAGIC) + 8 : -store.DIGEST_SIZE]
    window = zstd.get_frame_parameters(frame).window_size
    reach = 1_500_000 + store.LONG_WINDOW_SLACK  # over the .rmeta into the rlib
    assert reach <= window <= 2 * reach
    assert len(frame) < 24_000_000 + 100_000


def test_bindings_that_refuse_long_matching_compress_the_plain_way(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A zstd module without the parameters (or refusing them) costs the ratio, never
    the entry."""
    real = compression.zstd()
    assert real is not None

    class Bindings:
        ZstdCompressor = real.ZstdCompressor
        ZstdDecompressor = real.ZstdDecompressor
        ZstdError = real.ZstdError

    monkeypatch.setattr(compression, "zstd", lambda: Bindings)
    entry = store.Entry(
        [("libx-1.rlib", 0o644, b"rlib" * 1000), ("libx-1.rmeta", 0o644, b"meta" * 1000)],
        b"",
        b"",
    )
    added = save(tmp_path, "ab" + "4" * 62, entry, level=1)
    path = Path(store.path_for(str(tmp_path), "ab" + "4" * 62, "entry"))
    assert path.read_bytes().startswith(store.COMPRESSED_ENTRY_MAGIC)
    assert added.compression_saved > 0
    loaded = store.load_entry(str(tmp_path), "ab" + "4" * 62)
    assert loaded is not None and sorted(loaded.outputs) == sorted(entry.outputs)


def test_replacing_a_compressed_entry_counts_only_the_change(tmp_path: Path) -> None:
    key = "ab" + "1" * 62
    first = save(tmp_path, key, make_entry(), level=3)
    again = save(tmp_path, key, make_entry(), level=0)
    # The same content, now stored whole: the bytes compression had saved are back.
    assert (again.files, again.bytes, again.compression_saved) == (
        0,
        first.compression_saved,
        -first.compression_saved,
    )


def test_an_entry_in_the_old_format_still_hits(tmp_path: Path) -> None:
    key = "ab" + "7" * 62
    path = Path(store.path_for(str(tmp_path), key, "entry"))
    path.parent.mkdir(parents=True)
    path.write_bytes(OLD_FORMAT_ENTRY)
    loaded = store.load_entry(str(tmp_path), key)
    assert loaded is not None and loaded.compile_ms == 0
    assert [(name, bytes(data)) for name, _, data in loaded.outputs] == [
        ("libold-1.rlib", b"old rlib " * 4),
        ("old-1.d", b"old-1: src/lib.rs\n"),
    ]
    assert (loaded.stdout, loaded.stderr) == (b'{"out":1}\n', b"warning: old\n")


def test_data_that_does_not_compress_is_stored_uncompressed(tmp_path: Path) -> None:
    entry = store.Entry([("x", 0o644, os.urandom(4096))], b"", b"")
    added = save(tmp_path, "ab" + "8" * 62, entry, level=3)
    path = Path(store.path_for(str(tmp_path), "ab" + "8" * 62, "entry"))
    assert path.read_bytes().startswith(store.ENTRY_MAGIC) and added.compression_saved == 0


def reseal(data: bytes) -> bytes:
    """data with its checksum made right again: damage the checksum cannot see."""
    return data[: -store.DIGEST_SIZE] + sha256(data[: -store.DIGEST_SIZE]).digest()


def test_compressed_garbage_behind_a_good_checksum_is_corrupt(tmp_path: Path) -> None:
    key = "ab" + "9" * 62
    save(tmp_path, key, make_entry())
    path = Path(store.path_for(str(tmp_path), key, "entry"))
    data = path.read_bytes()
    preamble = len(store.COMPRESSED_ENTRY_MAGIC) + 8
    garbage = data[:preamble] + b"\x00" * (len(data) - preamble)
    path.write_bytes(reseal(garbage))
    with pytest.raises(store.CorruptEntry, match="compressed"):
        store.load_entry(str(tmp_path), key)
    assert not path.exists()


def test_a_wrong_uncompressed_size_behind_a_good_checksum_is_corrupt(tmp_path: Path) -> None:
    key = "ab" + "a" * 62
    save(tmp_path, key, make_entry())
    path = Path(store.path_for(str(tmp_path), key, "entry"))
    data = bytearray(path.read_bytes())
    start = len(store.COMPRESSED_ENTRY_MAGIC)
    size = int.from_bytes(data[start : start + 8], "little")
    data[start : start + 8] = (size + 1).to_bytes(8, "little")
    path.write_bytes(reseal(bytes(data)))
    with pytest.raises(store.CorruptEntry):
        store.load_entry(str(tmp_path), key)
    assert not path.exists()


def test_without_zstd_entries_are_stored_plain_and_compressed_ones_left_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    packed_key, plain_key = "ab" + "b" * 62, "ab" + "c" * 62
    save(tmp_path, packed_key, make_entry())
    monkeypatch.setattr(compression, "zstd", lambda: None)
    assert save(tmp_path, plain_key, make_entry()).compression_saved == 0
    assert store.load_entry(str(tmp_path), plain_key) is not None
    assert store.load_entry(str(tmp_path), packed_key) is None  # a miss, not corrupt
    assert os.path.exists(store.path_for(str(tmp_path), packed_key, "entry"))


def test_the_zstd_extension_loads_without_the_package_init() -> None:
    import subprocess
    import sys

    code = (
        "import sys; from buildcache.cache.compression import zstd; z = zstd(); "
        "print(z.__name__, *sorted({'zstandard', 'platform', 'typing', 're'} & set(sys.modules)))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.split() == ["zstandard.backend_c"], result.stderr


def test_entries_are_sharded_by_leading_hex(tmp_path: Path) -> None:
    save(tmp_path, "c3" + "1" * 62, make_entry())
    assert (tmp_path / "c" / "3" / ("c3" + "1" * 62 + ".entry")).is_file()


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("offset", [0, 9, 20, 50, -1, -40])
def test_a_bit_flip_anywhere_is_detected_and_the_file_removed(
    tmp_path: Path, offset: int, level: int
) -> None:
    key = "ab" + "2" * 62
    save(tmp_path, key, make_entry(), level)
    path = store.path_for(str(tmp_path), key, "entry")
    data = bytearray(Path(path).read_bytes())
    data[offset] ^= 0x01
    Path(path).write_bytes(bytes(data))
    with pytest.raises(store.CorruptEntry):
        store.load_entry(str(tmp_path), key)
    assert not os.path.exists(path)


@pytest.mark.parametrize("level", LEVELS)
def test_a_truncated_entry_is_corrupt(tmp_path: Path, level: int) -> None:
    key = "ab" + "3" * 62
    save(tmp_path, key, make_entry(), level)
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
        def encode(self, *, compression_level: int = 0) -> list[bytes]:
            raise Boom

    with pytest.raises(Boom):
        save(tmp_path, "ab" + "6" * 62, ExplodingEntry([], b"", b""))
    assert not list(tmp_path.rglob("*.entry"))


@pytest.mark.parametrize("level", LEVELS)
def test_an_entry_keeps_the_digests_of_its_outputs(tmp_path: Path, level: int) -> None:
    entry = make_entry()
    entry.digests = {"libx-1.rlib": sha256(b"rlib" * 100).hexdigest()}  # none for x-1
    save(tmp_path, "ab" + "2" * 62, entry, level)
    loaded = store.load_entry(str(tmp_path), "ab" + "2" * 62)
    assert loaded is not None
    assert loaded.digests == entry.digests
    # Entries stored before digests were kept have none: a hit hashes what it writes.
    save(tmp_path, "ab" + "3" * 62, make_entry(), level)
    older = store.load_entry(str(tmp_path), "ab" + "3" * 62)
    assert older is not None and older.digests == {}


@pytest.mark.parametrize(
    "digests",
    [
        ["f" * 64],  # one digest for two outputs
        ["F" * 64, ""],  # not lowercase hex
        ["f" * 63, ""],  # too short
        [None, ""],
        "f" * 64,
    ],
)
def test_a_malformed_digest_list_is_a_corrupt_entry(tmp_path: Path, digests: object) -> None:
    """A digest a hit records is trusted by every dependent keyed by it: one that is not
    a well-formed digest of each output makes the entry corrupt (a miss), never a record."""
    entry = make_entry()
    header = {
        "outputs": [(name, mode, len(data)) for name, mode, data in entry.outputs],
        "stdout": 3,
        "stderr": 3,
        "digests": digests,
    }
    blobs = [bytes(data) for _, _, data in entry.outputs] + [b"out", b"err"]
    data = b"".join(store._seal(store.ENTRY_MAGIC, header, blobs))
    with pytest.raises(store.CorruptEntry):
        store.Entry.decode(data)
