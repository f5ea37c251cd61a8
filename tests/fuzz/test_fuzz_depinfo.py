"""Fuzz the dep-info parser: any text is read or refused with ValueError (which makes
the call uncacheable), and whatever rustc writes reads back exactly: every source
file once, every env var with its value, nothing invented.

`rustc_writes` below mirrors rustc's `write_out_deps` (rustc_interface/passes.rs):
targets unescaped, each followed by a blank line; sources with spaces escaped as
`\\ `; one empty rule per source; then `# env-dep:NAME[=VALUE]` with `\\`, newline
and carriage return escaped in both name and value (cargo unescapes both).
"""

from __future__ import annotations

import pytest
from fuzz_support import as_read, seed_params
from hypothesis import assume, example, given
from hypothesis import strategies as st

from buildcache.wrapper.depinfo import (
    OUT_DIR_PLACEHOLDER,
    DepInfo,
    localize,
    neutralize,
    parse_dep_info,
)

# Characters that mean something to the format, or to str.splitlines, or to nobody.
TRICKY = " \\:#=\n\r\t\x0b\x0c\x1c\x1e\x85\u2028\u2029$%@\"'*\x00\udcff"
tricky_text = st.text(
    alphabet=st.one_of(st.sampled_from(TRICKY), st.characters(codec="utf-8")), max_size=80
)
any_text = st.one_of(tricky_text, st.binary(max_size=200).map(as_read))


def escape_env(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r")


def rustc_writes(targets: list[str], files: list[str], env: list[tuple[str, str | None]]) -> str:
    escaped = [path.replace(" ", "\\ ") for path in files]
    lines = [f"{target}: {' '.join(escaped)}\n\n" for target in targets]
    lines += [f"{path}:\n" for path in escaped]
    if env:
        lines.append("\n")
        for name, value in env:
            lines.append(f"# env-dep:{escape_env(name)}")
            lines.append("\n" if value is None else f"={escape_env(value)}\n")
    return "".join(lines)


# What rustc can name. Not: a newline (rustc writes it raw: no reader can tell), a
# trailing backslash (`a\ b` is then one name or two), a trailing carriage return
# (a CRLF line end to cargo and to us), an empty name.
paths = tricky_text.filter(
    lambda path: path and "\n" not in path and not path.endswith(("\\", "\r"))
)
# Output paths: rustc does not escape them, so `: ` would end the target early.
targets = paths.filter(lambda path: ": " not in path and not path.endswith(":"))
# Env var names cannot hold `=`; values can hold anything.
env_names = tricky_text.filter(lambda name: name != "" and "=" not in name)
env_entries = st.lists(
    st.tuples(env_names, st.none() | tricky_text), max_size=5, unique_by=lambda entry: entry[0]
)


@given(any_text)
@example("#out/a.d: src/lib.rs\n")
@example("t: a\u2028b: c\n")
@example("# env-dep:A=ends\\\n")
def test_any_text_is_read_or_refused_with_value_error(text: str) -> None:
    try:
        info = parse_dep_info(text)
    except ValueError:
        return
    assert len(set(info.files)) == len(info.files), "each source once"
    assert all(path for path in info.files), "no empty file name"


@given(
    st.lists(targets, min_size=1, max_size=3),
    st.lists(paths, min_size=1, max_size=6, unique=True),
    env_entries,
)
@example(["/t/a.d"], ["src/a\u2028b.rs"], [])  # str.splitlines splits at U+2028
@example(["/t/a.d"], ["src/lib.rs"], [("WEIRD\\NAME", None)])  # rustc escapes names too
@example(["#out/a.d"], ["src/lib.rs"], [])  # a relative out dir starting with '#'
@example(["/t/a.d"], ["src/lib.rs"], [("SEP", "x\x85y: z")])
def test_what_rustc_writes_reads_back_exactly(
    target_paths: list[str], files: list[str], env: list[tuple[str, str | None]]
) -> None:
    info = parse_dep_info(rustc_writes(target_paths, files, env))
    assert info.files == files
    assert info.env == env


@given(st.lists(paths, min_size=1, max_size=6, unique=True), env_entries, paths)
def test_neutralize_then_localize_gives_back_the_text(
    files: list[str], env: list[tuple[str, str | None]], out_dir: str
) -> None:
    text = rustc_writes([f"{out_dir}/a-1.d"], files, env)
    assume(OUT_DIR_PLACEHOLDER not in text)
    assert localize(neutralize(text, out_dir), out_dir) == text


@pytest.mark.parametrize("data", seed_params("depinfo", ".d"))
def test_corpus_seed(data: bytes) -> None:
    """Every seed: refused with ValueError, or read with each source once, and the
    same result on a second read (nothing depends on state)."""
    text = as_read(data)
    try:
        info = parse_dep_info(text)
    except ValueError:
        with pytest.raises(ValueError):
            parse_dep_info(text)
        return
    again: DepInfo = parse_dep_info(text)
    assert (again.files, again.env) == (info.files, info.env)
    assert len(set(info.files)) == len(info.files) and all(info.files)
