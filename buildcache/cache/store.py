"""The on-disk cache: entries and manifests, sharded by the leading hex of their key.

Layout (like ccache's): `<cache>/<k0>/<k1>/<key>.entry` and `.manifest`, where
k0 and k1 are the first two hex digits. The first digit is also the stats and
cleanup shard (see stats.py, eviction.py).

An entry file is: MAGIC, an 8-byte header length, a marshal'd header, the
blobs the header describes, and a trailing SHA-256 of everything before it.
marshal (format 4, readable by every Python 3.4+) costs nothing to import,
unlike json. A file that fails any check is a miss: it is removed and
counted as corrupt by the caller.

A compressed entry (BUILDCACHE_COMPRESSION_LEVEL > 0, the default) is: its own
magic, the 8-byte size of the body it holds, that body (everything an
uncompressed entry has between its magic and its checksum) as one zstd frame,
and a SHA-256 of everything before it: the checksum covers what is stored, so a
damaged file is caught before anything is decompressed. Uncompressed entries,
which older versions wrote, are still read.

An entry that holds an .rmeta and an rlib is compressed with zstd's long-distance
matching, the .rmeta stored first and the rlib next: the rlib carries a copy of the
metadata as its first member (`lib.rmeta`, after the symbol table), out of reach of
the fast levels' window (512 KiB at level 1). The window is sized to reach over the
.rmeta to that copy, at most 128 MiB (zstd --long's); it is memory of the process
that compresses, so not sized to the whole entry. Measured on the bench workspace's
debug outputs at level 1 (with a 128 MiB window): the rlib and rmeta pairs take
0.182 of their raw size instead of 0.278, in 8% less CPU (the long matches are found
by hash and skipped over). Any zstd decoder with its default limit (a 2**27 window)
reads such a frame. Should zstd refuse the parameters (an old or odd build of the
bindings, too little memory for the window), the entry is compressed the plain way.
"""

from __future__ import annotations

import fcntl
import marshal
import os

from buildcache.cache import compression
from buildcache.cache.atomic import atomic_write, makedirs
from buildcache.cache.digests import is_hex_digest, sha256

TYPE_CHECKING = False  # typing costs ~10 ms to import on the hot path
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

ENTRY_MAGIC = b"BCENTRY1"
COMPRESSED_ENTRY_MAGIC = b"BCENTRZ1"  # the body is one zstd frame
MANIFEST_MAGIC = b"BCMANIF1"
MARSHAL_VERSION = 4
DIGEST_SIZE = 32
# zstd's --long: a 2**27-byte window, the largest every decoder accepts by default.
MAX_LONG_WINDOW_LOG = 27
# What the window covers beyond the .rmeta: the rlib's archive header and symbol table,
# which come before its copy of the metadata (553 KB in tokio's 24 MB rlib).
LONG_WINDOW_SLACK = 2 << 20
# Candidates kept per manifest: one per distinct set of source contents seen for the
# same arguments. Old ones rarely match again; a handful covers switching branches.
MAX_MANIFEST_CANDIDATES = 12


class CorruptEntry(Exception):
    """A cache file failed its checks (truncated, bit-flipped, wrong format)."""


def shard_of(key: str) -> str:
    return key[0]


def path_for(cache_dir: str, key: str, suffix: str) -> str:
    return os.path.join(cache_dir, key[0], key[1], f"{key}.{suffix}")


def _seal(
    magic: bytes, header: object, blobs: list[bytes | memoryview]
) -> list[bytes | memoryview]:
    """The file's chunks, checksum last. Kept as chunks, not joined: an entry can hold
    hundreds of MB of outputs, and every extra copy shows in cold build times."""
    head = marshal.dumps(header, MARSHAL_VERSION)  # type: ignore[arg-type]
    chunks = [magic, len(head).to_bytes(8, "little"), head, *blobs]
    hasher = sha256()
    for chunk in chunks:
        hasher.update(chunk)
    chunks.append(hasher.digest())
    return chunks


