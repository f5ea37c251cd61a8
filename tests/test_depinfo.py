from __future__ import annotations

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
