"""Native code that can end up inside an output: every file of it goes into the key by content.

rustc copies static libraries into rlibs and hands libraries, objects and linker
scripts to the linker for bins, dylibs, proc-macros and tests. What it reads is not
only what the command line names: `#[link(name = "foo", kind = "static")]` in the
source is looked up in the `-L` search dirs, a `+verbatim` name is a file name, and
link arguments name objects, archives, scripts and dirs in any syntax the linker takes.
So instead of guessing which file a name resolves to, the key covers:
- every regular file directly in every native search dir (`-L native=`/`all=`/
  `framework=`/bare, LIBRARY_PATH) and in every dir a link argument names, whatever
  option names it (`-L DIR`, `-Wl,-L,DIR`, `--library-path=DIR`...);
- every link-argument word that names an existing file (also after `=` and after
  a one-letter option such as `-T`);
- what those files pull in that is not in them: the members of a thin archive (`ar T`,
  which stores only their paths), the absolute names in a linker script's `INPUT` and
  `GROUP` (a name ld would search for, `INCLUDE` or `SEARCH_DIR` makes the call not
  cacheable). Every file the linker may take as a library (`*.a`, `*.so`, `*.so.*`, or
  a name the command line looks up) is checked;
- for linked outputs, every static archive in the linker's default dirs: a dependency's
  `-l static:-bundle=NAME` or plain `-l NAME` is linked from there into this output,
  and this call's command line does not name it (rustc reads it from the rlib);
- for `-l static=NAME` not found in the search dirs: the library the linker would take
  from its default dirs, by content; if it is nowhere, the call is not cacheable.
Metadata-only compiles (`cargo check`) read no native code and skip all of this.
"""

from __future__ import annotations

import os
import stat

from buildcache.cache.digests import text_digest
from buildcache.cache.file_digests import (
    content_digest,
    directory_digest,
    recall_names,
    remember_names,
    stamp,
)
from buildcache.wrapper.rustc_args import NotCacheable, RustcCall

# Where the linker looks for libraries when no -L dir has them (Debian and friends;
# `ld --verbose | grep SEARCH_DIR`).
SYSTEM_LIBRARY_DIRS = (
    "/usr/local/lib/x86_64-linux-gnu", "/usr/local/lib/aarch64-linux-gnu", "/usr/local/lib",
    "/usr/local/lib64", "/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu",
    "/lib/aarch64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/lib64", "/usr/lib64", "/lib",
    "/usr/lib", "/usr/x86_64-linux-gnu/lib", "/usr/x86_64-linux-gnu/lib64",
    "/usr/aarch64-linux-gnu/lib",
)  # fmt: skip
# Options that change where every other name is looked up (the compiler driver's `-B`
# prefix, a sysroot): what they select is not a dir's files, so we cannot key it.
_UNKEYABLE_DRIVER_OPTIONS = ("--sysroot", "-B", "-isysroot")
_UNKEYABLE_LINKER_OPTIONS = ("--sysroot",)
# Linker-script commands that read files we would have to search for as ld does.
_SCRIPT_SEARCH_COMMANDS = frozenset({b"INCLUDE", b"SEARCH_DIR", b"STARTUP"})
# A linker script is small; this much of a file that is neither ELF nor an archive is read.
_SCRIPT_HEAD_BYTES = 1 << 20
_ELF_MAGIC = b"\x7fELF"
_ARCHIVE_MAGIC = b"!<arch>\n"
_THIN_ARCHIVE_MAGIC = b"!<thin>\n"
# A thin archive may list another one, a script another script; real ones nest once or
# not at all (ar flattens thin archives), and a loop must not hang the build.
_MAX_NESTING = 4


