"""Fuzz the rustc command-line reader: any arguments are understood or refused with
NotCacheable (run rustc unchanged); a cacheable call keeps its one input, invents no
other, and every argument that can change the output reaches the key, however it is
spelled (`--cfg x`, `--cfg=x`; `-C x`, `-Cx`, `--codegen=x`).

rustc reads an `@file` argument as more arguments wherever it stands, an option's
value included (`--cfg @cfgs`), so any argument starting with `@` must refuse.
"""

from __future__ import annotations

import os

import pytest
from fuzz_support import nul_separated, seed_params
from hypothesis import example, given
from hypothesis import strategies as st

from buildcache.wrapper.rustc_args import NotCacheable, RustcCall, parse_rustc_args

TRICKY = " =@-,:\"'\\\n\t\udcff\u2028"
# What argv can carry: anything but NUL.
arg_text = st.text(
    alphabet=st.one_of(
        st.sampled_from(TRICKY), st.characters(codec="utf-8", exclude_characters="\0")
    ),
    max_size=30,
)
# An option's value as cargo or a user passes it: not an argument file.
values = arg_text.filter(lambda value: not value.startswith("@"))
# A positional argument: the one source file.
inputs = arg_text.filter(lambda arg: arg not in ("", "-") and not arg.startswith(("-", "@")))
crate_names = st.from_regex(r"[a-z_][a-z0-9_]{0,12}", fullmatch=True)
lint_names = st.from_regex(r"[a-z_:]{1,20}", fullmatch=True)
codegen = st.tuples(
    st.sampled_from(["opt-level", "debuginfo", "metadata", "codegen-units", "panic", "strip",
                     "target-cpu", "linker", "link-arg", "link-args", "extra-filename"]),
    values,
).map("=".join)  # fmt: skip

# (spellings of one option, its values, whether its value is in the key verbatim)
# An unkeyed value is a path whose contents are hashed elsewhere, or pure rendering.
OPTIONS: list[tuple[tuple[str, ...], st.SearchStrategy[str], bool]] = [
    (("--cfg",), values, True),
    (("--check-cfg",), values, True),
    (("--edition",), st.sampled_from(["2015", "2018", "2021", "2024"]), True),
    (("--cap-lints",), st.sampled_from(["allow", "warn", "deny", "forbid"]), True),
    (("-C", "--codegen"), codegen, True),
    (("-W", "--warn"), lint_names, True),
    (("-A", "--allow"), lint_names, True),
    (("-D", "--deny"), lint_names, True),
    (("-F", "--forbid"), lint_names, True),
    (("--remap-path-prefix",), values, True),
    (
        ("-l",),
        st.tuples(st.sampled_from(["", "static=", "dylib=", "static:+verbatim="]), crate_names).map(
            "".join
        ),
        True,
    ),  # fmt: skip
    (("--target",), values.filter(lambda value: not value.endswith(".json")), True),
    (("--error-format",), st.sampled_from(["json", "human", "short"]), True),
    (("--crate-attr",), values, True),
    (("-L",), st.builds("dependency={}".format, values), False),
    (("-L",), st.builds("native={}".format, values), False),
    (("--diagnostic-width",), st.integers(0, 500).map(str), False),
    (("-C", "--codegen"), st.builds("incremental={}".format, values), False),
    (("--extern",), st.builds("core_lib={}".format, values.filter(bool)), False),
]
SHORT = ("-C", "-L", "-l", "-W", "-A", "-D", "-F")
# A drawn call: argument groups, its input, (group index, index in OPTIONS) per option.
Drawn = tuple[list[list[str]], str, list[tuple[int, int]]]


@st.composite
def spelled(draw: st.DrawFn, names: tuple[str, ...], value: str) -> list[str]:
    """One way to write `name value`: separate, `--name=value`, or glued `-Cvalue`."""
    name = draw(st.sampled_from(names))
    forms = ["separate"] + (["glued"] if name in SHORT else ["equals"])
    form = draw(st.sampled_from(forms))
    if form == "glued" and value:
        return [name + value]
    if form == "equals":
        return [f"{name}={value}"]
    return [name, value]


