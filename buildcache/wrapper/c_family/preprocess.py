"""Preprocessor mode (ccache's): the key holds the compiler's own `-E` output.

The preprocessed text is everything the compiler proper reads: the source, every
header it included (found by the include paths and environment as they are now),
macros from the command line and expansions such as `__FILE__` and `__DATE__`. So
a header edit, a new header shadowing an old one, or a changed define changes the
key without our having to model include search.

Its line markers (`# 12 "path"`) name every file the preprocessor entered; after
the compile each must be older than the moment preprocessing started, or the
object may have been compiled from other contents than the key describes.

A few things reach the object without showing in the text; a call that uses them
is not cacheable: `.incbin`/`.include` in (inline) assembly (gas directives ignore
case, and C joins adjacent string literals, so `".inc" "bin"` counts too), C23
`#embed` kept as a directive, and precompiled headers (a `.gch`/`.pch` beside a
header the compile may include: the compiler proper reads it instead of the header,
while `-E` reads the header).
"""

from __future__ import annotations

import os

from buildcache.wrapper.rustc_args import NotCacheable

# Byte strings that mean the object reads a file the text does not contain.
# Searched for in the text lowercased, with quotes and white space removed.
_UNSEEN_INPUTS = (b".incbin", b".include", b"pch_preprocess", b"#embed", b"#pragmaembed")
_JOINING = b' \t\r\n\f\v"'
_PCH_SUFFIXES = (".gch", ".pch")
# Line-marker names that are not files.
_PSEUDO_FILES = frozenset({"<built-in>", "<command-line>", "<command line>", "<stdin>"})


def run_preprocessor(compiler: str, args: list[str]) -> tuple[int, bytes]:
    """(exit code, stdout) of `compiler args... -E`, stderr discarded: the real compile
    prints the same warnings, and those are what a hit replays."""
    return run_capturing(compiler, [*args, "-E"], 1)


def run_capturing(compiler: str, args: list[str], stream: int) -> tuple[int, bytes]:
    """(exit code, what `compiler args...` wrote to stream 1 or 2), the other stream
    discarded and stdin closed: a source read from stdin must not be consumed here.
    posix_spawn and a pipe rather than subprocess, which costs ~10 ms to import."""
    read_fd, write_fd = os.pipe()
    null = os.open(os.devnull, os.O_RDWR)
    other = 3 - stream
    actions = [
        (os.POSIX_SPAWN_DUP2, null, 0),
        (os.POSIX_SPAWN_DUP2, write_fd, stream),
        (os.POSIX_SPAWN_DUP2, null, other),
    ]
    try:
        pid = os.posix_spawnp(compiler, [compiler, *args], os.environ, file_actions=actions)
    finally:
        os.close(write_fd)
        os.close(null)
    chunks = []
    try:
        while True:
            chunk = os.read(read_fd, 1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(read_fd)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), b"".join(chunks)


def check_all_inputs_visible(text: bytes) -> None:
    folded = text.lower().translate(None, _JOINING)
    for marker in _UNSEEN_INPUTS:
        if marker in folded:
            name = marker.decode()
            raise NotCacheable(f"{name} reads a file the preprocessed source does not show")


def check_no_precompiled_headers(entered: list[str], include_dirs: list[str]) -> None:
    """gcc looks for `name.gch` in each include dir just before `name`, clang for
    `name.pch` after `-include name`: either would replace what `-E` read. Every
    file entered is tried under every include dir it can be named from."""
    for path in entered:
        names = {path}
        for directory in include_dirs:
            prefix = "" if directory in ("", ".") else directory.rstrip("/") + "/"
            if path.startswith(prefix):
                names.update(os.path.join(other, path[len(prefix) :]) for other in include_dirs)
        for name in names:
            for suffix in _PCH_SUFFIXES:
                if os.path.lexists(name + suffix):
                    raise NotCacheable(f"precompiled header {name}{suffix}")


def files_entered(text: bytes) -> list[str]:
    """Every file named by a line marker (`# N "file" flags` or `#line N "file"`)."""
    names: set[bytes] = set()
    for line in text.split(b"\n"):
        if not line.startswith(b"#"):
            continue
        head, quote, rest = line.partition(b'"')
        words = head[1:].split()
        if not quote or not words or (words[0] != b"line" and not words[0].isdigit()):
            continue
        names.add(_unescape(rest.rpartition(b'"')[0]))
    decoded = (name.decode("utf-8", "surrogateescape") for name in names)
    return sorted(name for name in decoded if name not in _PSEUDO_FILES)


def _unescape(quoted: bytes) -> bytes:
    """The C string escapes the preprocessor uses in file names: backslash, quote, octal."""
    if b"\\" not in quoted:
        return quoted
    out = bytearray()
    index = 0
    while index < len(quoted):
        byte = quoted[index]
        if byte == 0x5C and index + 1 < len(quoted):
            following = quoted[index + 1 : index + 4]
            digits = len(following) - len(following.lstrip(b"01234567"))
            if digits:
                out.append(int(following[:digits], 8) & 0xFF)
                index += 1 + digits
                continue
            out.append(quoted[index + 1])
            index += 2
            continue
        out.append(byte)
        index += 1
    return bytes(out)