def _seal_compressed(
    header: object, blobs: list[bytes | memoryview], level: int, long_window: int = 0
) -> list[bytes | memoryview] | None:
    """The compressed file's chunks, or None when zstd is unavailable or gains nothing
    (then the entry is stored uncompressed). Streamed chunk by chunk: no joined copy.
    long_window: the distance (bytes) long-distance matching must reach; 0: none."""
    zstd = compression.zstd()
    if zstd is None:
        return None
    head = marshal.dumps(header, MARSHAL_VERSION)  # type: ignore[arg-type]
    body = [len(head).to_bytes(8, "little"), head, *blobs]
    body_size = sum(len(chunk) for chunk in body)
    frame = None
    if long_window:
        try:
            # 10: zstd's smallest window log.
            window_log = min(MAX_LONG_WINDOW_LOG, max(10, (long_window - 1).bit_length()))
            params = zstd.ZstdCompressionParameters.from_level(
                level, source_size=body_size, enable_ldm=True, window_log=window_log
            )
            frame = _compress(zstd.ZstdCompressor(compression_params=params), body, body_size)
        except Exception:  # noqa: BLE001 - refused parameters, no memory: the plain way below
            pass
    if frame is None:
        try:
            frame = _compress(zstd.ZstdCompressor(level=level), body, body_size)
        except (MemoryError, zstd.ZstdError):
            return None
    if 8 + sum(len(chunk) for chunk in frame) >= body_size:  # the size field costs 8
        return None
    chunks: list[bytes | memoryview] = [COMPRESSED_ENTRY_MAGIC, body_size.to_bytes(8, "little")]
    chunks += frame
    hasher = sha256()
    for chunk in chunks:
        hasher.update(chunk)
    chunks.append(hasher.digest())
    return chunks


def _compress(compressor: Any, body: list[bytes | memoryview], body_size: int) -> list[bytes]:
    stream = compressor.compressobj(size=body_size)
    frame: list[bytes] = [stream.compress(chunk) for chunk in body]
    frame.append(stream.flush())
    return frame


def _stored_order(output: tuple[str, int, bytes | memoryview]) -> int:
    name = output[0]
    return 0 if name.endswith(".rmeta") else 1 if name.endswith(".rlib") else 2


def _long_window(outputs: Sequence[tuple[str, int, bytes | memoryview]]) -> int:
    """How far back long-distance matching must reach in an entry whose outputs are in
    stored order: over the .rmeta to the rlib's copy of it. 0 when the entry is not an
    .rmeta followed by an rlib (a binary, a proc-macro, `cargo check`'s metadata)."""
    if [_stored_order(output) for output in outputs[:2]] != [0, 1]:
        return 0
    return len(outputs[0][2]) + LONG_WINDOW_SLACK


def _verified(magic: bytes, data: bytes) -> memoryview:
    """The file without its magic and checksum, once the checksum matches."""
    if len(data) < len(magic) + 8 + DIGEST_SIZE or not data.startswith(magic):
        raise CorruptEntry("bad magic or truncated")
    view = memoryview(data)
    if sha256(view[:-DIGEST_SIZE]).digest() != data[-DIGEST_SIZE:]:
        raise CorruptEntry("checksum mismatch")
    return view[len(magic) : -DIGEST_SIZE]


def _split_body(body: memoryview) -> tuple[object, memoryview]:
    """(header, the blob area) of a body: 8-byte header length, header, blobs."""
    head_size = int.from_bytes(body[:8], "little")
    try:
        header = marshal.loads(body[8 : 8 + head_size])
    except (EOFError, ValueError, TypeError) as error:
        raise CorruptEntry(f"bad header: {error}") from None
    return header, body[8 + head_size :]


def _unseal(magic: bytes, data: bytes) -> tuple[object, memoryview]:
    """Verify the checksum and return (header, the blob area)."""
    return _split_body(_verified(magic, data))


class CodecMissing(Exception):
    """A compressed entry, and no zstd to read it with: a miss, the file left alone."""


def _unseal_compressed(data: bytes) -> tuple[object, memoryview]:
    stored = _verified(COMPRESSED_ENTRY_MAGIC, data)
    body_size = int.from_bytes(stored[:8], "little")
    zstd = compression.zstd()
    if zstd is None:
        raise CodecMissing("zstandard cannot be imported")
    try:
        body: bytes = zstd.ZstdDecompressor().decompress(stored[8:], max_output_size=body_size)
    except zstd.ZstdError as error:
        raise CorruptEntry(f"bad compressed data: {error}") from None
    if len(body) != body_size:
        raise CorruptEntry("decompressed size mismatch")
    return _split_body(memoryview(body))


def compression_savings(path: str) -> int:
    """How many bytes compression saves this cache file (0 for an uncompressed one, or
    none at all): its size uncompressed, from the preamble, less its size on disk."""
    preamble_size = len(COMPRESSED_ENTRY_MAGIC) + 8
    try:
        # Neither a FIFO planted in the cache nor a symlink may hold us up or mislead us.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW)
    except OSError:
        return 0
    try:
        preamble = os.read(fd, preamble_size)
        stored_size = os.fstat(fd).st_size
    except OSError:
        return 0
    finally:
        os.close(fd)
    if len(preamble) < preamble_size or not preamble.startswith(COMPRESSED_ENTRY_MAGIC):
        return 0
    body_size = int.from_bytes(preamble[len(COMPRESSED_ENTRY_MAGIC) :], "little")
    return max(0, len(ENTRY_MAGIC) + body_size + DIGEST_SIZE - stored_size)


