"""The on-disk cache: entries and manifests, sharded by the leading hex of their key.

Layout (like ccache's): `<cache>/<k0>/<k1>/<key>.entry` and `.manifest`, where
k0 and k1 are the first two hex digits. The first digit is also the stats and
cleanup shard (see stats.py, eviction.py).

An entry file is: MAGIC, an 8-byte header length, a marshal'd header, the
blobs the header describes, and a trailing SHA-256 of everything before it.
marshal (format 4, readable by every Python 3.4+) costs nothing to import,
unlike json. A file that fails any check is a miss: it is removed and
counted as corrupt by the caller.
"""

from __future__ import annotations

import fcntl
import marshal
import os

from buildcache.cache.atomic import atomic_write, makedirs
from buildcache.cache.digests import sha256

TYPE_CHECKING = False  # typing costs ~10 ms to import on the hot path
if TYPE_CHECKING:
    from collections.abc import Sequence

ENTRY_MAGIC = b"BCENTRY1"
MANIFEST_MAGIC = b"BCMANIF1"
MARSHAL_VERSION = 4
DIGEST_SIZE = 32
# Candidates kept per manifest: one per distinct set of source contents seen for the
# same arguments. Old ones rarely match again; a handful covers switching branches.
MAX_MANIFEST_CANDIDATES = 12


class CorruptEntry(Exception):
    """A cache file failed its checks (truncated, bit-flipped, wrong format)."""


def shard_of(key: str) -> str:
    return key[0]


def path_for(cache_dir: str, key: str, suffix: str) -> str:
    return os.path.join(cache_dir, key[0], key[1], f"{key}.{suffix}")


def _seal(magic: bytes, header: object, blobs: list[bytes]) -> list[bytes]:
    """The file's chunks, checksum last. Kept as chunks, not joined: an entry can hold
    hundreds of MB of outputs, and every extra copy shows in cold build times."""
    head = marshal.dumps(header, MARSHAL_VERSION)  # type: ignore[arg-type]
    chunks = [magic, len(head).to_bytes(8, "little"), head, *blobs]
    hasher = sha256()
    for chunk in chunks:
        hasher.update(chunk)
    chunks.append(hasher.digest())
    return chunks


def _unseal(magic: bytes, data: bytes) -> tuple[object, memoryview]:
    """Verify the checksum and return (header, the blob area)."""
    if len(data) < len(magic) + 8 + DIGEST_SIZE or not data.startswith(magic):
        raise CorruptEntry("bad magic or truncated")
    view = memoryview(data)
    body = view[:-DIGEST_SIZE]
    if sha256(body).digest() != data[-DIGEST_SIZE:]:
        raise CorruptEntry("checksum mismatch")
    start = len(magic) + 8
    head_size = int.from_bytes(data[len(magic) : start], "little")
    try:
        header = marshal.loads(body[start : start + head_size])
    except (EOFError, ValueError, TypeError) as error:
        raise CorruptEntry(f"bad header: {error}") from None
    return header, body[start + head_size :]


class Entry:
    """What a compile produced: its output files, dep-info and console output."""

    __slots__ = ("outputs", "stdout", "stderr")

    def __init__(
        self, outputs: Sequence[tuple[str, int, bytes | memoryview]], stdout: bytes, stderr: bytes
    ) -> None:
        self.outputs = outputs  # (file name relative to --out-dir, mode, content)
        self.stdout = stdout
        self.stderr = stderr

    def encode(self) -> list[bytes]:
        header = {
            "outputs": [(name, mode, len(data)) for name, mode, data in self.outputs],
            "stdout": len(self.stdout),
            "stderr": len(self.stderr),
        }
        blobs = [bytes(data) for _, _, data in self.outputs] + [self.stdout, self.stderr]
        return _seal(ENTRY_MAGIC, header, blobs)

    @classmethod
    def decode(cls, data: bytes) -> Entry:
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
        except (KeyError, TypeError, ValueError, AssertionError) as error:
            raise CorruptEntry(f"bad header: {error!r}") from None
        if offset != len(blobs):
            raise CorruptEntry("size mismatch")
        return cls(outputs, stdout, stderr)


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
    try:
        # A hit makes the entry recently used (LRU for eviction); a link is not ours.
        os.utime(path, follow_symlinks=False)
    except OSError:
        pass
    return entry


def save_entry(cache_dir: str, key: str, entry: Entry) -> tuple[int, int]:
    """Store atomically; return (bytes added, files added) for the shard's counters."""
    return _save(cache_dir, path_for(cache_dir, key, "entry"), entry.encode())


def _save(cache_dir: str, path: str, chunks: list[bytes]) -> tuple[int, int]:
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
