"""Signed remote values: an HMAC-SHA256 over the value and the name it is stored under.

With BUILDCACHE_REMOTE_SIGNING_KEY set, the wrapper wraps every value it uploads as
SIGNED_MAGIC + mac + value, and accepts a downloaded value only if its mac verifies.
The name is in the mac so a validly signed entry cannot be replayed under another key
(it would restore one crate's outputs for another). Without a key, values are uploaded
plain and a signed value is accepted after its checksum, like any other.
"""

from __future__ import annotations

import hashlib
import hmac

SIGNED_MAGIC = b"BCSIGN1\0"
MAC_SIZE = 32
_DOMAIN = b"buildcache remote value v1\0"


class Rejected(Exception):
    """A value that the signing key does not vouch for."""


def _mac(key: bytes, name: str, value: bytes | memoryview) -> bytes:
    mac = hmac.new(key, _DOMAIN + name.encode() + b"\0", hashlib.sha256)
    mac.update(value)
    return mac.digest()


def sign(key: bytes | None, name: str, value: bytes) -> bytes:
    if key is None:
        return value
    return SIGNED_MAGIC + _mac(key, name, value) + value


def open_value(key: bytes | None, name: str, stored: bytes) -> bytes:
    """The value inside what the remote returned; raises Rejected when a key is
    required and the signature is missing or wrong."""
    signed = stored.startswith(SIGNED_MAGIC) and len(stored) >= len(SIGNED_MAGIC) + MAC_SIZE
    if not signed:
        if key is not None:
            raise Rejected("not signed")
        return stored
    start = len(SIGNED_MAGIC) + MAC_SIZE
    value = stored[start:]
    if key is not None and not hmac.compare_digest(
        stored[len(SIGNED_MAGIC) : start], _mac(key, name, value)
    ):
        raise Rejected("bad signature")
    return value
