"""rustc's dep-info (`.d`) files: which sources and env vars a compile read.

The format is a Makefile fragment: `target: dep dep ...` rules with spaces in
paths escaped as `\\ `, followed by `# env-dep:NAME=value` comments (rustc
escapes `\\`, newlines and carriage returns in the values). The key relies on
these lists, so parsing errs on the side of failing loudly: anything we cannot
read makes the call uncacheable instead of silently dropping an input.
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


def _unescape_env(value: str) -> str:
    out, index = [], 0
    while index < len(value):
        char = value[index]
        if char == "\\" and index + 1 < len(value):
            nxt = value[index + 1]
            out.append({"n": "\n", "r": "\r", "\\": "\\"}.get(nxt, "\\" + nxt))
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
    files: list[str] = []
    seen: set[str] = set()
    env: list[tuple[str, str | None]] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        if line.startswith("#"):
            if line.startswith("# env-dep:"):
                name, sep, value = line[len("# env-dep:") :].partition("=")
                env.append((name, _unescape_env(value) if sep else None))
            continue
        rule = _rule_split(line)
        if rule is None:
            raise ValueError(f"unreadable dep-info line: {line!r}")
        for dep in _split_escaped(rule[1]):
            if dep not in seen:
                seen.add(dep)
                files.append(dep)
    return DepInfo(files, env)


def escape_path(path: str) -> str:
    return path.replace(" ", "\\ ")


def neutralize(text: str, out_dir: str) -> str:
    """Replace this build's out dir in a dep-info text by a placeholder (for storing)."""
    return text.replace(escape_path(out_dir) + "/", OUT_DIR_PLACEHOLDER + "/")


def localize(text: str, out_dir: str) -> str:
    """Put this build's out dir back where the placeholder is (for restoring)."""
    return text.replace(OUT_DIR_PLACEHOLDER + "/", escape_path(out_dir) + "/")
