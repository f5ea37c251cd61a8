"""What the launch client sends (client.c, build_request) and what the child answers.

A request is a 4-byte little-endian length, then NUL-terminated fields:
magic, the client's parent pid (cargo), umask, niceness, the blocked and the ignored
signals (bit n-1 for signal n, as cargo left them), the supplementary groups
(count, then each), the rlimits (count, then resource, soft, hard), the descriptor
numbers (count, then each: the numbers they had in the client, in the order they ride
in SCM_RIGHTS after the working directory), argv (count, then each) and the
environment (count, then each `NAME=value`). Bytes throughout: a path or a variable
need not be UTF-8.

A reply is a kind byte, a 4-byte little-endian length and a payload:
P pid (the child leads a process group of that id), X code (exit with it),
E argv (exec it, NUL-separated), F (run the ordinary Python launcher instead).
The child's P comes first: the client sends the request (and cargo's descriptors) only
to a child that exists; a client that waited too long for P closes instead and runs
the call itself.
"""

from __future__ import annotations

import struct

MAGIC = b"buildcache-launch-1"
# Descriptors one request may carry (client.c MAX_FDS, plus the working directory).
MAX_FDS = 241
MAX_BYTES = 64 << 20


class BadRequest(Exception):
    """The bytes are not a request of this version."""


class Request:
    __slots__ = (
        "argv",
        "blocked",
        "environ",
        "fd_numbers",
        "groups",
        "ignored",
        "limits",
        "nice",
        "parent",
        "umask",
    )

    def __init__(self) -> None:
        self.parent = 0
        self.umask = 0o022
        self.nice = 0
        self.blocked: set[int] = set()
        self.ignored: set[int] = set()
        self.groups: list[int] = []
        self.limits: list[tuple[int, int, int]] = []
        self.fd_numbers: list[int] = []
        self.argv: list[bytes] = []
        self.environ: dict[bytes, bytes] = {}


def parse(data: bytes) -> Request:
    fields = data.split(b"\0")
    if fields[-1] != b"":
        raise BadRequest("the last field is not terminated")
    position = 0

    def take() -> bytes:
        nonlocal position
        if position >= len(fields) - 1:
            raise BadRequest("too few fields")
        position += 1
        return fields[position - 1]

    def number() -> int:
        try:
            return int(take())
        except ValueError:
            raise BadRequest("a number field is not a number") from None

    def count() -> int:
        value = number()
        if value < 0 or value > len(fields):
            raise BadRequest("a count is out of range")
        return value

    if take() != MAGIC:
        raise BadRequest("not a request of this version")
    request = Request()
    request.parent = number()
    request.umask = number() & 0o777
    request.nice = number()
    request.blocked = _signals(number())
    request.ignored = _signals(number())
    request.groups = [number() for _ in range(count())]
    request.limits = [(number(), number(), number()) for _ in range(count())]
    request.fd_numbers = [number() for _ in range(count())]
    request.argv = [take() for _ in range(count())]
    for _ in range(count()):
        name, equals, value = take().partition(b"=")
        # As Python's own os.environ: an entry without '=' is dropped, the first of
        # two entries with one name wins (getenv's answer).
        if equals and name:
            request.environ.setdefault(name, value)
    if position != len(fields) - 1:
        raise BadRequest("trailing fields")
    if len(request.fd_numbers) + 1 > MAX_FDS or any(fd < 0 for fd in request.fd_numbers):
        raise BadRequest("descriptor numbers out of range")
    if len(set(request.fd_numbers)) != len(request.fd_numbers):
        raise BadRequest("a descriptor number twice")
    return request


def _signals(bits: int) -> set[int]:
    return {bit + 1 for bit in range(64) if bits >> bit & 1}


def reply(kind: bytes, payload: bytes = b"") -> bytes:
    return kind + struct.pack("<I", len(payload)) + payload
