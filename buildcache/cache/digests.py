"""Content digests for the key. SHA-256 through OpenSSL: ~2 GB/s with SHA-NI here,
faster than blake2b (~1.4 GB/s), and `_hashlib` imports in ~2 ms."""

from __future__ import annotations

from _hashlib import openssl_sha256 as sha256

__all__ = ["sha256", "file_digest", "text_digest", "seal_text", "unseal_text"]

CHUNK = 1 << 20


def file_digest(path: str) -> str:
    hasher = sha256()
    with open(path, "rb") as handle:
        while True:
            chunk = handle.read(CHUNK)
            if not chunk:
                break
            hasher.update(chunk)
    return hasher.hexdigest()


def text_digest(*parts: str) -> str:
    """Digest of a sequence of strings, unambiguous about where each one ends."""
    hasher = sha256()
    for part in parts:
        data = part.encode("utf-8", "surrogateescape")
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
