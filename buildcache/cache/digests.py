"""Content digests for the key and the entries' checksums: SHA-256, from one of two
implementations chosen by how much there is to hash. The digests are the same either way.

OpenSSL's (`_hashlib`) hashes ~1.5 GB/s here with SHA-NI, faster than blake2b
(~1.4 GB/s), but loading libcrypto takes ~1.7 ms, about a sixth of a call's fixed
start-up. Python's own (`_sha256`, `_sha2` from 3.12) loads in ~0.05 ms and hashes
~350 MB/s. A call that hashes little (a non-cacheable call's nothing, a key's few
strings, a small crate's entry) is done sooner without OpenSSL; one that hashes
megabytes is done sooner with it. So each process hashes its first BUILTIN_BUDGET bytes
with the builtin, then loads OpenSSL for everything after; once OpenSSL is loaded
it does all of the hashing.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # typing costs ~10 ms to import; mypy honours this spelling
if TYPE_CHECKING:
    from typing import Callable, Protocol

    class Hasher(Protocol):
        def update(self, data: bytes | memoryview, /) -> None: ...
        def digest(self) -> bytes: ...
        def hexdigest(self) -> str: ...


__all__ = ["sha256", "is_hex_digest", "file_digest", "text_digest", "seal_text", "unseal_text"]

CHUNK = 1 << 20
# Bytes a process hashes with the builtin before it loads OpenSSL. Break-even: the
# ~1.7 ms OpenSSL takes to load is the time the builtin needs for ~0.6 MB more than
# OpenSSL would. Staying well under it, a call that ends up loading OpenSSL anyway
# has lost at most ~0.5 ms to the builtin.
BUILTIN_BUDGET = 256 << 10

_budget = [BUILTIN_BUDGET]
_openssl: list[Callable[..., Hasher]] = []
_builtin: list[Callable[..., Hasher] | None] = []


def sha256(data: bytes | memoryview = b"", *, size: int | None = None) -> Hasher:
    """A SHA-256 hasher fed `data`. `size` is how much will be hashed in all when the
    data comes later through update(); without either, it is assumed to be a lot."""
    total = len(data) if size is None and data else size
    if total is not None and "_hashlib" not in sys.modules and total <= _budget[0]:
        builtin = _builtin_sha256()
        if builtin is not None:
            _budget[0] -= total
            return builtin(data)
    return _openssl_sha256()(data)


def _builtin_sha256() -> Callable[..., Hasher] | None:
    if not _builtin:
        found = None  # stays None in a Python built without its own hashes (some distros)
        for module in ("_sha2", "_sha256"):  # 3.12 and later, 3.9 to 3.11
            try:
                found = __import__(module).sha256
                break
            except (ImportError, AttributeError):
                continue
        _builtin.append(found)
    return _builtin[0]


def _openssl_sha256() -> Callable[..., Hasher]:
    if not _openssl:
        try:
            from _hashlib import openssl_sha256

            _openssl.append(openssl_sha256)
        except ImportError:  # built without OpenSSL: the builtin is all there is
            builtin = _builtin_sha256()
            if builtin is None:
                raise
            _openssl.append(builtin)
    return _openssl[0]


_HEX_DIGITS = "0123456789abcdef"


def is_hex_digest(text: str) -> bool:
    """True for what hexdigest() gives: 64 lowercase hex digits. Records read back from
    disk are checked with it; a damaged character makes them untrusted, not believed."""
    return len(text) == 64 and not text.strip(_HEX_DIGITS)


def file_digest(path: str) -> str:
    with open(path, "rb") as handle:
        hasher = sha256(size=os.fstat(handle.fileno()).st_size)
        while True:
            chunk = handle.read(CHUNK)
            if not chunk:
                break
            hasher.update(chunk)
    return hasher.hexdigest()


def text_digest(*parts: str) -> str:
    """Digest of a sequence of strings, unambiguous about where each one ends."""
    encoded = [part.encode("utf-8", "surrogateescape") for part in parts]
    hasher = sha256(size=sum(8 + len(data) for data in encoded))
    for data in encoded:
        hasher.update(len(data).to_bytes(8, "little"))
        hasher.update(data)
    return hasher.hexdigest()


def seal_text(text: str) -> bytes:
    """text plus a trailing digest line, so a damaged small record is noticed."""
    return f"{text}\n{text_digest(text)}".encode("utf-8", "surrogateescape")


def unseal_text(data: str) -> str | None:
    """The text of a sealed record, or None when it was damaged."""
    body, _, digest = data.rpartition("\n")
    return body if digest == text_digest(body) else None