class Entry:
    """What a compile produced: its output files, dep-info and console output, how
    long the compiler took (what a hit saves; 0 for entries stored before it was kept),
    and the SHA-256 of each output as it is restored, where known: a hit records those
    for the dependents (file_digests.py) instead of hashing what it wrote, which on a
    small crate's hit was the one thing that loaded OpenSSL (~2 ms). Entries stored
    before the digests were kept have none, and a hit hashes as it always did."""

    __slots__ = ("outputs", "stdout", "stderr", "compile_ms", "digests")

    def __init__(
        self,
        outputs: Sequence[tuple[str, int, bytes | memoryview]],
        stdout: bytes,
        stderr: bytes,
        compile_ms: int = 0,
        digests: dict[str, str] | None = None,
    ) -> None:
        self.outputs = outputs  # (file name relative to --out-dir, mode, content)
        self.stdout = stdout
        self.stderr = stderr
        self.compile_ms = compile_ms
        self.digests = digests or {}  # output name -> hex SHA-256 of its content

    def encode(self, *, compression_level: int = 0) -> list[bytes | memoryview]:
        """The file's chunks; compressed at that zstd level unless it is 0 (or zstd
        cannot be imported, or gains nothing)."""
        # The .rmeta, then the rlib, whose copy of it is then within reach (_long_window).
        # Stable: the others keep their order, after them.
        outputs = sorted(self.outputs, key=_stored_order)
        header = {
            "outputs": [(name, mode, len(data)) for name, mode, data in outputs],
            "stdout": len(self.stdout),
            "stderr": len(self.stderr),
            "compile_ms": self.compile_ms,  # older readers ignore keys they do not know
        }
        if self.digests:
            header["digests"] = [self.digests.get(name, "") for name, _, _ in outputs]
        # As they are: a view into a mapped snapshot or a decoded entry is written and
        # hashed without a copy.
        blobs = [data for _, _, data in outputs] + [self.stdout, self.stderr]
        if compression_level > 0:
            chunks = _seal_compressed(header, blobs, compression_level, _long_window(outputs))
            if chunks is not None:
                return chunks
        return _seal(ENTRY_MAGIC, header, blobs)

    @classmethod
    def decode(cls, data: bytes) -> Entry:
        """Raises CorruptEntry for a damaged file, CodecMissing for a compressed one
        that cannot be read here."""
        if data.startswith(COMPRESSED_ENTRY_MAGIC):
            header, blobs = _unseal_compressed(data)
        else:
            header, blobs = _unseal(ENTRY_MAGIC, data)
        try:
            assert isinstance(header, dict)
            offset = 0
            outputs = []
            for name, mode, size in header["outputs"]:
                if "/" in name or name in ("", ".", ".."):
                    raise CorruptEntry(f"bad output name {name!r}")
                # A view into the file's buffer, not a copy: outputs can be large.
                outputs.append((name, mode, blobs[offset : offset + size]))
                offset += size
            stdout = bytes(blobs[offset : offset + header["stdout"]])
            offset += header["stdout"]
            stderr = bytes(blobs[offset : offset + header["stderr"]])
            offset += header["stderr"]
            compile_ms = header.get("compile_ms", 0)
            if not isinstance(compile_ms, int) or compile_ms < 0:
                raise CorruptEntry(f"bad compile time {compile_ms!r}")
            digests = _output_digests(header.get("digests"), outputs)
        except (KeyError, TypeError, ValueError, AssertionError) as error:
            raise CorruptEntry(f"bad header: {error!r}") from None
        if offset != len(blobs):
            raise CorruptEntry("size mismatch")
        return cls(outputs, stdout, stderr, compile_ms, digests)


def _output_digests(listed: object, outputs: list[tuple[str, int, memoryview]]) -> dict[str, str]:
    """The header's digest of each output ("" where none was kept), checked for shape:
    a digest a hit records is trusted by every dependent keyed by it."""
    if listed is None:
        return {}
    if not isinstance(listed, list) or len(listed) != len(outputs):
        raise CorruptEntry("bad output digests")
    digests = {}
    for (name, _, _), digest in zip(outputs, listed):
        if not isinstance(digest, str) or (digest and not is_hex_digest(digest)):
            raise CorruptEntry(f"bad digest of {name!r}")
        if digest:
            digests[name] = digest
    return digests


