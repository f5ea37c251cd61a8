"""Writing to cargo: rustc's replayed output, our warnings, paths inside JSON messages."""

from __future__ import annotations

import sys


def json_escape(text: str) -> str:
    """The form a path takes inside rustc's JSON messages (serde_json keeps non-ASCII)."""
    out = []
    for char in text:
        if char in '"\\':
            out.append("\\" + char)
        elif ord(char) < 0x20:
            out.append({"\n": "\\n", "\r": "\\r", "\t": "\\t"}.get(char, f"\\u{ord(char):04x}"))
        else:
            out.append(char)
    return "".join(out)


def json_bytes(path: str) -> bytes:
    return json_escape(path).encode("utf-8", "surrogateescape")


def write_stream(stream: object, data: bytes) -> None:
    if not data:
        return
    try:
        buffer = stream.buffer  # type: ignore[attr-defined]
        buffer.write(data)
        buffer.flush()
    except (OSError, ValueError):
        pass  # cargo went away; nothing useful to do with the output


def warn(message: str) -> None:
    try:
        sys.stderr.write(f"buildcache: warning: {message}\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass
