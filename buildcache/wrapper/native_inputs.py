"""Native code that can end up inside an output: every file of it goes into the key by content.

rustc copies static libraries into rlibs and hands libraries, objects and linker
scripts to the linker for bins, dylibs, proc-macros and tests. What it reads is not
only what the command line names: `#[link(name = "foo", kind = "static")]` in the
source is looked up in the `-L` search dirs, a `+verbatim` name is a file name, and
link arguments name objects, archives and scripts in any syntax the linker takes.
So instead of guessing which file a name resolves to, the key covers:
- every regular file directly in every native search dir (`-L native=`/`all=`/
  `framework=`/bare, `-L` inside link arguments, LIBRARY_PATH);
- every link-argument word that names an existing file (also after `=` and after
  a one-letter option such as `-T`);
- for `-l static=NAME` not found in those dirs: the library the linker would take
  from its default dirs, by content; if it is nowhere, the call is not cacheable.
Metadata-only compiles (`cargo check`) read no native code and skip all of this.
"""

from __future__ import annotations

import os

from buildcache.cache.file_digests import content_digest, directory_digest
from buildcache.wrapper.rustc_args import NotCacheable, RustcCall

# Where the linker looks for libraries when no -L dir has them (Debian and friends).
SYSTEM_LIBRARY_DIRS = (
    "/usr/local/lib", "/usr/local/lib64", "/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu",
    "/lib/aarch64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/lib64", "/usr/lib64", "/lib",
    "/usr/lib",
)  # fmt: skip


def native_inputs(call: RustcCall, cache_dir: str, environ: os._Environ[str]) -> list[str]:
    """One line per native input; raises NotCacheable when a named input cannot be found."""
    if "link" not in call.emits:
        return []
    dirs = list(call.native_dirs)
    dirs.extend(d for d in environ.get("LIBRARY_PATH", "").split(os.pathsep) if d)
    lines = []
    for arg in call.link_args:
        for word in _link_words(arg):
            if word.startswith("@"):
                raise NotCacheable(f"link argument {arg!r} reads a response file")
            if word.startswith("-L") and len(word) > 2:
                dirs.append(word[2:])
            for candidate in _file_candidates(word):
                if os.path.isfile(candidate):
                    _refuse_scripts_naming_files(candidate)
                    lines.append(
                        f"link-arg file {candidate} {content_digest(cache_dir, candidate)}"
                    )
    for index, directory in enumerate(dirs):
        # By position, not path: the search order matters, where the dir is does not.
        lines.append(f"dir #{index} {directory_digest(cache_dir, directory)}")
    for kind, name, verbatim in call.native_libs:
        if "/" in name:  # a verbatim name can reach into a subdirectory of a search dir
            lines.extend(_named_files(cache_dir, dirs, [name], required=kind == "static"))
        elif kind == "static" and not _found(dirs, _library_names(name, verbatim)):
            lines.extend(_system_static(cache_dir, name, verbatim))
    return lines


# Linker-script commands that make the linker read further files, which we would not hash.
_SCRIPT_FILE_COMMANDS = (b"INPUT", b"GROUP", b"INCLUDE", b"SEARCH_DIR", b"STARTUP", b"AS_NEEDED")


def _refuse_scripts_naming_files(path: str) -> None:
    """Objects and archives are whole inputs; a text linker script may pull in others."""
    with open(path, "rb") as handle:
        head = handle.read(1 << 16)
    if head.startswith((b"\x7fELF", b"!<arch>\n", b"!<thin>\n")):
        return
    if any(command in head for command in _SCRIPT_FILE_COMMANDS):
        raise NotCacheable(f"linker script {path} names other input files")


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
    if required and not lines:
        raise NotCacheable(f"static library {names[0]} not found in any search dir")
    return lines


def _system_static(cache_dir: str, name: str, verbatim: bool) -> list[str]:
    """A static library the linker will take from its default dirs ends up in the output."""
    names = [name] if verbatim else [f"lib{name}.a"]
    return _named_files(cache_dir, list(SYSTEM_LIBRARY_DIRS), names, required=True)