def native_inputs(call: RustcCall, cache_dir: str, environ: os._Environ[str]) -> list[str]:
    """One line per native input; raises NotCacheable when a named input cannot be found."""
    if "link" not in call.emits:
        return []
    dirs = list(call.native_dirs)
    dirs.extend(d for d in environ.get("LIBRARY_PATH", "").split(os.pathsep) if d)
    lines = []
    # File names the linker may look up in the search dirs besides lib*.a / lib*.so.
    looked_up = {name for _, name, verbatim in call.native_libs if verbatim}
    for arg in call.link_args:
        if arg.startswith(_UNKEYABLE_DRIVER_OPTIONS):
            raise NotCacheable(f"link argument {arg!r} changes where the linker looks")
        for word in _link_words(arg):
            if word.startswith("@"):
                raise NotCacheable(f"link argument {arg!r} reads a response file")
            if word.startswith(_UNKEYABLE_LINKER_OPTIONS):
                raise NotCacheable(f"link argument {arg!r} changes where the linker looks")
            if word.startswith("-l:"):
                looked_up.add(word[3:])
            for candidate in _file_candidates(word):
                if os.path.isdir(candidate):
                    # `-L DIR` in two arguments, `-Wl,-L,DIR`, `--library-path=DIR`, or an
                    # option we do not know: every file in it is keyed like a search dir's.
                    dirs.append(candidate)
                elif os.path.isfile(candidate):
                    lines.append(
                        f"link-arg file {candidate} {content_digest(cache_dir, candidate)}"
                    )
                    lines.extend(_pulled_in(cache_dir, candidate))
                else:
                    looked_up.add(os.path.basename(candidate))  # `-T x.ld` searches -L dirs
    for index, directory in enumerate(dirs):
        # By position, not path: the search order matters, where the dir is does not.
        lines.append(f"dir #{index} {directory_digest(cache_dir, directory)}")
        lines.extend(_pulled_in_by_dir(cache_dir, directory, looked_up))
    for kind, name, verbatim in call.native_libs:
        if "/" in name:  # a verbatim name can reach into a subdirectory of a search dir
            lines.extend(_named_files(cache_dir, dirs, [name], required=kind == "static"))
        elif kind == "static" and not _found(dirs, _library_names(name, verbatim)):
            lines.extend(_system_static(cache_dir, name, verbatim))
    if call.links:
        lines.extend(_system_archives(cache_dir))
    return lines


def _may_be_library(name: str, looked_up: set[str]) -> bool:
    return name.endswith((".a", ".so")) or ".so." in name or name in looked_up


def _pulled_in_by_dir(cache_dir: str, directory: str, looked_up: set[str]) -> list[str]:
    """What the libraries in a search dir pull in from outside it. Not part of
    directory_digest's remembered record: a thin archive's members change without
    the dir or the archive changing."""
    try:
        with os.scandir(directory) as entries:
            names = sorted(item.name for item in entries if _may_be_library(item.name, looked_up))
    except (FileNotFoundError, NotADirectoryError):
        return []
    lines = []
    for name in names:
        path = os.path.join(directory, name)
        if os.path.isfile(path):
            lines.extend(_pulled_in(cache_dir, path))
    return lines


def _pulled_in(cache_dir: str, path: str, depth: int = 0) -> list[str]:
    """Objects and archives are whole inputs; a thin archive names its members by path
    and a text linker script may name other files: those are keyed or refused here."""
    with open(path, "rb") as handle:
        magic = handle.read(len(_THIN_ARCHIVE_MAGIC))
        if magic.startswith(_ELF_MAGIC) or magic == _ARCHIVE_MAGIC:
            return []
        if magic == _THIN_ARCHIVE_MAGIC:
            return _thin_members(cache_dir, path, magic + handle.read(), depth)
        head = magic + handle.read(_SCRIPT_HEAD_BYTES)
    return _script_inputs(cache_dir, path, head, depth)


def _script_inputs(cache_dir: str, path: str, text: bytes, depth: int) -> list[str]:
    """A GNU ld script (libm.a and libc.so are ones) may name further inputs. Absolute
    names in INPUT/GROUP/AS_NEEDED are keyed by content; a name ld would search for, or
    a command that changes where it searches, makes the call not cacheable."""
    if depth >= _MAX_NESTING:
        raise NotCacheable(f"linker script {path} nests too deep")
    tokens = _script_tokens(text)
    lines = []
    inside = 0  # depth of parentheses after INPUT or GROUP
    for index, token in enumerate(tokens):
        if token in _SCRIPT_SEARCH_COMMANDS:
            raise NotCacheable(f"linker script {path} uses {token.decode()}")
        if inside == 0:
            if token in (b"INPUT", b"GROUP") and tokens[index + 1 : index + 2] == [b"("]:
                inside = -1  # the "(" that follows opens the list
            continue
        if token == b"(":
            inside = 1 if inside < 0 else inside + 1
        elif token == b")":
            inside -= 1
        elif token != b"AS_NEEDED":
            lines.extend(_script_file(cache_dir, path, token, depth))
    return lines


