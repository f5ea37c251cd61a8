"""rustc's dep-info (`.d`) files: which sources and env vars a compile read.

The format is a Makefile fragment: `target: dep dep ...` rules with spaces in
paths escaped as `\\ `, followed by `# env-dep:NAME=value` comments (rustc
escapes `\\`, newlines and carriage returns in names and values). The key relies
on these lists, so parsing errs on the side of failing loudly: anything we cannot
read makes the call uncacheable instead of silently dropping an input.

Read the way cargo reads it (cargo's fingerprint/dep_info.rs): lines end at `\n`
only (an optional `\r` before it is dropped); `str.splitlines` would also split
at U+2028, U+0085, form feeds... which rustc writes raw inside paths and values.
"""

from __future__ import annotations

OUT_DIR_PLACEHOLDER = "@BUILDCACHE_OUT_DIR@"


class DepInfo:
    __slots__ = ("files", "env")

    def __init__(self, files: list[str], env: list[tuple[str, str | None]]) -> None:
        self.files = (
            files  # paths exactly as rustc wrote them (relative to rustc's cwd or absolute)
        )
        self.env = env  # (name, value) pairs; value None when the variable was unset


def _split_escaped(text: str) -> list[str]:
    """Split on unescaped spaces, turning `\\ ` back into a space."""
    if "\\ " not in text:  # no escaped space (nearly always): str.split does it all, in C
        return [word for word in text.split(" ") if word]
    words, current, index = [], [], 0
    while index < len(text):
        char = text[index]
        if char == "\\" and index + 1 < len(text) and text[index + 1] == " ":
            current.append(" ")
            index += 2
            continue
        if char == " ":
            if current:
                words.append("".join(current))
                current = []
        else:
            current.append(char)
        index += 1
    if current:
        words.append("".join(current))
    return words


_ENV_ESCAPES = {"n": "\n", "r": "\r", "\\": "\\"}


def _unescape_env(value: str) -> str:
    """Undo rustc's escaping; any other escape is not rustc's, so refuse it (as cargo does)."""
    out, index = [], 0
    while index < len(value):
        char = value[index]
        if char == "\\":
            escaped = _ENV_ESCAPES.get(value[index + 1 : index + 2])
            if escaped is None:
                raise ValueError(f"unknown escape in dep-info env-dep: {value!r}")
            out.append(escaped)
            index += 2
            continue
        out.append(char)
        index += 1
    return "".join(out)


def _rule_split(line: str) -> tuple[str, str] | None:
    """Split `target: deps` at the first unescaped ': ' (or a trailing ':')."""
    index = 0
    while True:
        index = line.find(":", index)
        if index < 0:
            return None
        if index == len(line) - 1 or line[index + 1] == " ":
            return line[:index], line[index + 1 :]
        index += 1


def parse_dep_info(text: str) -> DepInfo:
    """The sources and env vars of a dep-info text; ValueError when it is not one."""
    files: list[str] = []
    seen: set[str] = set()
    env: list[tuple[str, str | None]] = []
    rules = 0
    for line in text.split("\n"):
        line = line[:-1] if line.endswith("\r") else line
        if not line.strip():
            continue
        if line.startswith("# env-dep:"):
            name, sep, value = line[len("# env-dep:") :].partition("=")
            env.append((_unescape_env(name), _unescape_env(value) if sep else None))
            continue
        rule = _rule_split(line)
        if rule is None:
            if line.startswith("#"):
                continue  # a comment: rustc's `# checksum:` lines
            raise ValueError(f"unreadable dep-info line: {line!r}")
        # A '#' before a rule is part of its target (a relative out dir named '#...'),
        # not a comment: skipping the line would drop every input listed on it.
        rules += 1
        for dep in _split_escaped(rule[1]):
            if dep not in seen:
                seen.add(dep)
                files.append(dep)
    if not rules:
        raise ValueError("dep-info without a single rule: it names no source file")
    return DepInfo(files, env)


def escape_path(path: str) -> str:
    return path.replace(" ", "\\ ")


def neutralize(text: str, out_dir: str) -> str:
    """Replace this build's out dir in a dep-info text by a placeholder (for storing)."""
    return text.replace(escape_path(out_dir) + "/", OUT_DIR_PLACEHOLDER + "/")


def localize(text: str, out_dir: str) -> str:
    """Put this build's out dir back where the placeholder is (for restoring)."""
    return text.replace(OUT_DIR_PLACEHOLDER + "/", escape_path(out_dir) + "/")