@st.composite
def calls(draw: st.DrawFn) -> Drawn:
    """A cacheable call as groups of arguments (an option and its value stay together),
    its input, and (index of the group, index in OPTIONS) for each option group."""
    tagged: list[tuple[list[str], int | None]] = []
    for _ in range(draw(st.integers(0, 8))):
        option = draw(st.integers(0, len(OPTIONS) - 1))
        names, value_strategy, _keyed = OPTIONS[option]
        tagged.append((draw(spelled(names, draw(value_strategy))), option))
    source = draw(inputs)
    fixed = [
        ["--crate-name", draw(crate_names)],
        [source],
        draw(spelled(("--crate-type",), draw(st.sampled_from(["lib", "bin", "rlib,lib"])))),
        ["--emit=dep-info,metadata,link"],
        draw(spelled(("--out-dir",), draw(values.filter(bool)))),
    ]
    # The fixed groups go in at random places among the options.
    for group in fixed:
        tagged.insert(draw(st.integers(0, len(tagged))), (group, None))
    groups = [group for group, _ in tagged]
    options = [(index, option) for index, (_, option) in enumerate(tagged) if option is not None]
    return groups, source, options


def flat(groups: list[list[str]]) -> list[str]:
    return [arg for group in groups for arg in group]


def parse_or_none(args: list[str]) -> RustcCall | None:
    try:
        return parse_rustc_args(args)
    except NotCacheable:
        return None


@given(st.lists(arg_text, max_size=12))
@example(["--crate-name", "a", "a.rs", "--crate-type=lib", "--emit=dep-info,link",
          "--out-dir", "/t", "--cfg", "@cfgs"])  # fmt: skip
def test_any_arguments_parse_or_refuse(args: list[str]) -> None:
    call = parse_or_none(args)
    if any(arg.startswith("@") for arg in args):
        assert call is None, "rustc expands @file arguments, wherever they stand"
    if call is not None:
        assert call.input in args and call.crate_name and call.out_dir


@given(calls())
def test_a_cacheable_call_keeps_its_one_input(drawn: Drawn) -> None:
    groups, source, _ = drawn
    call = parse_rustc_args(flat(groups))
    assert call.input == source
    assert f"input={source}" in call.key_args


@given(calls(), inputs, st.data())
def test_a_second_input_is_never_taken_for_an_option(
    drawn: Drawn, other: str, data: st.DataObject
) -> None:
    groups, _, _ = drawn
    groups.insert(data.draw(st.integers(0, len(groups))), [other])
    with pytest.raises(NotCacheable, match="not exactly one input"):
        parse_rustc_args(flat(groups))


@given(calls(), st.data())
def test_every_output_changing_value_reaches_the_key(drawn: Drawn, data: st.DataObject) -> None:
    groups, _, options = drawn
    if not options:
        return
    index, option = data.draw(st.sampled_from(options))
    names, value_strategy, keyed = OPTIONS[option]
    before = parse_rustc_args(flat(groups)).key_args
    changed = list(groups)
    new_value = data.draw(value_strategy)
    changed[index] = data.draw(spelled(names, new_value))
    after = parse_rustc_args(flat(changed)).key_args
    old_args, new_args = groups[index], changed[index]
    if keyed and _value_of(old_args, names) != _value_of(new_args, names):
        assert after != before, f"{old_args} -> {new_args} left the key unchanged"
    if not keyed:
        assert after == before, f"{old_args} -> {new_args} changed a path-neutral key"


@given(calls(), st.data())
def test_every_spelling_of_an_option_gives_the_same_key(drawn: Drawn, data: st.DataObject) -> None:
    groups, _, options = drawn
    respelled = list(groups)
    for index, option in options:
        names, _, _ = OPTIONS[option]
        short = names[0]  # the same option, spelled again the first way
        respelled[index] = data.draw(spelled((short,), _value_of(groups[index], names)))
    assert parse_rustc_args(flat(respelled)).key_args == parse_rustc_args(flat(groups)).key_args


def _value_of(group: list[str], names: tuple[str, ...]) -> str:
    if len(group) == 2:
        return group[1]
    (arg,) = group
    for name in names:
        if arg.startswith(name + "="):
            return arg[len(name) + 1 :]
        if name in SHORT and arg.startswith(name):
            return arg[len(name) :]
    raise AssertionError(f"{group} is not a spelling of {names}")


@pytest.mark.parametrize("data", seed_params("rustc_args", ".args"))
def test_corpus_seed(data: bytes) -> None:
    args = nul_separated(data)
    call = parse_or_none(args)
    if any(arg.startswith("@") for arg in args):
        assert call is None
    if call is not None:
        assert [arg for arg in args if arg == call.input], "the input is one of the arguments"
        assert call.out_dir == os.path.abspath(call.out_dir)