def _script_tokens(text: bytes) -> list[bytes]:
    while b"/*" in text:
        start = text.index(b"/*")
        end = text.find(b"*/", start + 2)
        text = text[:start] + b" " + (text[end + 2 :] if end >= 0 else b"")
    for separator in (b"(", b")"):
        text = text.replace(separator, b" " + separator + b" ")
    return text.replace(b",", b" ").split()


def _script_file(cache_dir: str, script: str, token: bytes, depth: int) -> list[str]:
    """ld opens an absolute name as it is, or under its sysroot when the script lies in
    the sysroot (`=` asks for that explicitly). The sysroot is one of the script's
    ancestor dirs, so every existing variant is keyed."""
    name = os.fsdecode(token.strip(b'"'))
    name = name[1:] if name.startswith("=") else name
    if not name.startswith("/"):
        raise NotCacheable(f"linker script {script} names {name!r}, which ld searches for")
    candidates = []
    ancestor = os.path.dirname(os.path.abspath(script))
    while True:
        candidates.append(ancestor.rstrip("/") + name)
        parent = os.path.dirname(ancestor)
        if parent == ancestor:
            break
        ancestor = parent
    lines = []
    for candidate in candidates:
        if os.path.isfile(candidate):
            lines.append(f"script input {candidate} {content_digest(cache_dir, candidate)}")
            lines.extend(_pulled_in(cache_dir, candidate, depth + 1))
    if not lines:
        raise NotCacheable(f"linker script {script} names {name}, which does not exist")
    return lines


def _thin_members(cache_dir: str, path: str, data: bytes, depth: int) -> list[str]:
    """The members of a thin archive by content. Its member headers carry no data, only
    names (in the `//` table when long), which ld resolves relative to the archive's dir."""
    if depth >= _MAX_NESTING:
        raise NotCacheable(f"thin archive {path} nests too deep")
    names = _thin_member_names(path, data)
    lines = []
    for member in names:
        member_path = os.path.join(os.path.dirname(path), member)
        try:
            digest = content_digest(cache_dir, member_path)
        except OSError:
            raise NotCacheable(f"member {member} of thin archive {path} unreadable") from None
        lines.append(f"thin member {member} {digest}")
        lines.extend(_pulled_in(cache_dir, member_path, depth + 1))
    return lines


def _thin_member_names(path: str, data: bytes) -> list[str]:
    """Parse the ar headers (60 bytes: name[16] date[12] uid[6] gid[6] mode[8] size[10]
    and a "`\\n" terminator). Anything unexpected makes the call not cacheable."""
    position = len(_THIN_ARCHIVE_MAGIC)
    long_names = b""
    members = []
    while position < len(data):
        position += position & 1  # headers start on even offsets
        header = data[position : position + 60]
        if position >= len(data):
            break
        if len(header) != 60 or header[58:60] != b"`\n" or not header[48:58].strip().isdigit():
            raise NotCacheable(f"thin archive {path} has a header we cannot read")
        name = header[:16].rstrip(b" ")
        size = int(header[48:58])
        position += 60
        if name in (b"/", b"/SYM64/"):  # the symbol table: stored in the archive itself
            position += size
        elif name == b"//":  # the long-name table: stored too
            long_names = data[position : position + size]
            position += size
        elif name[:1] == b"/" and name[1:].isdigit():
            start = int(name[1:])
            end = long_names.find(b"/\n", start)
            if end < 0:
                raise NotCacheable(f"thin archive {path} has a broken name table")
            members.append(long_names[start:end])
        elif name.endswith(b"/") and len(name) > 1:
            members.append(name[:-1])
        else:
            raise NotCacheable(f"thin archive {path} has a member name we cannot read")
    return [os.fsdecode(member) for member in members]


def _link_words(arg: str) -> list[str]:
    """`-Wl,--version-script=v.map,-T,x.ld` -> ['--version-script=v.map', '-T', 'x.ld']."""
    if arg.startswith(("-Wl,", "-Xlinker,")):
        return [word for word in arg.split(",")[1:] if word]
    return [arg]


def _file_candidates(word: str) -> list[str]:
    candidates = [word]
    if "=" in word:
        candidates.append(word.split("=", 1)[1])
    if word.startswith("-") and not word.startswith("--") and len(word) > 2:
        candidates.append(word[2:])  # glued one-letter option: -Tscript.ld, -lfoo
    return candidates


def _library_names(name: str, verbatim: bool) -> list[str]:
    return [name] if verbatim else [f"lib{name}.a", f"{name}.a", f"lib{name}.so"]


