"""The wrapper <-> helper protocol: one request and one reply per connection.

A frame is an 8-byte little-endian length and a marshal'd dict (marshal costs no
import and carries bytes without copies through base64). Only the same user can
reach the socket (paths.py), so nothing else ever feeds us a frame.
"""

from __future__ import annotations

import marshal
import socket

MARSHAL_VERSION = 4
# A frame bigger than this is a bug or garbage on the socket, not a cache value.
MAX_FRAME_BYTES = 4 << 30


class ProtocolError(OSError):
    """The other side closed early or sent something that is not a frame."""


def send_frame(sock: socket.socket, message: dict[str, object]) -> None:
    payload = marshal.dumps(message, MARSHAL_VERSION)
    sock.sendall(len(payload).to_bytes(8, "little") + payload)


def recv_frame(sock: socket.socket) -> dict[str, object]:
    size = int.from_bytes(_recv_exact(sock, 8), "little")
    if size > MAX_FRAME_BYTES:
        raise ProtocolError(f"frame of {size} bytes")
    try:
        message = marshal.loads(_recv_exact(sock, size))
    except (EOFError, ValueError, TypeError) as error:
        raise ProtocolError(f"bad frame: {error}") from None
    if not isinstance(message, dict):
        raise ProtocolError("frame is not a dict")
    return message


def _recv_exact(sock: socket.socket, size: int) -> bytes:
    buffer = bytearray(size)
    view = memoryview(buffer)
    received = 0
    while received < size:
        count = sock.recv_into(view[received:], size - received)
        if count == 0:
            raise ProtocolError("connection closed mid-frame")
        received += count
    return bytes(buffer)