def read_file(path: str) -> bytes | None:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except FileNotFoundError:
        return None


def remove_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def load_entry(cache_dir: str, key: str) -> Entry | None:
    """The entry for key, or None. Raises CorruptEntry after removing a bad file."""
    path = path_for(cache_dir, key, "entry")
    data = read_file(path)
    if data is None:
        return None
    try:
        entry = Entry.decode(data)
    except CorruptEntry:
        remove_quietly(path)
        raise
    except CodecMissing:
        return None  # sound, only unreadable here: the miss stores a readable one over it
    try:
        # A hit makes the entry recently used (LRU for eviction); a link is not ours.
        os.utime(path, follow_symlinks=False)
    except OSError:
        pass
    return entry


class Added:
    """What a store adds to its shard's size counters (negative when it replaced a
    bigger file): bytes on disk, files, and bytes compression saved."""

    __slots__ = ("bytes", "files", "compression_saved")

    def __init__(self, size: int, files: int, compression_saved: int = 0) -> None:
        self.bytes = size
        self.files = files
        self.compression_saved = compression_saved


def save_entry(cache_dir: str, key: str, entry: Entry, *, compression_level: int) -> Added:
    """Store atomically, compressed at that zstd level (0: uncompressed)."""
    path = path_for(cache_dir, key, "entry")
    chunks = entry.encode(compression_level=compression_level)
    previous_savings = compression_savings(path)  # usually none: a new key
    added_bytes, added_files = _save(cache_dir, path, chunks)
    return Added(added_bytes, added_files, compression_savings_of(chunks) - previous_savings)


def compression_savings_of(chunks: list[bytes | memoryview]) -> int:
    if chunks[0] != COMPRESSED_ENTRY_MAGIC:
        return 0
    body_size = int.from_bytes(chunks[1], "little")
    stored = sum(len(chunk) for chunk in chunks)
    return max(0, len(ENTRY_MAGIC) + body_size + DIGEST_SIZE - stored)


def _save(cache_dir: str, path: str, chunks: list[bytes | memoryview]) -> tuple[int, int]:
    makedirs(cache_dir, os.path.dirname(path))
    try:
        previous = os.stat(path).st_size
    except FileNotFoundError:
        previous = -1
    atomic_write(path, chunks)
    size = sum(len(chunk) for chunk in chunks)
    if previous < 0:
        return size, 1
    return size - previous, 0


# A manifest candidate: ([(path, digest)], [(env name, value or None)], result key).
Candidate = tuple[list[tuple[str, str]], list[tuple[str, "str | None"]], str]


def load_manifest(cache_dir: str, key: str) -> list[Candidate]:
    path = path_for(cache_dir, key, "manifest")
    data = read_file(path)
    if data is None:
        return []
    try:
        header, _ = _unseal(MANIFEST_MAGIC, data)
        if not isinstance(header, list):
            raise CorruptEntry("manifest is not a list")
        return [(list(files), list(env), str(result)) for files, env, result in header]
    except (CorruptEntry, TypeError, ValueError):
        remove_quietly(path)
        raise CorruptEntry("bad manifest") from None


def touch_manifest(cache_dir: str, key: str) -> None:
    """A hit uses the manifest as much as the entry: keep both recently used, or LRU
    eviction would drop the manifests of the most used entries first."""
    try:
        os.utime(path_for(cache_dir, key, "manifest"), follow_symlinks=False)
    except OSError:
        pass


def add_to_manifest(cache_dir: str, key: str, candidate: Candidate) -> tuple[int, int]:
    """Put candidate first. The read-modify-write holds the shard's manifest lock:
    checkouts at different paths share manifests, and building them at once must not
    drop each other's candidates (only misses write manifests, so waits are rare)."""
    shard_dir = os.path.join(cache_dir, shard_of(key))
    makedirs(cache_dir, shard_dir)
    lock_fd = os.open(os.path.join(shard_dir, "manifest.lock"), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(lock_fd, fcntl.LOCK_EX)
        try:
            candidates = load_manifest(cache_dir, key)
        except CorruptEntry:
            candidates = []
        candidates = [candidate] + [c for c in candidates if c[2] != candidate[2]]
        data = _seal(MANIFEST_MAGIC, candidates[:MAX_MANIFEST_CANDIDATES], [])
        return _save(cache_dir, path_for(cache_dir, key, "manifest"), data)
    finally:
        os.close(lock_fd)