def _found(dirs: list[str], names: list[str]) -> bool:
    return any(os.path.isfile(os.path.join(d, n)) for d in dirs for n in names)


def _named_files(cache_dir: str, dirs: list[str], names: list[str], *, required: bool) -> list[str]:
    lines = []
    for directory in dirs:
        for name in names:
            path = os.path.join(directory, name)
            if os.path.isfile(path):
                lines.append(f"lib {path} {content_digest(cache_dir, path)}")
                lines.extend(_pulled_in(cache_dir, path))
    if required and not lines:
        raise NotCacheable(f"static library {names[0]} not found in any search dir")
    return lines


def _system_static(cache_dir: str, name: str, verbatim: bool) -> list[str]:
    """A static library the linker will take from its default dirs ends up in the output."""
    names = [name] if verbatim else [f"lib{name}.a"]
    return _named_files(cache_dir, list(SYSTEM_LIBRARY_DIRS), names, required=True)


def _system_archives(cache_dir: str) -> list[str]:
    """Every static archive in the linker's default dirs, for a linked output: an rlib
    dependency may carry `-l static:-bundle=NAME` (or `-l NAME` with only libNAME.a
    there) in its metadata, and rustc hands that to this link without naming it here.
    Remembered digests make this a stat per archive after the first time."""
    lines = []
    seen = set()
    for directory in SYSTEM_LIBRARY_DIRS:
        real = os.path.realpath(directory)  # /lib is /usr/lib on merged-/usr systems
        if real in seen or not os.path.isdir(real):
            continue
        seen.add(real)
        archives = directory_digest(cache_dir, real, suffix=".a", shared=True)
        lines.append(f"system archives {real} {archives}")
        # Only archives: the system's libc.so is a script naming libc.so.6, and shared
        # system libraries are keyed through the compiler driver (docs/how-it-works.md).
        for name in _system_non_archives(cache_dir, real, archives):
            path = os.path.join(real, name)
            if os.path.isfile(path):
                lines.extend(_pulled_in(cache_dir, path))
    return lines


def _system_non_archives(cache_dir: str, directory: str, archives: str) -> list[str]:
    """The `.a` files of a system dir that are not plain archives (linker scripts such
    as libm.a, thin archives): what they name can change without them, so they are
    read on every linked call (_pulled_in). Which ones they are is a function of the
    dir's archives digest (every `.a` name and content), so it is recorded under it:
    otherwise each linked call would open all hundred archives to read their magic,
    twice (before and after rustc): 3.1 ms a time against 1.9 with the record,
    measured here. Recorded only if no `.a` file moved
    while they were looked through (their stamps: ctime cannot go back, so a file
    removed and put back shows too) and the digest is still the one it is recorded
    under; a file that cannot be read is listed, never taken for an archive."""
    record = text_digest("system non-archives", directory, archives)
    names = recall_names(cache_dir, record, shared=True)
    if names is not None:
        return names
    before = _archive_stamps(directory)
    if before is None:
        return []
    names = [name for name in sorted(before) if not _plain_archive(os.path.join(directory, name))]
    try:
        held_still = _archive_stamps(directory) == before and (
            directory_digest(cache_dir, directory, suffix=".a", shared=True) == archives
        )
    except OSError:
        held_still = False
    if held_still:
        remember_names(cache_dir, record, names, shared=True)
    return names


def _archive_stamps(directory: str) -> dict[str, str] | None:
    """Name -> stamp of the regular `.a` files in directory (the files its archives
    digest covers); None when the directory is gone. A file that vanishes between the
    listing and its stat raises: the call is then not cached, rather than keyed as if
    the file had never been there."""
    try:
        with os.scandir(directory) as listing:
            entries = list(listing)
    except (FileNotFoundError, NotADirectoryError):
        return None
    return {
        item.name: stamp(item.stat())
        for item in entries
        if item.name.endswith(".a") and item.is_file()  # follows symlinks, as ld
    }


def _plain_archive(path: str) -> bool:
    """An ELF object or a regular archive: an input whole, naming nothing else. A file
    that cannot be opened, or is not a regular file by now, is not one (_pulled_in
    then says why). Opened without blocking: a FIFO named `x.a` must not hang."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return False
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return False
        magic = os.read(fd, len(_THIN_ARCHIVE_MAGIC))
    except OSError:
        return False
    finally:
        os.close(fd)
    return magic.startswith(_ELF_MAGIC) or magic == _ARCHIVE_MAGIC
