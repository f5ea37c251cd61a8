from __future__ import annotations

import pytest

from buildcache.wrapper.depinfo import localize, neutralize, parse_dep_info

SAMPLE = """\
/ws/target/debug/deps/gen-1.d: crates/gen/src/lib.rs /ws/target/debug/build/gen-2/out/my\\ f.rs

/ws/target/debug/deps/libgen-1.rlib: crates/gen/src/lib.rs \
 /ws/target/debug/build/gen-2/out/my\\ f.rs

crates/gen/src/lib.rs:
/ws/target/debug/build/gen-2/out/my\\ f.rs:

# env-dep:GEN_FLAVOUR=line1\\nline2
# env-dep:OUT_DIR=/ws/target/debug/build/gen-2/out
# env-dep:MAYBE_SET
"""


def test_parse_lists_each_source_once_and_unescapes_spaces() -> None:
    info = parse_dep_info(SAMPLE)
    assert info.files == ["crates/gen/src/lib.rs", "/ws/target/debug/build/gen-2/out/my f.rs"]


def test_parse_reads_env_deps_with_escapes_and_unset_variables() -> None:
    info = parse_dep_info(SAMPLE)
    assert info.env == [
        ("GEN_FLAVOUR", "line1\nline2"),
        ("OUT_DIR", "/ws/target/debug/build/gen-2/out"),
        ("MAYBE_SET", None),
    ]


def test_neutralize_then_localize_moves_outputs_to_another_out_dir() -> None:
    stored = neutralize(SAMPLE, "/ws/target/debug/deps")
    assert "/ws/target/debug/deps" not in stored
    moved = localize(stored, "/other/target/debug/deps")
    assert moved.startswith("/other/target/debug/deps/gen-1.d: crates/gen/src/lib.rs")
    assert "/ws/target/debug/build/gen-2/out" in moved  # only the out dir is rewritten


# Found by tests/fuzz/test_fuzz_depinfo.py; each failed before its fix.


def test_env_var_names_are_unescaped_like_their_values() -> None:
    """rustc escapes names too: reading `A\\\\B` literally looked up a variable that does
    not exist, so `option_env!("A\\\\B")` stayed "unset" in the key whatever its value."""
    info = parse_dep_info("/t/a.d: a.rs\n\n# env-dep:A\\\\B\n# env-dep:C\\nD=x\\\\y\n")
    assert info.env == [("A\\B", None), ("C\nD", "x\\y")]


def test_lines_end_only_at_newlines() -> None:
    """rustc writes paths and values raw; str.splitlines also split at U+2028, U+0085,
    form feeds and more, which mangled such names or invented files."""
    text = "/t/a.d: src/a\u2028b.rs src/c\x85d.rs src/e\x0cf.rs\n\n# env-dep:V=x\u2029y: z\n"
    info = parse_dep_info(text)
    assert info.files == ["src/a\u2028b.rs", "src/c\x85d.rs", "src/e\x0cf.rs"]
    assert info.env == [("V", "x\u2029y: z")]


def test_crlf_line_ends_are_still_read() -> None:
    info = parse_dep_info("/t/a.d: a.rs b.rs\r\n\r\na.rs:\r\n# env-dep:X=1\r\n")
    assert info.files == ["a.rs", "b.rs"] and info.env == [("X", "1")]


def test_a_target_starting_with_a_hash_is_a_rule_not_a_comment() -> None:
    """A relative --out-dir named `#out`: skipping its lines as comments dropped every
    source, and an entry keyed on no source at all hits after any edit."""
    info = parse_dep_info("#out/a.d: src/lib.rs src/b.rs\n\nsrc/lib.rs:\n")
    assert info.files == ["src/lib.rs", "src/b.rs"]


@pytest.mark.parametrize(
    "text",
    [
        "# env-dep:ONLY=1\n",  # no rule: names no source
        "",
        "/t/a.d: a.rs\n# env-dep:TAB=a\\tb\n",  # not an escape rustc writes
        "/t/a.d: a.rs\n# env-dep:END=a\\\n",
    ],
)
def test_what_rustc_never_writes_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_dep_info(text)


def test_checksum_comments_are_ignored() -> None:
    text = "/t/a.d: a.rs\n\na.rs:\n\n# checksum:sha256=00ff file_len:12 a.rs\n"
    assert parse_dep_info(text).files == ["a.rs"]


def test_the_wrapper_reads_dep_info_as_rustc_wrote_it(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Not with universal newlines: a '\\r' inside a source's name stayed a line end (the
    compile could not be stored), and a CRLF file was stored with its line ends changed."""
    import time

    from buildcache.wrapper.miss import describe_compile
    from buildcache.wrapper.rustc_args import parse_rustc_args

    (tmp_path / "odd\rname.rs").write_text("// a source\n")
    (tmp_path / "lib.rs").write_text("// the crate root\n")
    out = tmp_path / "out"
    out.mkdir()
    text = f"{out}/a.d: lib.rs odd\rname.rs\r\n\r\nlib.rs:\r\n"
    (out / "a.d").write_bytes(text.encode())
    call = parse_rustc_args(["--crate-name", "a", "lib.rs", "--crate-type", "lib",
                             "--emit=dep-info,link", "--out-dir", str(out)])  # fmt: skip

    monkeypatch.chdir(tmp_path)  # the wrapper runs in rustc's working directory
    described = describe_compile(call, str(tmp_path), time.time_ns() + 10**9, {})

    from buildcache.wrapper.hit import ABSENT

    # (odd\rname/mod.rs is recorded too, as a file that must stay absent: module ambiguity)
    assert [path for path, digest in described.files if digest != ABSENT] == [
        "lib.rs",
        "odd\rname.rs",
    ]
    assert described.dep_text == text
